package store

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/holdfast/holdfast/shared/ledger"
)

const (
	maxBodyChars  = ledger.MaxRejectedBodyUnits
	maxBodyBytes  = ledger.MaxRejectedBodyBytes // base64: 26,668 chars
	maxFieldChars = ledger.MaxRejectedFieldUnits
	// Ticks (100 ns since 0001-01-01) of 9999-12-31T23:59:59.9999999, .NET's
	// DateTime.MaxValue: inverted ticks sort newest first.
	maxTicks   = 3155378975999999999
	unixTicks  = 621355968000000000
	maxDayNum  = 99999999
	encUTF8    = "utf-8"
	encBase64  = "base64"
	bodyProp   = "Body"
	rejectedOp = "Reject"
)

func rejectedKeys(r ledger.RejectedEvent) (pk, rk string) {
	at := r.ReceivedAt.UTC()
	day, _ := strconv.Atoi(at.Format(dayFmt))
	pk = fmt.Sprintf("%08d_%s", maxDayNum-day, at.Format(dayFmt))

	ticks := unixTicks + at.Unix()*10_000_000 + int64(at.Nanosecond()/100)
	fp := r.Fingerprint()
	rk = fmt.Sprintf("%019d_%s", maxTicks-ticks, hex.EncodeToString(fp[:]))
	return pk, rk
}

// Reject keeps a rejected event. Long fields are truncated rather than
// refused: a rejected event must never be lost for being too big.
func (s *Store) Reject(ctx context.Context, r ledger.RejectedEvent) error {
	if r.ReceivedAt.IsZero() {
		return errors.New("store: rejected event without ReceivedAt")
	}
	pk, rk := rejectedKeys(r)
	e := &entity{pk: pk, rk: rk}
	e.str("Queue", truncateUnits(r.Queue, maxFieldChars))
	e.str("Code", truncateUnits(r.Code, maxFieldChars))
	e.str("Reason", truncateUnits(r.Reason, maxFieldChars))
	e.str("Field", truncateUnits(r.Field, maxFieldChars))
	e.str("MessageID", truncateUnits(r.MessageID, maxFieldChars))
	e.time("ReceivedAt", r.ReceivedAt)
	if utf8.Valid(r.Body) {
		e.str(bodyProp, truncateUnits(string(r.Body), maxBodyChars))
		e.str("BodyEncoding", encUTF8)
	} else {
		e.str(bodyProp, base64.StdEncoding.EncodeToString(r.Body[:min(len(r.Body), maxBodyBytes)]))
		e.str("BodyEncoding", encBase64)
	}
	e.i32("BodyBytes", int32(min(len(r.Body), 1<<31-1)))
	if err := e.validate(); err != nil {
		return err
	}
	b, err := e.marshal()
	if err != nil {
		return fmt.Errorf("store: encode rejected event: %w", err)
	}
	// Upsert: the same rejection written twice (a redelivery) is one row.
	err = s.withTable(ctx, s.rejected, func() error {
		_, err := s.rejected.UpsertEntity(withOp(ctx, rejectedOp), b, &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace})
		return err
	})
	if err != nil {
		return fmt.Errorf("store: keep rejected event %s: %w", r.MessageID, err)
	}
	return nil
}

// ListRejected calls fn for up to max rejected events (max ≤ 0: all),
// newest first. Bodies come back as stored: truncated if they were long.
func (s *Store) ListRejected(ctx context.Context, max int, fn func(ledger.RejectedEvent) error) error {
	// A scan in key order is newest first (both keys are inverted).
	return s.query(withOp(ctx, "ListRejected"), s.rejected, "", max, func(r row) error {
		ev := ledger.RejectedEvent{
			Queue: r.str("Queue"), Code: r.str("Code"), Reason: r.str("Reason"),
			Field: r.str("Field"), MessageID: r.str("MessageID"),
		}
		var err error
		if ev.ReceivedAt, err = r.time("ReceivedAt"); err != nil {
			return err
		}
		if r.str("BodyEncoding") == encBase64 {
			if ev.Body, err = base64.StdEncoding.DecodeString(r.str(bodyProp)); err != nil {
				return fmt.Errorf("store: rejected body: %w", err)
			}
		} else {
			ev.Body = []byte(r.str(bodyProp))
		}
		return fn(ev)
	}, nil)
}

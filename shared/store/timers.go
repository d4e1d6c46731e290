package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/holdfast/holdfast/shared/ledger"
)

const dayFmt = "20060102"

// timerKeys returns the timer's PartitionKey (due day) and RowKey (due
// time, case key, kind).
func timerKeys(t ledger.Timer) (pk, rk string, err error) {
	if err := validKey("case key", t.CaseKey); err != nil {
		return "", "", err
	}
	if err := validKey("timer kind", t.Kind); err != nil {
		return "", "", err
	}
	due := t.DueAt.UTC()
	if t.DueAt.IsZero() || due.Year() < 1601 || due.Year() > 9999 {
		return "", "", fmt.Errorf("timer %s/%s: due time %v out of range: %w", t.CaseKey, t.Kind, t.DueAt, ledger.ErrInvalidKey)
	}
	pk = due.Format(dayFmt)
	rk = due.Format(keyTimeFmt) + "_" + t.CaseKey + "_" + t.Kind
	if err := validKey("timer RowKey", rk); err != nil {
		return "", "", err
	}
	return pk, rk, nil
}

// PutTimer writes the timer; writing the same timer again changes nothing.
func (s *Store) PutTimer(ctx context.Context, t ledger.Timer) error {
	pk, rk, err := timerKeys(t)
	if err != nil {
		return err
	}
	e := &entity{pk: pk, rk: rk}
	e.str("CaseKey", t.CaseKey)
	e.str("Kind", t.Kind)
	e.time("DueAt", t.DueAt)
	if err := e.validate(); err != nil {
		return err
	}
	b, err := e.marshal()
	if err != nil {
		return fmt.Errorf("store: encode timer: %w", err)
	}
	err = s.withTable(ctx, s.timers, func() error {
		_, err := s.timers.UpsertEntity(withOp(ctx, "PutTimer"), b, &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace})
		return err
	})
	if err != nil {
		return fmt.Errorf("store: put timer %s/%s: %w", t.CaseKey, t.Kind, err)
	}
	return nil
}

// DueTimers calls fn for up to max timers due at or before now (max ≤ 0:
// all), earliest day first. It is an exact key-range read: the service
// returns only due timers, so its cost is the number of due timers.
func (s *Store) DueTimers(ctx context.Context, now time.Time, max int, fn func(ledger.Timer) error) error {
	now = now.UTC()
	today := now.Format(dayFmt)
	// '~' sorts after the '_' that ends every fixed-width due time.
	filter := fmt.Sprintf("(PartitionKey lt '%s') or (PartitionKey eq '%s' and RowKey le '%s~')", today, today, now.Format(keyTimeFmt))
	s.dueQueries.Add(1)
	return s.query(withOp(ctx, "DueTimers"), s.timers, filter, max, func(r row) error {
		rk := r.str("RowKey")
		t := ledger.Timer{CaseKey: r.str("CaseKey"), Kind: r.str("Kind"), ETag: r.etag()}
		// The row key keeps the due time to the nanosecond.
		due, err := time.Parse(keyTimeFmt, rk[:min(len(rk), keyTimeWidth)])
		if err != nil {
			if due, err = r.time("DueAt"); err != nil {
				return err
			}
		}
		t.DueAt = due
		if t.CaseKey == "" || t.Kind == "" {
			// Written by something else: recover the keys from the RowKey.
			rest := strings.TrimPrefix(rk[min(len(rk), keyTimeWidth):], "_")
			if i := strings.LastIndexByte(rest, '_'); i > 0 {
				t.CaseKey, t.Kind = rest[:i], rest[i+1:]
			}
		}
		return fn(t)
	}, func(n int) {
		s.duePages.Add(1)
		s.dueEntities.Add(int64(n))
	})
}

// DeleteTimer deletes the timer if it is still the version read (its ETag;
// "" deletes any version). Already gone: nil. Changed meanwhile: ledger.ErrConflict.
func (s *Store) DeleteTimer(ctx context.Context, t ledger.Timer) error {
	pk, rk, err := timerKeys(t)
	if err != nil {
		return err
	}
	etag := azcore.ETagAny
	if t.ETag != "" {
		etag = azcore.ETag(t.ETag)
	}
	err = s.withTable(ctx, s.timers, func() error {
		_, err := s.timers.DeleteEntity(withOp(ctx, "DeleteTimer"), pk, rk, &aztables.DeleteEntityOptions{IfMatch: &etag})
		return err
	})
	switch {
	case err == nil, isCode(err, aztables.ResourceNotFound):
		return nil
	case statusOf(err) == 412:
		return fmt.Errorf("timer %s/%s: %w", t.CaseKey, t.Kind, ledger.ErrConflict)
	}
	return fmt.Errorf("store: delete timer %s/%s: %w", t.CaseKey, t.Kind, err)
}

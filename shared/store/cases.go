package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/holdfast/holdfast/shared/ledger"
)

const (
	caseRowKey   = "case"
	auditPrefix  = "audit_"
	eventPrefix  = "evt_"
	keyTimeFmt   = "2006-01-02T15:04:05.000000000Z" // fixed width: sorts like time
	keyTimeWidth = len(keyTimeFmt)
)

// PutAlias makes alias, a case key no case uses, lead to the case caseKey:
// LoadCase(alias) reads that case, and a Commit that inserts a case under
// alias fails with ledger.ErrConflict. holdfast gives the account a recovery
// creates an alias to the case of the mailbox it received, so an event
// about the new account finds the case with the read it makes anyway.
// Writing the same alias again is harmless; ledger.ErrConflict if alias is a case
// or leads elsewhere.
func (s *Store) PutAlias(ctx context.Context, alias, caseKey string) error {
	if err := validKey("case key", caseKey); err != nil {
		return err
	}
	e := &entity{pk: alias, rk: caseRowKey}
	e.str("AliasOf", caseKey)
	if err := e.validate(); err != nil {
		return err
	}
	b, err := e.marshal()
	if err != nil {
		return fmt.Errorf("store: encode alias: %w", err)
	}
	err = s.withTable(ctx, s.cases, func() error {
		_, err := s.cases.AddEntity(withOp(ctx, "PutAlias"), b, nil)
		return err
	})
	if isCode(err, aztables.EntityAlreadyExists) {
		_, to, lerr := s.loadCase(ctx, alias)
		if lerr == nil && to == caseKey {
			return nil
		}
		return fmt.Errorf("alias %s for case %s: the key is taken: %w", alias, caseKey, ledger.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: put alias: %w", err)
	}
	return nil
}

// LoadCase reads a case; ledger.ErrNotFound if there is none. A key that is an
// alias (PutAlias) reads the case it names, whose Key is then that case's.
func (s *Store) LoadCase(ctx context.Context, key string) (ledger.CaseRecord, error) {
	rec, to, err := s.loadCase(ctx, key)
	if err == nil && to != "" {
		if rec, to, err = s.loadCase(ctx, to); err == nil && to != "" {
			return ledger.CaseRecord{}, fmt.Errorf("case %s: alias of an alias: %w", key, ledger.ErrNotFound)
		}
	}
	return rec, err
}

// loadCase reads the case row under key: a case, or an alias (to names
// the case it leads to).
func (s *Store) loadCase(ctx context.Context, key string) (rec ledger.CaseRecord, to string, err error) {
	if err := validKey("case key", key); err != nil {
		return ledger.CaseRecord{}, "", err
	}
	var resp aztables.GetEntityResponse
	err = s.withTable(ctx, s.cases, func() (err error) {
		resp, err = s.cases.GetEntity(withOp(ctx, "LoadCase"), key, caseRowKey, nil)
		return err
	})
	if isCode(err, aztables.ResourceNotFound) {
		return ledger.CaseRecord{}, "", fmt.Errorf("case %s: %w", key, ledger.ErrNotFound)
	}
	if err != nil {
		return ledger.CaseRecord{}, "", fmt.Errorf("store: load case %s: %w", key, err)
	}
	r, err := parseRow(resp.Value)
	if err != nil {
		return ledger.CaseRecord{}, "", err
	}
	if to = r.str("AliasOf"); to != "" {
		return ledger.CaseRecord{}, to, nil
	}
	rec, err = caseFromRow(r)
	rec.ETag = string(resp.ETag)
	return rec, "", err
}

func caseFromRow(r row) (ledger.CaseRecord, error) {
	rec := ledger.CaseRecord{Key: r.str("PartitionKey"), State: r.str("State"), UPN: r.str("UPN"), ETag: r.etag(), AuditHead: r.str("AuditHead")}
	var err error
	if rec.Data, err = r.bin("Data"); err != nil {
		return rec, err
	}
	rec.Deadline, err = r.time("Deadline")
	return rec, err
}

// HasEvent reports whether the event's dedupe marker exists in the case.
func (s *Store) HasEvent(ctx context.Context, key, eventID string) (bool, error) {
	if err := validKey("case key", key); err != nil {
		return false, err
	}
	err := s.withTable(ctx, s.cases, func() error {
		_, err := s.cases.GetEntity(withOp(ctx, "HasEvent"), key, eventRowKey(eventID), nil)
		return err
	})
	switch {
	case err == nil:
		return true, nil
	case isCode(err, aztables.ResourceNotFound):
		return false, nil
	}
	return false, fmt.Errorf("store: read event marker: %w", err)
}

func eventRowKey(eventID string) string {
	h := sha256.Sum256([]byte(eventID))
	return eventPrefix + hex.EncodeToString(h[:20])
}

// commitTag names a commit by the ETag it replaces: at most one commit can
// succeed per ETag, so audit row keys of different commits differ even when
// At and Seq are equal.
func commitTag(prevETag string) string {
	if prevETag == "" {
		prevETag = "new"
	}
	h := sha256.Sum256([]byte(prevETag))
	return hex.EncodeToString(h[:4])
}

func auditRowKey(a ledger.AuditRecord, tag string) string {
	return fmt.Sprintf("%s%s_%04d_%s", auditPrefix, a.At.UTC().Format(keyTimeFmt), a.Seq, tag)
}

// Commit writes the case, its audit rows and the dedupe marker in one
// entity-group transaction: one round trip, all or nothing. It returns the
// case's new ETag, read from the transaction's response.
func (s *Store) Commit(ctx context.Context, c ledger.Commit) (string, error) {
	key := c.Case.Key
	if err := validKey("case key", key); err != nil {
		return "", err
	}
	if len(c.Case.Data) > ledger.MaxCaseData {
		return "", fmt.Errorf("case %s data is %d bytes, limit %d: %w", key, len(c.Case.Data), ledger.MaxCaseData, ledger.ErrLimit)
	}

	var ents []*entity
	var acts []aztables.TransactionAction
	add := func(e *entity, t aztables.TransactionType, ifMatch string) int {
		a := aztables.TransactionAction{ActionType: t}
		if ifMatch != "" {
			a.IfMatch = (*azcore.ETag)(&ifMatch)
		}
		ents, acts = append(ents, e), append(acts, a)
		return len(acts) - 1
	}

	// The marker goes first: services report the first failing operation,
	// and a duplicate event matters more than a stale ETag.
	markerAt := -1
	if c.EventID != "" {
		m := &entity{pk: key, rk: eventRowKey(c.EventID)}
		m.str("EventID", truncateUnits(c.EventID, 1024))
		markerAt = add(m, aztables.TransactionTypeAdd, "")
	}

	// Chain the new rows from the head the replaced case row carries: the
	// ETag compare-and-swap makes the head current, so two commits cannot
	// both extend it. A new case starts a new chain.
	prev := c.Case.AuditHead
	if c.Case.ETag == "" {
		prev = ""
	}
	for i := range c.Audit {
		if c.Audit[i].CaseKey == "" {
			c.Audit[i].CaseKey = key
		}
	}
	head := prev
	for i := range c.Audit {
		r := c.Audit[i].Row()
		r.Prev = head
		head = r.ComputeHash()
		c.Audit[i].Prev, c.Audit[i].Hash = r.Prev, head
	}

	ce := &entity{pk: key, rk: caseRowKey}
	if len(c.Case.Data) > 0 {
		ce.bin("Data", c.Case.Data)
	}
	ce.str("State", c.Case.State)
	ce.str("UPN", c.Case.UPN)
	if !c.Case.Deadline.IsZero() {
		ce.time("Deadline", c.Case.Deadline)
	}
	if head != "" {
		ce.str("AuditHead", head)
	}
	var caseAt int
	if c.Case.ETag == "" {
		caseAt = add(ce, aztables.TransactionTypeAdd, "")
	} else {
		caseAt = add(ce, aztables.TransactionTypeUpdateReplace, c.Case.ETag)
	}

	tag := commitTag(c.Case.ETag)
	seen := map[string]bool{}
	for _, a := range c.Audit {
		if a.CaseKey != "" && a.CaseKey != key {
			return "", fmt.Errorf("audit row for case %q in a commit of case %q: one partition per transaction: %w", a.CaseKey, key, ledger.ErrLimit)
		}
		if a.Seq < 0 || a.Seq > 9999 {
			return "", fmt.Errorf("audit seq %d outside 0–9999: %w", a.Seq, ledger.ErrInvalidKey)
		}
		e := &entity{pk: key, rk: auditRowKey(a, tag)}
		if seen[e.rk] {
			return "", fmt.Errorf("two audit rows with At %s and Seq %d: %w", a.At, a.Seq, ledger.ErrInvalidKey)
		}
		seen[e.rk] = true
		e.time("At", a.At)
		e.i32("Seq", int32(a.Seq))
		e.str("Actor", a.Actor)
		e.str("Action", a.Action)
		e.str("Detail", a.Detail)
		e.str("EventID", a.EventID)
		e.str("Result", a.Result)
		e.str("Prev", a.Prev)
		e.str("Hash", a.Hash)
		add(e, aztables.TransactionTypeAdd, "")
	}
	if err := s.fillTransaction(ents, acts); err != nil {
		return "", fmt.Errorf("case %s: %w", key, err)
	}

	var raw *http.Response
	err := s.withTable(ctx, s.cases, func() error {
		_, err := s.cases.SubmitTransaction(policy.WithCaptureResponse(withOp(ctx, "Commit"), &raw), acts, nil)
		return err
	})
	if err != nil {
		return "", s.commitError(ctx, c, err, markerAt, caseAt)
	}
	if raw != nil {
		if body, perr := runtime.Payload(raw); perr == nil {
			if inner, perr := parseBatchResponse(body); perr == nil && caseAt < len(inner) && inner[caseAt].etag != "" {
				return inner[caseAt].etag, nil
			}
		}
	}
	// The response did not carry the ETag (not seen with Azure or Azurite):
	// one extra read keeps the caller's next compare-and-swap possible.
	resp, err := s.cases.GetEntity(withOp(ctx, "CommitReread"), key, caseRowKey, nil)
	if err != nil {
		return "", fmt.Errorf("store: committed case %s but could not read its ETag: %w", key, err)
	}
	return string(resp.ETag), nil
}

// fillTransaction validates every entity and the transaction against
// Azure's limits and marshals the entities into acts.
func (s *Store) fillTransaction(ents []*entity, acts []aztables.TransactionAction) error {
	if len(acts) > maxTxOps {
		return fmt.Errorf("transaction has %d operations, Azure allows %d: %w", len(acts), maxTxOps, ledger.ErrLimit)
	}
	total := 0
	for i, e := range ents {
		if e.pk != ents[0].pk {
			return fmt.Errorf("transaction spans partitions %q and %q: %w", ents[0].pk, e.pk, ledger.ErrLimit)
		}
		if err := e.validate(); err != nil {
			return err
		}
		b, err := e.marshal()
		if err != nil {
			return fmt.Errorf("store: encode entity: %w", err)
		}
		acts[i].Entity = b
		// Keys may appear percent-encoded (×3) in the request line.
		total += len(b) + txOpOverhead + 3*(len(e.pk)+len(e.rk))
	}
	if total > maxTxBodyBytes {
		return fmt.Errorf("transaction body ≈ %d bytes, Azure allows %d: %w", total, maxTxBodyBytes, ledger.ErrLimit)
	}
	return nil
}

// commitError maps a failed transaction to the store's errors. aztables
// reports a failed changeset as a ResponseError with status 202 and an
// empty ErrorCode; the real status, code and failing operation's index are
// only in the multipart body.
func (s *Store) commitError(ctx context.Context, c ledger.Commit, err error, markerAt, caseAt int) error {
	key := c.Case.Key
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return fmt.Errorf("store: commit case %s: %w", key, err)
	}
	status, code, index := re.StatusCode, re.ErrorCode, -1
	if re.RawResponse != nil {
		if body, perr := runtime.Payload(re.RawResponse); perr == nil {
			if inner, perr := parseBatchResponse(body); perr == nil {
				for _, r := range inner {
					if r.status >= 400 {
						status, code, index = r.status, r.code, r.index
						break
					}
				}
			}
		}
	}
	detail := fmt.Sprintf("HTTP %d %s, operation %d", status, code, index)
	switch {
	case index == markerAt && markerAt >= 0 && status == 409:
		return fmt.Errorf("case %s event %q: %w", key, c.EventID, ledger.ErrDuplicateEvent)
	case index == caseAt && (status == 409 || status == 412 || status == 404):
		// 404: replace with IfMatch of a case deleted meanwhile.
		return fmt.Errorf("case %s (%s): %w", key, detail, ledger.ErrConflict)
	case index < 0 && status == 412:
		return fmt.Errorf("case %s (%s): %w", key, detail, ledger.ErrConflict)
	case index < 0 && status == 409:
		// The service did not say which insert failed: ask.
		if markerAt >= 0 {
			if dup, herr := s.HasEvent(ctx, key, c.EventID); herr == nil && dup {
				return fmt.Errorf("case %s event %q: %w", key, c.EventID, ledger.ErrDuplicateEvent)
			}
		}
		return fmt.Errorf("case %s (%s): %w", key, detail, ledger.ErrConflict)
	case status == 413 || code == "EntityTooLarge" || code == "RequestBodyTooLarge" || code == "PropertyValueTooLarge" || code == "TooManyProperties":
		return fmt.Errorf("case %s (%s): %w", key, detail, ledger.ErrLimit)
	}
	return fmt.Errorf("store: commit case %s (%s): %w", key, detail, err)
}

// ListCases calls fn for every case. It scans the cases table (a filter on
// RowKey alone cannot use the partition index), so it is for admin views,
// not hot paths.
func (s *Store) ListCases(ctx context.Context, fn func(ledger.CaseRecord) error) error {
	return s.query(withOp(ctx, "ListCases"), s.cases, "RowKey eq '"+caseRowKey+"'", 0, func(r row) error {
		if r.str("AliasOf") != "" {
			return nil // another key of a case listed under its own
		}
		rec, err := caseFromRow(r)
		if err != nil {
			return err
		}
		return fn(rec)
	}, nil)
}

// ListAudit calls fn for the case's audit rows, oldest first.
func (s *Store) ListAudit(ctx context.Context, key string, fn func(ledger.AuditRecord) error) error {
	if err := validKey("case key", key); err != nil {
		return err
	}
	// '`' is the character after '_': the range is every "audit_…" key.
	filter := "PartitionKey eq " + odataString(key) + " and RowKey ge '" + auditPrefix + "' and RowKey lt 'audit`'"
	return s.query(withOp(ctx, "ListAudit"), s.cases, filter, 0, func(r row) error {
		a := ledger.AuditRecord{
			CaseKey: r.str("PartitionKey"), Seq: int(r.int("Seq")),
			Actor: r.str("Actor"), Action: r.str("Action"), Detail: r.str("Detail"),
			EventID: r.str("EventID"), Result: r.str("Result"), Prev: r.str("Prev"), Hash: r.str("Hash"),
		}
		// The row key keeps nanoseconds; the At property only 100 ns ticks.
		rk := r.str("RowKey")
		t, err := time.Parse(keyTimeFmt, rk[len(auditPrefix):min(len(rk), len(auditPrefix)+keyTimeWidth)])
		if err != nil {
			if t, err = r.time("At"); err != nil {
				return err
			}
		}
		a.At = t
		return fn(a)
	}, nil)
}

// odataString quotes s as an OData string literal. Only validated keys are
// passed here, never free text.
func odataString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// query pages through a filter, calling fn per entity; max > 0 stops after
// max entities and makes it the page size; filter "" reads everything. page, if set, sees each page.
func (s *Store) query(ctx context.Context, c table, filter string, max int, fn func(row) error, page func(n int)) error {
	opts := &aztables.ListEntitiesOptions{}
	if filter != "" {
		opts.Filter = &filter
	}
	if max > 0 {
		top := int32(min(max, 1000))
		opts.Top = &top
	}
	pager := c.NewListEntitiesPager(opts)
	seen, healed := 0, false
	for pager.More() {
		resp, err := pager.NextPage(ctx)
		if err != nil && seen == 0 && !healed && s.heal(ctx, c, err) {
			// The table was gone (and is empty now): start over once.
			healed = true
			pager = c.NewListEntitiesPager(opts)
			continue
		}
		if err != nil {
			return fmt.Errorf("store: query: %w", err)
		}
		if page != nil {
			page(len(resp.Entities))
		}
		for _, b := range resp.Entities {
			r, err := parseRow(b)
			if err != nil {
				return err
			}
			if err := fn(r); err != nil {
				return err
			}
			if seen++; max > 0 && seen >= max {
				return nil
			}
		}
	}
	return nil
}

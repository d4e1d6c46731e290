// Package memledger is an in-memory ledger.Store with the semantics of the
// Table Storage one (package store): ETag compare-and-swap, all-or-nothing
// commits held to Azure's transaction limits, key rules, the precision and
// truncation of stored values, key-range reads of due timers, and a round
// trip counted in the ledger.Counter for every request the Table Storage
// store would send. It passes the same conformance suite (ledgertest), so
// engine tests can run on it instead of Azurite.
//
// Records are copied in and out: a caller never shares memory with the
// store. Callbacks of the List and Due methods run without the store's
// lock held, on a snapshot taken page by page as the service would serve
// it, so they may call the store again.
package memledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/holdfast/holdfast/shared/ledger"
)

// pageSize is the most entities the Table service returns per query page.
const pageSize = 1000

// Options configure New.
type Options struct {
	// Counter, if set, counts the round trips the Table Storage store
	// would make, by operation.
	Counter *ledger.Counter
	// Fault, if set, is asked before every request (after it is counted,
	// as a failed request still costs a round trip): a non-nil error fails
	// the call with it and changes nothing. Tests use it for storage
	// outages and transient errors without a real service.
	Fault func(ctx context.Context, op string) error
}

// Store is the in-memory ledger. The zero value is not usable; call New.
type Store struct {
	counter *ledger.Counter
	fault   func(ctx context.Context, op string) error

	mu       sync.Mutex
	version  uint64 // ETag source
	cases    map[string]*partition
	timers   map[string]timerRow // by row key: due time, case key, kind
	rejected map[rejectedKey]ledger.RejectedEvent
	index    map[string]string // "kind\x00value" -> case key
	aliases  map[string]string // alias key -> case key (PutAlias)
	once     map[string]bool
	state    map[string]ledger.StateRecord
	runs     map[string]ledger.Run
}

var _ ledger.Store = (*Store)(nil)

// New returns an empty store.
func New(opts Options) *Store {
	return &Store{
		counter:  opts.Counter,
		fault:    opts.Fault,
		cases:    map[string]*partition{},
		timers:   map[string]timerRow{},
		rejected: map[rejectedKey]ledger.RejectedEvent{},
		index:    map[string]string{},
		aliases:  map[string]string{},
		once:     map[string]bool{},
		state:    map[string]ledger.StateRecord{},
		runs:     map[string]ledger.Run{},
	}
}

// partition is one case's rows: the case, its audit rows by row key and
// its event markers.
type partition struct {
	rec     ledger.CaseRecord // ETag set: the row exists
	audit   map[string]ledger.AuditRecord
	markers map[string]bool
}

type timerRow struct {
	t    ledger.Timer
	etag string
}

type rejectedKey struct {
	ticks int64
	fp    string
}

// trip counts one request of op, after the checks the Table Storage store
// makes before sending anything.
func (s *Store) trip(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	s.counter.Add(op)
	if s.fault != nil {
		if err := s.fault(ctx, op); err != nil {
			return fmt.Errorf("store: %s: %w", op, err)
		}
	}
	return nil
}

// etag returns a fresh version; the caller holds mu.
func (s *Store) etag() string {
	s.version++
	return `W/"mem'` + strconv.FormatUint(s.version, 10) + `'"`
}

func cloneBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

// stored is t as a DateTime property comes back: UTC, 100 ns ticks.
func stored(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(ledger.Precision)
}

func dateTimeInRange(what string, t time.Time) error {
	if y := t.UTC().Year(); y < 1601 || y > 9999 {
		return fmt.Errorf("property %s: %s outside Azure's DateTime range: %w", what, t, ledger.ErrLimit)
	}
	return nil
}

func stringFits(name, v string) error {
	if n := ledger.UTF16Units(v); n > ledger.MaxStringUnits {
		return fmt.Errorf("property %s is %d UTF-16 units, Azure allows %d: %w", name, n, ledger.MaxStringUnits, ledger.ErrLimit)
	}
	return nil
}

// keyTimeFmt is the fixed-width time in audit and timer row keys: it sorts
// like time and keeps nanoseconds.
const keyTimeFmt = "2006-01-02T15:04:05.000000000Z"

// LoadCase implements ledger.Store.
func (s *Store) LoadCase(ctx context.Context, key string) (ledger.CaseRecord, error) {
	if err := ledger.ValidKey("case key", key); err != nil {
		return ledger.CaseRecord{}, err
	}
	if err := s.trip(ctx, "LoadCase"); err != nil {
		return ledger.CaseRecord{}, err
	}
	s.mu.Lock()
	to, alias := s.aliases[key]
	s.mu.Unlock()
	if alias {
		// The alias row is read first, then the case it names: two reads,
		// as on Table Storage.
		if err := s.trip(ctx, "LoadCase"); err != nil {
			return ledger.CaseRecord{}, err
		}
		key = to
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.cases[key]
	if p == nil || p.rec.ETag == "" {
		return ledger.CaseRecord{}, fmt.Errorf("case %s: %w", key, ledger.ErrNotFound)
	}
	return copyCase(p.rec), nil
}

// PutAlias implements ledger.Store.
func (s *Store) PutAlias(ctx context.Context, alias, caseKey string) error {
	if err := ledger.ValidKey("case key", caseKey); err != nil {
		return err
	}
	if err := ledger.ValidKey("alias", alias); err != nil {
		return err
	}
	if err := s.trip(ctx, "PutAlias"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if to, ok := s.aliases[alias]; ok {
		if to == caseKey {
			return nil
		}
		return fmt.Errorf("alias %s for case %s: the key is taken: %w", alias, caseKey, ledger.ErrConflict)
	}
	if p := s.cases[alias]; p != nil && p.rec.ETag != "" {
		return fmt.Errorf("alias %s for case %s: the key is taken: %w", alias, caseKey, ledger.ErrConflict)
	}
	s.aliases[alias] = caseKey
	return nil
}

func copyCase(r ledger.CaseRecord) ledger.CaseRecord {
	r.Data = cloneBytes(r.Data)
	return r
}

// commitTag names a commit by the ETag it replaces, as the Table Storage
// store does, so audit rows with equal At and Seq order the same way.
func commitTag(prevETag string) string {
	if prevETag == "" {
		prevETag = "new"
	}
	h := sha256.Sum256([]byte(prevETag))
	return hex.EncodeToString(h[:4])
}

func eventKey(eventID string) string {
	h := sha256.Sum256([]byte(eventID))
	return hex.EncodeToString(h[:20])
}

// Commit implements ledger.Store: checks in the order the Table Storage
// store makes them, then one all-or-nothing write.
func (s *Store) Commit(ctx context.Context, c ledger.Commit) (string, error) {
	key := c.Case.Key
	if err := ledger.ValidKey("case key", key); err != nil {
		return "", err
	}
	if len(c.Case.Data) > ledger.MaxCaseData {
		return "", fmt.Errorf("case %s data is %d bytes, limit %d: %w", key, len(c.Case.Data), ledger.MaxCaseData, ledger.ErrLimit)
	}
	// The chain is filled in the caller's slice before anything is sent,
	// as the Table Storage store does.
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

	tag := commitTag(c.Case.ETag)
	rows := make(map[string]ledger.AuditRecord, len(c.Audit))
	for _, a := range c.Audit {
		if a.CaseKey != key {
			return "", fmt.Errorf("audit row for case %q in a commit of case %q: one partition per transaction: %w", a.CaseKey, key, ledger.ErrLimit)
		}
		if a.Seq < 0 || a.Seq > ledger.MaxAuditSeq {
			return "", fmt.Errorf("audit seq %d outside 0–%d: %w", a.Seq, ledger.MaxAuditSeq, ledger.ErrInvalidKey)
		}
		rk := fmt.Sprintf("%s_%04d_%s", a.At.UTC().Format(keyTimeFmt), a.Seq, tag)
		if _, dup := rows[rk]; dup {
			return "", fmt.Errorf("two audit rows with At %s and Seq %d: %w", a.At, a.Seq, ledger.ErrInvalidKey)
		}
		a.At = a.At.UTC()
		rows[rk] = a
	}
	ops := 1 + len(c.Audit)
	if c.EventID != "" {
		ops++
	}
	if ops > ledger.MaxTransactionOps {
		return "", fmt.Errorf("case %s: transaction has %d operations, Azure allows %d: %w", key, ops, ledger.MaxTransactionOps, ledger.ErrLimit)
	}
	if err := checkCommit(c); err != nil {
		return "", fmt.Errorf("case %s: %w", key, err)
	}

	if err := s.trip(ctx, "Commit"); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.cases[key]
	if p == nil {
		p = &partition{audit: map[string]ledger.AuditRecord{}, markers: map[string]bool{}}
	}
	// The marker is the transaction's first operation: a seen event is
	// reported even when the ETag is stale too.
	marker := ""
	if c.EventID != "" {
		marker = eventKey(c.EventID)
		if p.markers[marker] {
			return "", fmt.Errorf("case %s event %q: %w", key, c.EventID, ledger.ErrDuplicateEvent)
		}
	}
	_, alias := s.aliases[key]
	switch {
	case c.Case.ETag == "" && (p.rec.ETag != "" || alias):
		return "", fmt.Errorf("case %s (insert of an existing case or alias): %w", key, ledger.ErrConflict)
	case c.Case.ETag != "" && alias:
		return "", fmt.Errorf("case %s (replace of an alias): %w", key, ledger.ErrConflict)
	case c.Case.ETag != "" && p.rec.ETag != c.Case.ETag:
		return "", fmt.Errorf("case %s (stale ETag): %w", key, ledger.ErrConflict)
	}
	for rk := range rows {
		if _, exists := p.audit[rk]; exists {
			return "", fmt.Errorf("store: commit case %s: audit row %s exists", key, rk)
		}
	}
	// Everything checked: apply.
	s.cases[key] = p
	if marker != "" {
		p.markers[marker] = true
	}
	for rk, a := range rows {
		p.audit[rk] = a
	}
	etag := s.etag()
	p.rec = ledger.CaseRecord{Key: key, Data: cloneBytes(c.Case.Data), State: c.Case.State, UPN: c.Case.UPN,
		Deadline: stored(c.Case.Deadline), ETag: etag, AuditHead: head}
	return etag, nil
}

// checkCommit applies Azure's per-property and per-transaction limits, as
// the Table Storage store does before sending.
func checkCommit(c ledger.Commit) error {
	cr := c.Case
	for _, p := range []struct{ name, v string }{{"State", cr.State}, {"UPN", cr.UPN}} {
		if err := stringFits(p.name, p.v); err != nil {
			return err
		}
	}
	if !cr.Deadline.IsZero() {
		if err := dateTimeInRange("Deadline", cr.Deadline); err != nil {
			return err
		}
	}
	// The body as the Table Storage store estimates it: each entity's JSON
	// plus multipart overhead and the keys thrice (percent-encoded).
	const opOverhead = 1024
	keys := 3 * (len(cr.Key) + 64)
	total := jsonLen(cr.Data, cr.State, cr.UPN, cr.AuditHead) + opOverhead + keys
	if c.EventID != "" {
		total += jsonLen(nil, ledger.Truncate(c.EventID, 1024)) + opOverhead + keys
	}
	for _, a := range c.Audit {
		for _, p := range []struct{ name, v string }{{"Actor", a.Actor}, {"Action", a.Action}, {"Detail", a.Detail}, {"EventID", a.EventID}, {"Result", a.Result}} {
			if err := stringFits(p.name, p.v); err != nil {
				return err
			}
		}
		if err := dateTimeInRange("At", a.At); err != nil {
			return err
		}
		total += jsonLen(nil, a.Actor, a.Action, a.Detail, a.EventID, a.Result, a.Prev, a.Hash) + opOverhead + keys
	}
	if total > ledger.MaxTransactionBytes {
		return fmt.Errorf("transaction body ≈ %d bytes, Azure allows %d: %w", total, ledger.MaxTransactionBytes, ledger.ErrLimit)
	}
	return nil
}

// jsonLen approximates the JSON size of an entity with these values: the
// encoded strings, the base64 of data, and room for names and types.
func jsonLen(data []byte, strs ...string) int {
	n := 4*((len(data)+2)/3) + 200
	for _, v := range strs {
		b, _ := json.Marshal(v)
		n += len(b) + 40
	}
	return n
}

// ListCases implements ledger.Store: cases in key order.
func (s *Store) ListCases(ctx context.Context, fn func(ledger.CaseRecord) error) error {
	if err := s.trip(ctx, "ListCases"); err != nil {
		return err
	}
	s.mu.Lock()
	out := make([]ledger.CaseRecord, 0, len(s.cases))
	for _, p := range s.cases {
		if p.rec.ETag != "" {
			out = append(out, copyCase(p.rec))
		}
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return s.each(ctx, "ListCases", len(out), 0, func(i int) error { return fn(out[i]) })
}

// each calls f for the first n results (at most max when max > 0),
// counting a page each time a further page would be fetched.
func (s *Store) each(ctx context.Context, op string, n, max int, f func(i int) error) error {
	size := pageSize
	if max > 0 && max < size {
		size = max
	}
	for i := 0; i < n; i++ {
		if max > 0 && i >= max {
			return nil
		}
		if i > 0 && i%size == 0 {
			if err := s.trip(ctx, op); err != nil {
				return err
			}
		}
		if err := f(i); err != nil {
			return err
		}
	}
	return nil
}

// ListAudit implements ledger.Store: the case's rows oldest first (by At,
// Seq, then the commit's tag).
func (s *Store) ListAudit(ctx context.Context, key string, fn func(ledger.AuditRecord) error) error {
	if err := ledger.ValidKey("case key", key); err != nil {
		return err
	}
	if err := s.trip(ctx, "ListAudit"); err != nil {
		return err
	}
	s.mu.Lock()
	var rks []string
	var rows []ledger.AuditRecord
	if p := s.cases[key]; p != nil {
		for rk := range p.audit {
			rks = append(rks, rk)
		}
		sort.Strings(rks)
		for _, rk := range rks {
			rows = append(rows, p.audit[rk])
		}
	}
	s.mu.Unlock()
	return s.each(ctx, "ListAudit", len(rows), 0, func(i int) error { return fn(rows[i]) })
}

// timerKey is the timer's row key (due time, case key, kind), checked as
// the Table Storage store checks it.
func timerKey(t ledger.Timer) (string, error) {
	if err := ledger.ValidKey("case key", t.CaseKey); err != nil {
		return "", err
	}
	if err := ledger.ValidKey("timer kind", t.Kind); err != nil {
		return "", err
	}
	due := t.DueAt.UTC()
	if t.DueAt.IsZero() || due.Year() < 1601 || due.Year() > 9999 {
		return "", fmt.Errorf("timer %s/%s: due time %v out of range: %w", t.CaseKey, t.Kind, t.DueAt, ledger.ErrInvalidKey)
	}
	rk := due.Format(keyTimeFmt) + "_" + t.CaseKey + "_" + t.Kind
	if err := ledger.ValidKey("timer RowKey", rk); err != nil {
		return "", err
	}
	return rk, nil
}

// PutTimer implements ledger.Store (an upsert: a new version).
func (s *Store) PutTimer(ctx context.Context, t ledger.Timer) error {
	rk, err := timerKey(t)
	if err != nil {
		return err
	}
	if err := s.trip(ctx, "PutTimer"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t.DueAt = t.DueAt.UTC()
	t.ETag = ""
	s.timers[rk] = timerRow{t: t, etag: s.etag()}
	return nil
}

// DueTimers implements ledger.Store: timers due at or before now, in row
// key order (due time, then case key and kind).
func (s *Store) DueTimers(ctx context.Context, now time.Time, max int, fn func(ledger.Timer) error) error {
	if err := s.trip(ctx, "DueTimers"); err != nil {
		return err
	}
	now = now.UTC()
	s.mu.Lock()
	var rks []string
	for rk, r := range s.timers {
		if !r.t.DueAt.After(now) {
			rks = append(rks, rk)
		}
	}
	sort.Strings(rks)
	due := make([]ledger.Timer, len(rks))
	for i, rk := range rks {
		r := s.timers[rk]
		due[i] = r.t
		due[i].ETag = r.etag
	}
	s.mu.Unlock()
	return s.each(ctx, "DueTimers", len(due), max, func(i int) error { return fn(due[i]) })
}

// DeleteTimer implements ledger.Store.
func (s *Store) DeleteTimer(ctx context.Context, t ledger.Timer) error {
	rk, err := timerKey(t)
	if err != nil {
		return err
	}
	if err := s.trip(ctx, "DeleteTimer"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.timers[rk]
	switch {
	case !ok:
		return nil
	case t.ETag != "" && t.ETag != r.etag:
		return fmt.Errorf("timer %s/%s: %w", t.CaseKey, t.Kind, ledger.ErrConflict)
	}
	delete(s.timers, rk)
	return nil
}

// Reject implements ledger.Store: fields and body truncated as documented
// on ledger.RejectedEvent; the same rejection at the same instant is one row.
func (s *Store) Reject(ctx context.Context, r ledger.RejectedEvent) error {
	if r.ReceivedAt.IsZero() {
		return errors.New("store: rejected event without ReceivedAt")
	}
	if err := dateTimeInRange("ReceivedAt", r.ReceivedAt); err != nil {
		return err
	}
	fp := r.Fingerprint()
	at := stored(r.ReceivedAt)
	// 100 ns ticks since 1970; UnixNano would overflow past 2262.
	k := rejectedKey{ticks: at.Unix()*10_000_000 + int64(at.Nanosecond()/100), fp: hex.EncodeToString(fp[:])}
	kept := ledger.RejectedEvent{
		Queue:      ledger.Truncate(r.Queue, ledger.MaxRejectedFieldUnits),
		Code:       ledger.Truncate(r.Code, ledger.MaxRejectedFieldUnits),
		Reason:     ledger.Truncate(r.Reason, ledger.MaxRejectedFieldUnits),
		Field:      ledger.Truncate(r.Field, ledger.MaxRejectedFieldUnits),
		MessageID:  ledger.Truncate(r.MessageID, ledger.MaxRejectedFieldUnits),
		ReceivedAt: at,
	}
	if utf8.Valid(r.Body) {
		kept.Body = []byte(ledger.Truncate(string(r.Body), ledger.MaxRejectedBodyUnits))
	} else {
		kept.Body = cloneBytes(r.Body[:min(len(r.Body), ledger.MaxRejectedBodyBytes)])
	}
	if err := s.trip(ctx, "Reject"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejected[k] = kept
	return nil
}

// ListRejected implements ledger.Store: newest first; rejections at the
// same instant in fingerprint order.
func (s *Store) ListRejected(ctx context.Context, max int, fn func(ledger.RejectedEvent) error) error {
	if err := s.trip(ctx, "ListRejected"); err != nil {
		return err
	}
	s.mu.Lock()
	keys := make([]rejectedKey, 0, len(s.rejected))
	for k := range s.rejected {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].ticks != keys[j].ticks {
			return keys[i].ticks > keys[j].ticks
		}
		return keys[i].fp < keys[j].fp
	})
	out := make([]ledger.RejectedEvent, len(keys))
	for i, k := range keys {
		out[i] = s.rejected[k]
		out[i].Body = append([]byte{}, out[i].Body...)
	}
	s.mu.Unlock()
	return s.each(ctx, "ListRejected", len(out), max, func(i int) error { return fn(out[i]) })
}

// indexKey matches values as the Table Storage store's hashed partition
// does: case-insensitive, ignoring surrounding space. It checks the
// partition key that store would write.
func indexKey(kind, value string) (string, error) {
	if err := ledger.ValidKey("index partition", "idx_"+kind+"_"+strings.Repeat("0", 40)); err != nil {
		return "", err
	}
	return kind + "\x00" + strings.ToLower(strings.TrimSpace(value)), nil
}

// PutIndex implements ledger.Store.
func (s *Store) PutIndex(ctx context.Context, kind ledger.IndexKind, value, caseKey string) error {
	if value == "" {
		return nil
	}
	if err := ledger.ValidKey("case key", caseKey); err != nil {
		return err
	}
	k, err := indexKey(string(kind), value)
	if err != nil {
		return err
	}
	if err := s.trip(ctx, "PutIndex"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.index[k] = caseKey
	return nil
}

// LookupIndex implements ledger.Store.
func (s *Store) LookupIndex(ctx context.Context, kind ledger.IndexKind, value string) (string, error) {
	k, err := indexKey(string(kind), value)
	if err != nil {
		return "", err
	}
	if err := s.trip(ctx, "LookupIndex"); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key, ok := s.index[k]
	if !ok {
		return "", fmt.Errorf("index %s: %w", kind, ledger.ErrNotFound)
	}
	return key, nil
}

// MarkOnce implements ledger.Store (an insert: the second caller loses).
func (s *Store) MarkOnce(ctx context.Context, kind ledger.OnceKind, id string) (bool, error) {
	k, err := indexKey(string(kind), id)
	if err != nil {
		return false, err
	}
	if err := s.trip(ctx, "MarkOnce"); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.once[k] {
		return false, nil
	}
	s.once[k] = true
	return true, nil
}

func stateFits(rec ledger.StateRecord) error {
	if err := ledger.ValidKey("state name", rec.Name); err != nil {
		return err
	}
	if len(rec.Data) > 64<<10 {
		return fmt.Errorf("state %s is %d bytes, Azure allows %d: %w", rec.Name, len(rec.Data), 64<<10, ledger.ErrLimit)
	}
	return nil
}

// LoadState implements ledger.Store.
func (s *Store) LoadState(ctx context.Context, name string) (ledger.StateRecord, error) {
	if err := ledger.ValidKey("state name", name); err != nil {
		return ledger.StateRecord{}, err
	}
	if err := s.trip(ctx, "LoadState"); err != nil {
		return ledger.StateRecord{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.state[name]
	if !ok {
		return ledger.StateRecord{Name: name}, nil
	}
	rec.Data = cloneBytes(rec.Data)
	return rec, nil
}

// SaveState implements ledger.Store.
func (s *Store) SaveState(ctx context.Context, rec ledger.StateRecord) (string, error) {
	if err := stateFits(rec); err != nil {
		return "", err
	}
	if err := s.trip(ctx, "SaveState"); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.state[rec.Name]
	if rec.ETag == "" && ok || rec.ETag != "" && cur.ETag != rec.ETag {
		return "", fmt.Errorf("state %s: %w", rec.Name, ledger.ErrConflict)
	}
	rec.Data, rec.ETag = cloneBytes(rec.Data), s.etag()
	s.state[rec.Name] = rec
	return rec.ETag, nil
}

// PutState implements ledger.Store.
func (s *Store) PutState(ctx context.Context, rec ledger.StateRecord) error {
	if err := stateFits(rec); err != nil {
		return err
	}
	if err := s.trip(ctx, "PutState"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec.Data, rec.ETag = cloneBytes(rec.Data), s.etag()
	s.state[rec.Name] = rec
	return nil
}

// RecordRun implements ledger.Store.
func (s *Store) RecordRun(ctx context.Context, r ledger.Run) error {
	if err := ledger.ValidKey("run name", r.Name); err != nil {
		return err
	}
	if err := dateTimeInRange("At", r.At); err != nil {
		return err
	}
	if err := s.trip(ctx, "RecordRun"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r.At, r.Summary = stored(r.At), ledger.Truncate(r.Summary, ledger.MaxRunSummaryUnits)
	s.runs[r.Name] = r
	return nil
}

// LastRun implements ledger.Store.
func (s *Store) LastRun(ctx context.Context, name string) (ledger.Run, error) {
	if err := ledger.ValidKey("run name", name); err != nil {
		return ledger.Run{}, err
	}
	if err := s.trip(ctx, "LastRun"); err != nil {
		return ledger.Run{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[name]
	if !ok {
		return ledger.Run{}, fmt.Errorf("run %s: %w", name, ledger.ErrNotFound)
	}
	return r, nil
}

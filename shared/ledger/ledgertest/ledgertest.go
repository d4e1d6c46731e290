// Package ledgertest is the conformance suite of ledger.Store, in the
// style of go-cloud's drivertest: every implementation runs Run from its
// own tests (package store against Azurite, package memledger in memory)
// and must pass every check. A behaviour the engine relies on belongs
// here; when two implementations differ, one of them has a bug.
package ledgertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holdfast/holdfast/shared/auditchain"
	"github.com/holdfast/holdfast/shared/ledger"
)

// Fixture is one empty store and the counter of its round trips (reset:
// opening the store may have sent requests).
type Fixture struct {
	Store   ledger.Store
	Counter *ledger.Counter
}

// Run runs every check, each on a fresh store from open.
func Run(t *testing.T, open func(t *testing.T) Fixture) {
	for _, c := range []struct {
		name string
		fn   func(*testing.T, Fixture)
	}{
		{"CaseInsertReplaceConflict", testCaseCAS},
		{"ConcurrentWritersOneWins", testConcurrentWriters},
		{"DuplicateEventAtomic", testDuplicateEvent},
		{"TransactionLimits", testTransactionLimits},
		{"Keys", testKeys},
		{"AuditChainAndOrder", testAuditChain},
		{"CopiesInAndOut", testCopies},
		{"ListCasesOnlyCases", testListCases},
		{"DueTimersRange", testDueTimers},
		{"DueTimersPaging", testDueTimersPaging},
		{"DeleteTimerVersions", testDeleteTimer},
		{"Index", testIndex},
		{"Alias", testAlias},
		{"MarkOnce", testMarkOnce},
		{"State", testState},
		{"Runs", testRuns},
		{"Rejected", testRejected},
		{"RoundTrips", testRoundTrips},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := open(t)
			f.Counter.Reset()
			c.fn(t, f)
		})
	}
}

var (
	ctx = context.Background()
	// t0 has nanoseconds: stores keep 100 ns ticks in properties and
	// nanoseconds in keys, and the suite checks both.
	t0 = time.Date(2026, 3, 10, 9, 30, 0, 123456789, time.UTC)
)

const (
	keyA = "11111111-1111-1111-1111-111111111111_aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"
	keyB = "11111111-1111-1111-1111-111111111111_bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"
)

func auditN(n int, at time.Time) []ledger.AuditRecord {
	out := make([]ledger.AuditRecord, 0, n)
	for i := range n {
		out = append(out, ledger.AuditRecord{At: at, Seq: i, Actor: "engine", Action: fmt.Sprintf("step%d", i), Result: "ok"})
	}
	return out
}

func audit(t *testing.T, s ledger.Store, key string) []ledger.AuditRecord {
	t.Helper()
	var out []ledger.AuditRecord
	if err := s.ListAudit(ctx, key, func(a ledger.AuditRecord) error { out = append(out, a); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func mustLoad(t *testing.T, s ledger.Store, key string) ledger.CaseRecord {
	t.Helper()
	rec, err := s.LoadCase(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func testCaseCAS(t *testing.T, f Fixture) {
	s := f.Store
	if _, err := s.LoadCase(ctx, keyA); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("LoadCase of a missing case: %v, want ErrNotFound", err)
	}
	deadline := t0.In(time.FixedZone("x", 3600)).AddDate(0, 0, 30)
	in := ledger.CaseRecord{Key: keyA, Data: []byte(`{"state":"tracking"}`), State: "tracking", UPN: "ann@contoso.test", Deadline: deadline}
	etag, err := s.Commit(ctx, ledger.Commit{Case: in})
	if err != nil || etag == "" {
		t.Fatalf("insert: %q %v", etag, err)
	}
	got := mustLoad(t, s, keyA)
	want := in
	want.ETag, want.Deadline = etag, deadline.UTC().Truncate(ledger.Precision)
	if !equalCase(got, want) || got.Deadline.Location() != time.UTC {
		t.Fatalf("loaded %+v\nwant   %+v", got, want)
	}
	if _, err := s.Commit(ctx, ledger.Commit{Case: in}); !errors.Is(err, ledger.ErrConflict) {
		t.Fatalf("second insert: %v, want ErrConflict", err)
	}
	upd := got
	upd.State, upd.Data, upd.Deadline = "released", []byte(`{"state":"released"}`), time.Time{}
	etag2, err := s.Commit(ctx, ledger.Commit{Case: upd})
	if err != nil || etag2 == "" || etag2 == etag {
		t.Fatalf("replace: %q (was %q) %v", etag2, etag, err)
	}
	if _, err := s.Commit(ctx, ledger.Commit{Case: got}); !errors.Is(err, ledger.ErrConflict) {
		t.Fatalf("replace with a stale ETag: %v, want ErrConflict", err)
	}
	now := mustLoad(t, s, keyA)
	upd.ETag = etag2
	if !equalCase(now, upd) || !now.Deadline.IsZero() {
		t.Fatalf("after a refused replace: %+v, want %+v", now, upd)
	}
	if _, err := s.Commit(ctx, ledger.Commit{Case: ledger.CaseRecord{Key: keyB, State: "x", ETag: etag2}}); !errors.Is(err, ledger.ErrConflict) {
		t.Fatalf("replace of a missing case: %v, want ErrConflict", err)
	}
}

func equalCase(a, b ledger.CaseRecord) bool {
	return a.Key == b.Key && bytes.Equal(a.Data, b.Data) && a.State == b.State && a.UPN == b.UPN &&
		a.Deadline.Equal(b.Deadline) && a.ETag == b.ETag && a.AuditHead == b.AuditHead
}

func testConcurrentWriters(t *testing.T, f Fixture) {
	s := f.Store
	if _, err := s.Commit(ctx, ledger.Commit{Case: ledger.CaseRecord{Key: keyA, State: "tracking"}}); err != nil {
		t.Fatal(err)
	}
	base := mustLoad(t, s, keyA)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := base
			c.State = fmt.Sprintf("writer%d", i)
			_, errs[i] = s.Commit(ctx, ledger.Commit{Case: c, Audit: auditN(1, t0.Add(time.Duration(i)))})
		}()
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Fatalf("writers %d and %d both won", won, i)
		case err == nil:
			won = i
		case !errors.Is(err, ledger.ErrConflict):
			t.Fatalf("writer %d: %v, want ErrConflict", i, err)
		}
	}
	if won < 0 {
		t.Fatal("no writer won")
	}
	if got := mustLoad(t, s, keyA).State; got != fmt.Sprintf("writer%d", won) {
		t.Fatalf("state %q, winner was %d", got, won)
	}
	if n := len(audit(t, s, keyA)); n != 1 {
		t.Fatalf("%d audit rows, want the winner's 1 (losers write nothing)", n)
	}
}

func testDuplicateEvent(t *testing.T, f Fixture) {
	s := f.Store
	etag, err := s.Commit(ctx, ledger.Commit{Case: ledger.CaseRecord{Key: keyA, State: "a"}, Audit: auditN(1, t0), EventID: "evt-1"})
	if err != nil {
		t.Fatal(err)
	}
	rec := mustLoad(t, s, keyA)
	rec.State = "b"
	// The same event again, with a current ETag: nothing is written.
	if _, err := s.Commit(ctx, ledger.Commit{Case: rec, Audit: auditN(1, t0.Add(time.Second)), EventID: "evt-1"}); !errors.Is(err, ledger.ErrDuplicateEvent) {
		t.Fatalf("duplicate event: %v, want ErrDuplicateEvent", err)
	}
	// And with a stale ETag too: the duplicate is what is reported.
	stale := rec
	stale.ETag = `W/"stale"`
	if _, err := s.Commit(ctx, ledger.Commit{Case: stale, EventID: "evt-1"}); !errors.Is(err, ledger.ErrDuplicateEvent) {
		t.Fatalf("duplicate event with a stale ETag: %v, want ErrDuplicateEvent", err)
	}
	if got := mustLoad(t, s, keyA); got.State != "a" || got.ETag != etag || len(audit(t, s, keyA)) != 1 {
		t.Fatalf("a refused commit wrote: %+v, %d audit rows", got, len(audit(t, s, keyA)))
	}
	// A stale ETag with a new event: ErrConflict, and the marker is not
	// kept (the event can still be committed).
	if _, err := s.Commit(ctx, ledger.Commit{Case: stale, EventID: "evt-2"}); !errors.Is(err, ledger.ErrConflict) {
		t.Fatalf("stale ETag, new event: %v, want ErrConflict", err)
	}
	if _, err := s.Commit(ctx, ledger.Commit{Case: rec, EventID: "evt-2"}); err != nil {
		t.Fatalf("event of a failed commit could not be committed: %v", err)
	}
	// Markers belong to their case.
	if _, err := s.Commit(ctx, ledger.Commit{Case: ledger.CaseRecord{Key: keyB}, EventID: "evt-1"}); err != nil {
		t.Fatalf("same event id on another case: %v", err)
	}
}

func testTransactionLimits(t *testing.T, f Fixture) {
	s := f.Store
	if _, err := s.Commit(ctx, ledger.Commit{Case: ledger.CaseRecord{Key: keyA, State: "a"}}); err != nil {
		t.Fatal(err)
	}
	rec := mustLoad(t, s, keyA)
	big := func(n int, r rune) []ledger.AuditRecord {
		rows := auditN(n, t0)
		for i := range rows {
			rows[i].Detail = strings.Repeat(string(r), 30000)
		}
		return rows
	}
	other := auditN(1, t0)
	other[0].CaseKey = keyB
	twice := append(auditN(1, t0), auditN(1, t0)...)
	for _, tc := range []struct {
		name string
		c    ledger.Commit
		want error
	}{
		{"101 operations (marker, case, 99 audit rows)", ledger.Commit{Case: rec, Audit: auditN(99, t0), EventID: "e"}, ledger.ErrLimit},
		{"101 operations (case, 100 audit rows)", ledger.Commit{Case: rec, Audit: auditN(100, t0)}, ledger.ErrLimit},
		{"audit row of another case (two partitions)", ledger.Commit{Case: rec, Audit: other}, ledger.ErrLimit},
		{"case data over MaxCaseData", ledger.Commit{Case: withData(rec, ledger.MaxCaseData+1)}, ledger.ErrLimit},
		{"string over 32 Ki UTF-16 units", ledger.Commit{Case: rec, Audit: []ledger.AuditRecord{{At: t0, Detail: strings.Repeat("x", ledger.MaxStringUnits+1)}}}, ledger.ErrLimit},
		{"string over 32 Ki UTF-16 units in fewer runes", ledger.Commit{Case: withUPN(rec, strings.Repeat("😀", ledger.MaxStringUnits/2+1))}, ledger.ErrLimit},
		{"audit time before 1601", ledger.Commit{Case: rec, Audit: []ledger.AuditRecord{{}}}, ledger.ErrLimit},
		{"body over 4 MiB", ledger.Commit{Case: rec, Audit: big(80, 'é')}, ledger.ErrLimit},
		{"audit seq over 9999", ledger.Commit{Case: rec, Audit: []ledger.AuditRecord{{At: t0, Seq: 10000}}}, ledger.ErrInvalidKey},
		{"two audit rows with one At and Seq", ledger.Commit{Case: rec, Audit: twice}, ledger.ErrInvalidKey},
	} {
		before := f.Counter.Total()
		if _, err := s.Commit(ctx, tc.c); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if n := f.Counter.Total() - before; n != 0 {
			t.Errorf("%s: %d round trips, want 0 (refused before sending)", tc.name, n)
		}
	}
	if got := mustLoad(t, s, keyA); got.ETag != rec.ETag || len(audit(t, s, keyA)) != 0 {
		t.Fatalf("a refused commit wrote: %+v", got)
	}
	// At the limits exactly: accepted.
	etag, err := s.Commit(ctx, ledger.Commit{Case: withData(rec, ledger.MaxCaseData), Audit: auditN(98, t0), EventID: "e"})
	if err != nil {
		t.Fatalf("100 operations and MaxCaseData: %v", err)
	}
	rec = mustLoad(t, s, keyA)
	if rec.ETag != etag || len(rec.Data) != ledger.MaxCaseData || len(audit(t, s, keyA)) != 98 {
		t.Fatalf("after the largest commit: etag %v, %d bytes, %d rows", rec.ETag == etag, len(rec.Data), len(audit(t, s, keyA)))
	}
	if _, err := s.Commit(ctx, ledger.Commit{Case: rec, Audit: big(40, 'x')}); err != nil {
		t.Fatalf("40 rows of 30,000 ASCII characters (≈1.2 MB): %v", err)
	}
}

func withUPN(r ledger.CaseRecord, upn string) ledger.CaseRecord {
	r.UPN = upn
	return r
}

func withData(r ledger.CaseRecord, n int) ledger.CaseRecord {
	r.Data = bytes.Repeat([]byte{'d'}, n)
	return r
}

func testKeys(t *testing.T, f Fixture) {
	s := f.Store
	for _, k := range []string{"", "a/b", `a\b`, "a#b", "a?b", "a\tb", "a\x7fb", "a\u0085b", strings.Repeat("k", 513), strings.Repeat("ü", 513)} {
		if _, err := s.LoadCase(ctx, k); !errors.Is(err, ledger.ErrInvalidKey) {
			t.Errorf("LoadCase(%q): %v, want ErrInvalidKey", k, err)
		}
		if _, err := s.Commit(ctx, ledger.Commit{Case: ledger.CaseRecord{Key: k}}); !errors.Is(err, ledger.ErrInvalidKey) {
			t.Errorf("Commit(%q): %v, want ErrInvalidKey", k, err)
		}
		if err := s.PutTimer(ctx, ledger.Timer{CaseKey: k, Kind: "x", DueAt: t0}); !errors.Is(err, ledger.ErrInvalidKey) {
			t.Errorf("PutTimer(%q): %v, want ErrInvalidKey", k, err)
		}
	}
	if n := f.Counter.Total(); n != 0 {
		t.Errorf("%d round trips for invalid keys, want 0", n)
	}
	// Quotes, percent signs and non-ASCII are allowed, and reach no filter
	// unescaped.
	for _, k := range []string{"o'brien_%27x", "zoë_'' or true", strings.Repeat("k", 512)} {
		if _, err := s.Commit(ctx, ledger.Commit{Case: ledger.CaseRecord{Key: k, State: "s"}, Audit: auditN(1, t0)}); err != nil {
			t.Fatalf("Commit(%q): %v", k, err)
		}
		if got := mustLoad(t, s, k); got.Key != k {
			t.Fatalf("loaded key %q, want %q", got.Key, k)
		}
		if rows := audit(t, s, k); len(rows) != 1 || rows[0].CaseKey != k {
			t.Fatalf("audit of %q: %+v", k, rows)
		}
	}
}

func testAuditChain(t *testing.T, f Fixture) {
	s := f.Store
	first := auditN(2, t0)
	first[1].Detail, first[1].EventID = "détail", "evt-9"
	if _, err := s.Commit(ctx, ledger.Commit{Case: ledger.CaseRecord{Key: keyA}, Audit: first}); err != nil {
		t.Fatal(err)
	}
	if first[0].CaseKey != keyA || first[0].Prev != "" || first[0].Hash == "" || first[1].Prev != first[0].Hash {
		t.Fatalf("caller's rows not filled and linked: %+v", first)
	}
	// Rows with the same At and Seq from two commits are both kept.
	for i := range 3 {
		rec := mustLoad(t, s, keyA)
		if _, err := s.Commit(ctx, ledger.Commit{Case: rec, Audit: auditN(2, t0.Add(time.Duration(i)))}); err != nil {
			t.Fatal(err)
		}
	}
	// A commit without audit rows keeps the head.
	rec := mustLoad(t, s, keyA)
	if _, err := s.Commit(ctx, ledger.Commit{Case: rec}); err != nil {
		t.Fatal(err)
	}
	after := mustLoad(t, s, keyA)
	if after.AuditHead == "" || after.AuditHead != rec.AuditHead {
		t.Fatalf("head %q after a commit without rows, was %q", after.AuditHead, rec.AuditHead)
	}
	rows := audit(t, s, keyA)
	if len(rows) != 8 {
		t.Fatalf("%d audit rows, want 8", len(rows))
	}
	for i := 1; i < len(rows); i++ {
		a, b := rows[i-1], rows[i]
		if b.At.Before(a.At) || b.At.Equal(a.At) && b.Seq < a.Seq {
			t.Fatalf("rows out of order at %d: %v/%d then %v/%d", i, a.At, a.Seq, b.At, b.Seq)
		}
	}
	kept := 0
	for _, r := range rows {
		if r.Detail == "détail" && r.EventID == "evt-9" && r.Hash == first[1].Hash && r.Prev == first[0].Hash {
			kept++
		}
	}
	if !rows[0].At.Equal(t0) || rows[0].At.Location() != time.UTC || rows[0].CaseKey != keyA || kept != 1 {
		t.Fatalf("rows as stored: %+v", rows)
	}
	chain := make([]auditchain.Row, len(rows))
	for i, r := range rows {
		chain[i] = r.Row()
	}
	if _, err := auditchain.Verify(auditchain.ChainOrder(chain, after.AuditHead), after.AuditHead); err != nil {
		t.Fatalf("stored chain does not verify: %v", err)
	}
}

func testCopies(t *testing.T, f Fixture) {
	s := f.Store
	data := []byte(`{"v":1}`)
	if _, err := s.Commit(ctx, ledger.Commit{Case: ledger.CaseRecord{Key: keyA, Data: data}}); err != nil {
		t.Fatal(err)
	}
	data[6] = '9'
	got := mustLoad(t, s, keyA)
	if string(got.Data) != `{"v":1}` {
		t.Fatalf("the caller's slice changed the stored case: %s", got.Data)
	}
	got.Data[6] = '8'
	if again := mustLoad(t, s, keyA); string(again.Data) != `{"v":1}` {
		t.Fatalf("a loaded slice changed the stored case: %s", again.Data)
	}
	st := []byte("state")
	if err := s.PutState(ctx, ledger.StateRecord{Name: "n", Data: st}); err != nil {
		t.Fatal(err)
	}
	st[0] = 'X'
	if r, err := s.LoadState(ctx, "n"); err != nil || string(r.Data) != "state" {
		t.Fatalf("state: %q %v", r.Data, err)
	}
}

func testListCases(t *testing.T, f Fixture) {
	s := f.Store
	for _, k := range []string{keyB, keyA} {
		if _, err := s.Commit(ctx, ledger.Commit{Case: ledger.CaseRecord{Key: k, State: "s"}, Audit: auditN(2, t0), EventID: "e"}); err != nil {
			t.Fatal(err)
		}
	}
	// Rows that are not cases: index, marker, state, run, timer.
	must(t, s.PutIndex(ctx, ledger.IndexUPN, "ann@contoso.test", keyA))
	if _, err := s.MarkOnce(ctx, ledger.OnceRejectedAlert, "m"); err != nil {
		t.Fatal(err)
	}
	must(t, s.PutState(ctx, ledger.StateRecord{Name: "usersDelta", Data: []byte("x")}))
	must(t, s.RecordRun(ctx, ledger.Run{Name: "sweep", At: t0, OK: true}))
	must(t, s.PutTimer(ctx, ledger.Timer{CaseKey: keyA, Kind: "k", DueAt: t0}))
	var keys []string
	err := s.ListCases(ctx, func(c ledger.CaseRecord) error {
		keys = append(keys, c.Key)
		if c.ETag == "" || c.State != "s" {
			t.Errorf("listed case %+v", c)
		}
		// A callback may use the store (the runner lists audit per case).
		if n := len(audit(t, s, c.Key)); n != 2 {
			t.Errorf("case %s: %d audit rows", c.Key, n)
		}
		return nil
	})
	must(t, err)
	if strings.Join(keys, ",") != keyA+","+keyB {
		t.Fatalf("listed %v, want [%s %s]", keys, keyA, keyB)
	}
	stop := errors.New("stop")
	n := 0
	if err := s.ListCases(ctx, func(ledger.CaseRecord) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Fatalf("a callback's error: %v after %d", err, n)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func timerNames(ts []ledger.Timer) string {
	var b []string
	for _, x := range ts {
		b = append(b, x.Kind)
	}
	return strings.Join(b, ",")
}

func due(t *testing.T, s ledger.Store, now time.Time, max int) []ledger.Timer {
	t.Helper()
	var out []ledger.Timer
	must(t, s.DueTimers(ctx, now, max, func(x ledger.Timer) error { out = append(out, x); return nil }))
	return out
}

func testDueTimers(t *testing.T, f Fixture) {
	s := f.Store
	now := t0
	midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	for _, tm := range []ledger.Timer{
		{CaseKey: keyA, Kind: "later", DueAt: now.Add(time.Nanosecond)},
		{CaseKey: keyA, Kind: "tomorrow", DueAt: now.AddDate(0, 0, 1)},
		{CaseKey: keyB, Kind: "exactly", DueAt: now},
		{CaseKey: keyA, Kind: "exactly", DueAt: now},
		{CaseKey: keyA, Kind: "justbefore", DueAt: now.Add(-time.Nanosecond)},
		{CaseKey: keyB, Kind: "lastmonth", DueAt: now.AddDate(0, -1, 0).In(time.FixedZone("y", -5*3600))},
		{CaseKey: keyA, Kind: "yesterday", DueAt: now.AddDate(0, 0, -1)},
		// The day's edges: the Table Storage store partitions timers by
		// due day and reads "earlier days, or today up to now".
		{CaseKey: keyB, Kind: "midnight", DueAt: midnight},
		{CaseKey: keyB, Kind: "lastnsyesterday", DueAt: midnight.Add(-time.Nanosecond)},
		{CaseKey: keyB, Kind: "lastnstoday", DueAt: midnight.Add(24*time.Hour - time.Nanosecond)},
		{CaseKey: keyB, Kind: "tomorrowmidnight", DueAt: midnight.Add(24 * time.Hour)},
	} {
		must(t, s.PutTimer(ctx, tm))
	}
	// Writing a timer again keeps one timer.
	must(t, s.PutTimer(ctx, ledger.Timer{CaseKey: keyA, Kind: "yesterday", DueAt: now.AddDate(0, 0, -1)}))
	got := due(t, s, now, 0)
	if names := timerNames(got); names != "lastmonth,yesterday,lastnsyesterday,midnight,justbefore,exactly,exactly" {
		t.Fatalf("due at now: %s", names)
	}
	if got[5].CaseKey != keyA || got[6].CaseKey != keyB {
		t.Fatalf("equal due times not ordered by case key: %+v", got[5:])
	}
	for _, x := range got {
		if x.ETag == "" || x.DueAt.Location() != time.UTC {
			t.Fatalf("timer read back %+v", x)
		}
	}
	if !got[4].DueAt.Equal(now.Add(-time.Nanosecond)) || !got[0].DueAt.Equal(now.AddDate(0, -1, 0)) || !got[2].DueAt.Equal(midnight.Add(-time.Nanosecond)) {
		t.Fatalf("due times not kept to the nanosecond: %v, %v, %v", got[4].DueAt, got[0].DueAt, got[2].DueAt)
	}
	if names := timerNames(due(t, s, midnight.Add(24*time.Hour-time.Nanosecond), 0)); !strings.HasSuffix(names, ",later,lastnstoday") {
		t.Fatalf("due at the day's last nanosecond: %s", names)
	}
	if names := timerNames(due(t, s, now, 2)); names != "lastmonth,yesterday" {
		t.Fatalf("first 2 due: %s", names)
	}
	if names := timerNames(due(t, s, now.Add(-time.Hour).AddDate(0, -1, 0), 0)); names != "" {
		t.Fatalf("due before the earliest: %s", names)
	}
	if n := len(due(t, s, now.AddDate(0, 0, 2), 0)); n != 11 {
		t.Fatalf("due in two days: %d timers, want 11", n)
	}
	stop := errors.New("stop")
	if err := s.DueTimers(ctx, now, 0, func(ledger.Timer) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("a callback's error: %v", err)
	}
	for _, bad := range []ledger.Timer{{CaseKey: keyA, Kind: "zero"}, {CaseKey: keyA, Kind: "", DueAt: now}, {CaseKey: keyA, Kind: "a/b", DueAt: now}} {
		if err := s.PutTimer(ctx, bad); !errors.Is(err, ledger.ErrInvalidKey) {
			t.Errorf("PutTimer(%+v): %v, want ErrInvalidKey", bad, err)
		}
	}
}

func testDueTimersPaging(t *testing.T, f Fixture) {
	s := f.Store
	const n = 1005 // over one service page of 1,000
	for i := range n {
		must(t, s.PutTimer(ctx, ledger.Timer{CaseKey: keyA, Kind: fmt.Sprintf("k%04d", i), DueAt: t0.Add(-time.Duration(i) * time.Second)}))
	}
	f.Counter.Reset()
	got := due(t, s, t0, 0)
	if len(got) != n {
		t.Fatalf("%d due timers, want %d", len(got), n)
	}
	if pages := f.Counter.Snapshot()["DueTimers"]; pages != 2 {
		t.Errorf("reading %d due timers took %d round trips, want 2 pages", n, pages)
	}
	for i := 1; i < len(got); i++ {
		if got[i].DueAt.Before(got[i-1].DueAt) {
			t.Fatalf("out of order at %d", i)
		}
	}
	f.Counter.Reset()
	if got := due(t, s, t0, 10); len(got) != 10 || got[0].Kind != fmt.Sprintf("k%04d", n-1) {
		t.Fatalf("first 10: %d, first %+v", len(got), got[0])
	}
	if pages := f.Counter.Snapshot()["DueTimers"]; pages != 1 {
		t.Errorf("reading 10 of %d due timers took %d round trips, want 1", n, pages)
	}
}

func testDeleteTimer(t *testing.T, f Fixture) {
	s := f.Store
	tm := ledger.Timer{CaseKey: keyA, Kind: "k", DueAt: t0}
	must(t, s.PutTimer(ctx, tm))
	read := due(t, s, t0, 0)[0]
	// Rewritten meanwhile: the version read may no longer be deleted.
	must(t, s.PutTimer(ctx, tm))
	if err := s.DeleteTimer(ctx, read); !errors.Is(err, ledger.ErrConflict) {
		t.Fatalf("delete of a rewritten timer: %v, want ErrConflict", err)
	}
	if n := len(due(t, s, t0, 0)); n != 1 {
		t.Fatalf("%d timers after a refused delete", n)
	}
	cur := due(t, s, t0, 0)[0]
	must(t, s.DeleteTimer(ctx, cur))
	if n := len(due(t, s, t0, 0)); n != 0 {
		t.Fatalf("%d timers after delete", n)
	}
	if err := s.DeleteTimer(ctx, cur); err != nil {
		t.Fatalf("delete of a timer already gone: %v, want nil", err)
	}
	// No ETag: any version.
	must(t, s.PutTimer(ctx, tm))
	must(t, s.DeleteTimer(ctx, tm))
	if n := len(due(t, s, t0, 0)); n != 0 {
		t.Fatalf("%d timers after an unconditional delete", n)
	}
}

func testIndex(t *testing.T, f Fixture) {
	s := f.Store
	if _, err := s.LookupIndex(ctx, ledger.IndexUPN, "ann@contoso.test"); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("lookup before put: %v, want ErrNotFound", err)
	}
	must(t, s.PutIndex(ctx, ledger.IndexUPN, "Ann@Contoso.test", keyA))
	must(t, s.PutIndex(ctx, ledger.IndexEmployeeID, "ann@contoso.test", keyB))
	for _, v := range []string{"ann@contoso.test", " ANN@contoso.TEST "} {
		if k, err := s.LookupIndex(ctx, ledger.IndexUPN, v); err != nil || k != keyA {
			t.Fatalf("lookup %q: %q %v, want %s", v, k, err, keyA)
		}
	}
	if k, err := s.LookupIndex(ctx, ledger.IndexEmployeeID, "ann@contoso.test"); err != nil || k != keyB {
		t.Fatalf("kinds are separate: %q %v", k, err)
	}
	// Written again for another case: the last write wins.
	must(t, s.PutIndex(ctx, ledger.IndexUPN, "ann@contoso.test", keyB))
	if k, _ := s.LookupIndex(ctx, ledger.IndexUPN, "ann@contoso.test"); k != keyB {
		t.Fatalf("after rewrite: %q", k)
	}
	before := f.Counter.Total()
	must(t, s.PutIndex(ctx, ledger.IndexObjectID, "", keyA))
	if err := s.PutIndex(ctx, ledger.IndexObjectID, "x", "bad/key"); !errors.Is(err, ledger.ErrInvalidKey) {
		t.Fatalf("index to an invalid case key: %v", err)
	}
	if n := f.Counter.Total() - before; n != 0 {
		t.Fatalf("%d round trips for an empty value and an invalid key, want 0", n)
	}
	if _, err := s.LookupIndex(ctx, ledger.IndexObjectID, ""); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("lookup of an empty value: %v, want ErrNotFound", err)
	}
}

// testAlias: an alias key reads its case (two round trips), is not
// listed, cannot be inserted or replaced over, and cannot be put over a
// case or another alias (the same alias again is harmless).
func testAlias(t *testing.T, f Fixture) {
	s := f.Store
	const alias = "11111111-1111-1111-1111-111111111111_cccccccc-cccc-cccc-cccc-cccccccccccc"
	_, err := s.Commit(ctx, ledger.Commit{Case: ledger.CaseRecord{Key: keyA, Data: []byte(`{"v":1}`), State: "inactive"}})
	must(t, err)
	_, err = s.Commit(ctx, ledger.Commit{Case: ledger.CaseRecord{Key: keyB, Data: []byte(`{"v":2}`), State: "tracking"}})
	must(t, err)
	must(t, s.PutAlias(ctx, alias, keyA))
	if err := s.PutAlias(ctx, alias, keyA); err != nil {
		t.Fatalf("the same alias again: %v", err)
	}
	for _, tc := range []struct{ alias, to string }{{alias, keyB}, {keyB, keyA}} {
		if err := s.PutAlias(ctx, tc.alias, tc.to); !errors.Is(err, ledger.ErrConflict) {
			t.Errorf("alias %s to %s over an existing row: %v, want ErrConflict", tc.alias, tc.to, err)
		}
	}
	f.Counter.Reset()
	rec, err := s.LoadCase(ctx, alias)
	must(t, err)
	if rec.Key != keyA || string(rec.Data) != `{"v":1}` || rec.ETag == "" {
		t.Errorf("LoadCase(alias) = %+v, want the case %s", rec, keyA)
	}
	if n := f.Counter.Total(); n != 2 {
		t.Errorf("LoadCase through an alias: %d round trips (%v), want 2", n, f.Counter.Snapshot())
	}
	_, err = s.Commit(ctx, ledger.Commit{Case: ledger.CaseRecord{Key: alias, Data: []byte(`{"v":3}`)}, EventID: "e1"})
	if !errors.Is(err, ledger.ErrConflict) {
		t.Errorf("insert over an alias: %v, want ErrConflict", err)
	}
	_, err = s.Commit(ctx, ledger.Commit{Case: ledger.CaseRecord{Key: alias, Data: []byte(`{"v":4}`), ETag: rec.ETag}})
	if !errors.Is(err, ledger.ErrConflict) {
		t.Errorf("replace over an alias with its case's ETag: %v, want ErrConflict", err)
	}
	if rec := mustLoad(t, s, keyA); string(rec.Data) != `{"v":1}` {
		t.Errorf("the case behind the alias changed: %s", rec.Data)
	}
	var keys []string
	must(t, s.ListCases(ctx, func(r ledger.CaseRecord) error { keys = append(keys, r.Key); return nil }))
	if strings.Join(keys, ",") != keyA+","+keyB {
		t.Errorf("ListCases = %v, want the two cases and not the alias", keys)
	}
}

func testMarkOnce(t *testing.T, f Fixture) {
	s := f.Store
	for i, tc := range []struct {
		kind ledger.OnceKind
		id   string
		want bool
	}{
		{ledger.OnceRejectedAlert, "rejected:m1:bad", true},
		{ledger.OnceRejectedAlert, "rejected:m1:bad", false},
		{ledger.OnceRejectedAlert, "REJECTED:M1:BAD", false}, // ids match as index values do
		{ledger.OnceRejectedAlert, "rejected:m2:bad", true},
		{"otherKind", "rejected:m1:bad", true},
	} {
		got, err := s.MarkOnce(ctx, tc.kind, tc.id)
		if err != nil || got != tc.want {
			t.Fatalf("%d MarkOnce(%s, %s) = %v %v, want %v", i, tc.kind, tc.id, got, err, tc.want)
		}
	}
	// An index row of the same kind and value is a different row.
	must(t, s.PutIndex(ctx, "k", "v", keyA))
	if first, err := s.MarkOnce(ctx, "k", "v"); err != nil || !first {
		t.Fatalf("mark beside an index row: %v %v", first, err)
	}
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	firsts := 0
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.MarkOnce(ctx, ledger.OnceRejectedAlert, "race")
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				firsts++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firsts != 1 {
		t.Fatalf("%d of %d concurrent callers were first", firsts, n)
	}
}

func testState(t *testing.T, f Fixture) {
	s := f.Store
	r, err := s.LoadState(ctx, "sub")
	if err != nil || r.Name != "sub" || r.ETag != "" || len(r.Data) != 0 {
		t.Fatalf("missing state row: %+v %v", r, err)
	}
	e1, err := s.SaveState(ctx, ledger.StateRecord{Name: "sub", Data: []byte("v1")})
	if err != nil || e1 == "" {
		t.Fatalf("insert: %q %v", e1, err)
	}
	if _, err := s.SaveState(ctx, ledger.StateRecord{Name: "sub", Data: []byte("v1b")}); !errors.Is(err, ledger.ErrConflict) {
		t.Fatalf("second insert: %v, want ErrConflict", err)
	}
	e2, err := s.SaveState(ctx, ledger.StateRecord{Name: "sub", Data: []byte("v2"), ETag: e1})
	if err != nil || e2 == e1 {
		t.Fatalf("replace: %q %v", e2, err)
	}
	if _, err := s.SaveState(ctx, ledger.StateRecord{Name: "sub", Data: []byte("v3"), ETag: e1}); !errors.Is(err, ledger.ErrConflict) {
		t.Fatalf("stale replace: %v, want ErrConflict", err)
	}
	if r, _ := s.LoadState(ctx, "sub"); string(r.Data) != "v2" || r.ETag != e2 {
		t.Fatalf("after a refused replace: %q %q", r.Data, r.ETag)
	}
	// An ETag for a row that is not there (deleted, or from another
	// store): somebody else's version, a conflict like any stale ETag.
	if _, err := s.SaveState(ctx, ledger.StateRecord{Name: "other", Data: []byte("x"), ETag: e2}); !errors.Is(err, ledger.ErrConflict) {
		t.Fatalf("replace of a missing row: %v, want ErrConflict", err)
	}
	must(t, s.PutState(ctx, ledger.StateRecord{Name: "sub", Data: []byte("v4"), ETag: e1}))
	if r, _ := s.LoadState(ctx, "sub"); string(r.Data) != "v4" || r.ETag == e2 || r.ETag == "" {
		t.Fatalf("after PutState: %q %q", r.Data, r.ETag)
	}
	if _, err := s.LoadState(ctx, "a/b"); !errors.Is(err, ledger.ErrInvalidKey) {
		t.Fatalf("invalid name: %v", err)
	}
}

func testRuns(t *testing.T, f Fixture) {
	s := f.Store
	if _, err := s.LastRun(ctx, "sweep"); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("before any run: %v, want ErrNotFound", err)
	}
	long := strings.Repeat("ü", ledger.MaxRunSummaryUnits+10)
	for i, ok := range []bool{true, false} {
		at := t0.Add(time.Duration(i) * time.Hour).In(time.FixedZone("z", 7200))
		must(t, s.RecordRun(ctx, ledger.Run{Name: "sweep", At: at, OK: ok, Summary: long}))
		got, err := s.LastRun(ctx, "sweep")
		if err != nil || !got.At.Equal(at.Truncate(ledger.Precision)) || got.At.Equal(at) || got.At.Location() != time.UTC ||
			got.OK != ok || got.Name != "sweep" || got.Summary != long[:2*ledger.MaxRunSummaryUnits] {
			t.Fatalf("run %d: %+v (%d chars) %v", i, got.At, len([]rune(got.Summary)), err)
		}
	}
	if _, err := s.LastRun(ctx, "reconcile"); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("another name: %v", err)
	}
}

func testRejected(t *testing.T, f Fixture) {
	s := f.Store
	if err := s.Reject(ctx, ledger.RejectedEvent{Queue: "q"}); err == nil {
		t.Fatal("a rejection without ReceivedAt was kept")
	}
	day1 := t0.AddDate(0, 0, -1)
	bin := bytes.Repeat([]byte{0xff, 0x00}, ledger.MaxRejectedBodyBytes)
	// Long, with multi-byte characters around the cut: truncation counts
	// UTF-16 units, not bytes. The body stays ASCII up to there, because
	// Azurite stores a character split across two chunks of a request body
	// as U+FFFD (Azure/Azurite#2670; seen at 32 KiB), which Azure does not.
	long := strings.Repeat("x", ledger.MaxRejectedBodyUnits-5) + strings.Repeat("é", 10)
	for _, r := range []ledger.RejectedEvent{
		{Queue: "hr", Code: "old", MessageID: "m0", ReceivedAt: day1, Body: []byte(`{"a":1}`)},
		{Queue: "hr", Code: "new", MessageID: "m1", ReceivedAt: t0, Body: bin},
		{Queue: "hr", Code: "new", MessageID: "m1", ReceivedAt: t0, Body: bin}, // a redelivery: one row
		{Queue: "hr", Code: "long", MessageID: "m2", ReceivedAt: t0.Add(-time.Minute), Body: []byte(long),
			Reason: strings.Repeat("r", ledger.MaxRejectedFieldUnits+1)},
	} {
		must(t, s.Reject(ctx, r))
	}
	var got []ledger.RejectedEvent
	must(t, s.ListRejected(ctx, 0, func(r ledger.RejectedEvent) error { got = append(got, r); return nil }))
	var codes []string
	for _, r := range got {
		codes = append(codes, r.Code)
	}
	if strings.Join(codes, ",") != "new,long,old" {
		t.Fatalf("rejections %v, want newest first: new,long,old", codes)
	}
	if !bytes.Equal(got[0].Body, bin[:ledger.MaxRejectedBodyBytes]) || !got[0].ReceivedAt.Equal(t0.Truncate(ledger.Precision)) || got[0].ReceivedAt.Location() != time.UTC {
		t.Fatalf("binary body %d bytes, at %v", len(got[0].Body), got[0].ReceivedAt)
	}
	if string(got[1].Body) != long[:ledger.MaxRejectedBodyUnits+5] || len(got[1].Reason) != ledger.MaxRejectedFieldUnits {
		t.Fatalf("long text kept as %d bytes, reason %d", len(got[1].Body), len(got[1].Reason))
	}
	if string(got[2].Body) != `{"a":1}` || got[2].MessageID != "m0" || got[2].Queue != "hr" {
		t.Fatalf("oldest: %+v", got[2])
	}
	n := 0
	must(t, s.ListRejected(ctx, 2, func(ledger.RejectedEvent) error { n++; return nil }))
	if n != 2 {
		t.Fatalf("max 2 listed %d", n)
	}
	// Same instant, different content: two rows.
	must(t, s.Reject(ctx, ledger.RejectedEvent{Queue: "hr", Code: "new", MessageID: "m9", ReceivedAt: t0}))
	// Far from now both ways (Azure's DateTime range is 1601–9999).
	must(t, s.Reject(ctx, ledger.RejectedEvent{Code: "future", ReceivedAt: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)}))
	must(t, s.Reject(ctx, ledger.RejectedEvent{Code: "past", ReceivedAt: time.Date(1700, 1, 1, 0, 0, 0, 0, time.UTC)}))
	codes = codes[:0]
	must(t, s.ListRejected(ctx, 0, func(r ledger.RejectedEvent) error { codes = append(codes, r.Code); return nil }))
	if len(codes) != 6 || codes[0] != "future" || codes[5] != "past" {
		t.Fatalf("rejections %v, want 6 from future to past", codes)
	}
}

// testRoundTrips holds every operation to the requests the Table Storage
// store sends: the engine's budget (docs/performance.md) is counted in them.
func testRoundTrips(t *testing.T, f Fixture) {
	s := f.Store
	var rec ledger.CaseRecord
	tm := ledger.Timer{CaseKey: keyA, Kind: "k", DueAt: t0}
	for _, step := range []struct {
		op  string
		run func() error
	}{
		{"LoadCase", func() error { _, err := s.LoadCase(ctx, keyA); return ignore(err, ledger.ErrNotFound) }},
		{"Commit", func() error {
			_, err := s.Commit(ctx, ledger.Commit{Case: ledger.CaseRecord{Key: keyA}, Audit: auditN(50, t0), EventID: "e1"})
			return err
		}},
		{"LoadCase", func() (err error) { rec, err = s.LoadCase(ctx, keyA); return err }},
		{"Commit", func() error {
			_, err := s.Commit(ctx, ledger.Commit{Case: rec, EventID: "e1"})
			return ignore(err, ledger.ErrDuplicateEvent)
		}},
		{"Commit", func() error {
			_, err := s.Commit(ctx, ledger.Commit{Case: ledger.CaseRecord{Key: keyA}})
			return ignore(err, ledger.ErrConflict)
		}},
		{"Commit", func() error { _, err := s.Commit(ctx, ledger.Commit{Case: rec, Audit: auditN(3, t0)}); return err }},
		{"ListAudit", func() error { return s.ListAudit(ctx, keyA, func(ledger.AuditRecord) error { return nil }) }},
		{"ListCases", func() error { return s.ListCases(ctx, func(ledger.CaseRecord) error { return nil }) }},
		{"PutTimer", func() error { return s.PutTimer(ctx, tm) }},
		{"DueTimers", func() error { return s.DueTimers(ctx, t0, 0, func(ledger.Timer) error { return nil }) }},
		{"DueTimers", func() error { return s.DueTimers(ctx, t0.Add(-time.Hour), 0, func(ledger.Timer) error { return nil }) }},
		{"DeleteTimer", func() error { return s.DeleteTimer(ctx, tm) }},
		{"DeleteTimer", func() error { return s.DeleteTimer(ctx, tm) }},
		{"PutIndex", func() error { return s.PutIndex(ctx, ledger.IndexUPN, "a@b.test", keyA) }},
		{"LookupIndex", func() error { _, err := s.LookupIndex(ctx, ledger.IndexUPN, "a@b.test"); return err }},
		{"LookupIndex", func() error {
			_, err := s.LookupIndex(ctx, ledger.IndexUPN, "none")
			return ignore(err, ledger.ErrNotFound)
		}},
		{"PutAlias", func() error { return s.PutAlias(ctx, keyB, keyA) }},
		{"MarkOnce", func() error { _, err := s.MarkOnce(ctx, ledger.OnceRejectedAlert, "x"); return err }},
		{"MarkOnce", func() error { _, err := s.MarkOnce(ctx, ledger.OnceRejectedAlert, "x"); return err }},
		{"Reject", func() error { return s.Reject(ctx, ledger.RejectedEvent{Queue: "q", ReceivedAt: t0}) }},
		{"ListRejected", func() error { return s.ListRejected(ctx, 0, func(ledger.RejectedEvent) error { return nil }) }},
		{"LoadState", func() error { _, err := s.LoadState(ctx, "n"); return err }},
		{"SaveState", func() error { _, err := s.SaveState(ctx, ledger.StateRecord{Name: "n"}); return err }},
		{"SaveState", func() error {
			_, err := s.SaveState(ctx, ledger.StateRecord{Name: "n"})
			return ignore(err, ledger.ErrConflict)
		}},
		{"PutState", func() error { return s.PutState(ctx, ledger.StateRecord{Name: "n"}) }},
		{"RecordRun", func() error { return s.RecordRun(ctx, ledger.Run{Name: "r", At: t0}) }},
		{"LastRun", func() error { _, err := s.LastRun(ctx, "r"); return err }},
	} {
		f.Counter.Reset()
		if err := step.run(); err != nil {
			t.Fatalf("%s: %v", step.op, err)
		}
		if got := f.Counter.String(); got != step.op+"=1" {
			t.Errorf("%s: round trips %q, want %s=1", step.op, got, step.op)
		}
	}
}

// ignore treats the expected error as success.
func ignore(err, want error) error {
	if err == nil {
		return fmt.Errorf("no error, want %w", want)
	}
	if errors.Is(err, want) {
		return nil
	}
	return err
}

package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holdfast/holdfast/shared/ledger"
	"github.com/holdfast/holdfast/shared/store"
	"github.com/holdfast/holdfast/shared/testbed/azurite"
)

// open starts Azurite for t and opens a store with a counter.
func open(t *testing.T) (*store.Store, *ledger.Counter) {
	t.Helper()
	az := azurite.ForTest(t)
	c := &ledger.Counter{}
	s, err := store.Open(context.Background(), store.Options{ConnectionString: az.ConnectionString, Counter: c})
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

const keyA = "11111111-1111-1111-1111-111111111111_aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"

var t0 = time.Date(2026, 3, 10, 9, 30, 0, 123456789, time.UTC)

func auditN(n int, at time.Time) []ledger.AuditRecord {
	var out []ledger.AuditRecord
	for i := range n {
		out = append(out, ledger.AuditRecord{At: at, Seq: i, Actor: "engine", Action: fmt.Sprintf("step%d", i), Result: "ok"})
	}
	return out
}

func countAudit(t *testing.T, s *store.Store, key string) int {
	t.Helper()
	n := 0
	if err := s.ListAudit(context.Background(), key, func(ledger.AuditRecord) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestOpenUseDevelopmentStorage(t *testing.T) {
	az := azurite.ForTest(t)
	// config.ExpandStorageConnectionString maps the shorthand to port 10002;
	// redirect that address to this test's Azurite so the test needs no
	// fixed port.
	target := fmt.Sprintf("127.0.0.1:%d", az.Port)
	var dialed []string
	var mu sync.Mutex
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		dialed = append(dialed, addr)
		mu.Unlock()
		if addr == "127.0.0.1:10002" {
			addr = target
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	ctx := context.Background()
	for _, cs := range []string{"UseDevelopmentStorage=true", "UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://127.0.0.1"} {
		t.Run(cs, func(t *testing.T) {
			s, err := store.Open(ctx, store.Options{ConnectionString: cs, HTTPClient: &http.Client{Transport: tr}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.LoadCase(ctx, keyA); !errors.Is(err, ledger.ErrNotFound) {
				t.Fatalf("LoadCase on empty store: %v, want ErrNotFound", err)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if len(dialed) == 0 || dialed[0] != "127.0.0.1:10002" {
		t.Fatalf("dialed %v, want 127.0.0.1:10002 from the expanded connection string", dialed)
	}
}

func TestOpenOptions(t *testing.T) {
	az := azurite.ForTest(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		opts store.Options
		ok   bool
	}{
		{"default prefix", store.Options{ConnectionString: az.ConnectionString}, true},
		{"again: tables exist", store.Options{ConnectionString: az.ConnectionString}, true},
		{"custom prefix", store.Options{ConnectionString: az.ConnectionString, TablePrefix: "t1"}, true},
		{"prefix starting with digit", store.Options{ConnectionString: az.ConnectionString, TablePrefix: "1t"}, false},
		{"prefix with dash", store.Options{ConnectionString: az.ConnectionString, TablePrefix: "a-b"}, false},
		{"nothing", store.Options{}, false},
		{"url without credential", store.Options{ServiceURL: az.Endpoint}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := store.Open(ctx, tc.opts)
			if (err == nil) != tc.ok {
				t.Fatalf("Open: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestCommitInsertUpdateConflict(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	deadline := time.Date(2026, 4, 9, 0, 0, 0, 0, time.UTC)

	etag, err := s.Commit(ctx, ledger.Commit{Case: ledger.CaseRecord{Key: keyA, Data: []byte(`{"v":1}`), State: "tracking", UPN: "a@x.test"}, Audit: auditN(2, t0)})
	if err != nil {
		t.Fatal(err)
	}
	stale := etag
	steps := []struct {
		name string
		rec  ledger.CaseRecord
		want error
	}{
		{"insert existing", ledger.CaseRecord{Key: keyA, Data: []byte(`{"v":9}`)}, ledger.ErrConflict},
		{"update with current etag", ledger.CaseRecord{Key: keyA, Data: []byte(`{"v":2}`), State: "protected", Deadline: deadline, ETag: etag}, nil},
		{"update with stale etag", ledger.CaseRecord{Key: keyA, Data: []byte(`{"v":9}`), ETag: stale}, ledger.ErrConflict},
		{"update clears deadline", ledger.CaseRecord{Key: keyA, Data: []byte(`{"v":3}`), State: "closed", ETag: "current"}, nil},
		{"update without data", ledger.CaseRecord{Key: keyA, State: "empty", ETag: "current"}, nil},
	}
	want := ledger.CaseRecord{Key: keyA, Data: []byte(`{"v":1}`), State: "tracking", UPN: "a@x.test"}
	for i, st := range steps {
		if st.rec.ETag == "current" {
			st.rec.ETag = etag
		}
		newTag, err := s.Commit(ctx, ledger.Commit{Case: st.rec, Audit: auditN(1, t0.Add(time.Duration(i+1)*time.Second))})
		if !errors.Is(err, st.want) {
			t.Fatalf("%s: err %v, want %v", st.name, err, st.want)
		}
		if err == nil {
			if newTag == "" || newTag == etag {
				t.Fatalf("%s: new etag %q (old %q)", st.name, newTag, etag)
			}
			etag, want = newTag, st.rec
		}
		got, err := s.LoadCase(ctx, keyA)
		if err != nil {
			t.Fatal(err)
		}
		if got.ETag != etag {
			t.Fatalf("%s: LoadCase etag %q, Commit returned %q", st.name, got.ETag, etag)
		}
		if !bytes.Equal(got.Data, want.Data) || got.State != want.State || got.UPN != want.UPN || !got.Deadline.Equal(want.Deadline) {
			t.Fatalf("%s: loaded %+v, want %+v", st.name, got, want)
		}
	}
	// 2 rows from the insert, 1 from each successful update.
	if n := countAudit(t, s, keyA); n != 5 {
		t.Fatalf("audit rows %d, want 5", n)
	}
}

func TestConcurrentWritersExactlyOneWins(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	for round := range 10 {
		key := fmt.Sprintf("tenant_obj%02d", round)
		etag, err := s.Commit(ctx, ledger.Commit{Case: ledger.CaseRecord{Key: key, Data: []byte(`{}`)}})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for w := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Same At and Seq in both: the audit tag keeps the keys distinct.
				_, errs[w] = s.Commit(ctx, ledger.Commit{
					Case:  ledger.CaseRecord{Key: key, Data: []byte(fmt.Sprintf(`{"writer":%d}`, w)), ETag: etag},
					Audit: auditN(1, t0), EventID: fmt.Sprintf("evt-%d", w),
				})
			}()
		}
		wg.Wait()
		won := -1
		for w, err := range errs {
			switch {
			case err == nil:
				if won >= 0 {
					t.Fatalf("round %d: both writers won", round)
				}
				won = w
			case !errors.Is(err, ledger.ErrConflict):
				t.Fatalf("round %d writer %d: %v, want ErrConflict", round, w, err)
			}
		}
		if won < 0 {
			t.Fatalf("round %d: no writer won: %v", round, errs)
		}
		got, err := s.LoadCase(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf(`{"writer":%d}`, won); string(got.Data) != want {
			t.Fatalf("round %d: data %s, want %s", round, got.Data, want)
		}
		if n := countAudit(t, s, key); n != 1 {
			t.Fatalf("round %d: %d audit rows, want only the winner's", round, n)
		}
		loser := fmt.Sprintf("evt-%d", 1-won)
		if has, err := s.HasEvent(ctx, key, loser); err != nil || has {
			t.Fatalf("round %d: loser's marker present=%v err=%v", round, has, err)
		}
	}
}

func TestDedupeAndAtomicity(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	etag, err := s.Commit(ctx, ledger.Commit{Case: ledger.CaseRecord{Key: keyA, Data: []byte(`{"v":1}`)}, Audit: auditN(1, t0), EventID: "graph:1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		etag  string
		event string
		want  error
	}{
		{"duplicate event", etag, "graph:1", ledger.ErrDuplicateEvent},
		{"duplicate event and stale etag: duplicate wins", `W/"datetime'2000-01-01T00%3A00%3A00.0000000Z'"`, "graph:1", ledger.ErrDuplicateEvent},
		{"new event, stale etag", `W/"datetime'2000-01-01T00%3A00%3A00.0000000Z'"`, "graph:2", ledger.ErrConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Commit(ctx, ledger.Commit{
				Case:  ledger.CaseRecord{Key: keyA, Data: []byte(`{"v":2}`), ETag: tc.etag},
				Audit: auditN(5, t0.Add(time.Hour)), EventID: tc.event,
			})
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			// Nothing of the failed transaction was written.
			got, err := s.LoadCase(ctx, keyA)
			if err != nil {
				t.Fatal(err)
			}
			if string(got.Data) != `{"v":1}` || got.ETag != etag {
				t.Fatalf("case changed: %s %s", got.Data, got.ETag)
			}
			if n := countAudit(t, s, keyA); n != 1 {
				t.Fatalf("audit rows %d, want 1", n)
			}
			if has, err := s.HasEvent(ctx, keyA, "graph:2"); err != nil || has {
				t.Fatalf("marker graph:2 present=%v err=%v", has, err)
			}
		})
	}
	if has, err := s.HasEvent(ctx, keyA, "graph:1"); err != nil || !has {
		t.Fatalf("marker graph:1 present=%v err=%v", has, err)
	}
	// A new event with the current ETag goes through.
	if _, err := s.Commit(ctx, ledger.Commit{Case: ledger.CaseRecord{Key: keyA, Data: []byte(`{"v":3}`), ETag: etag}, EventID: "graph:2"}); err != nil {
		t.Fatal(err)
	}
}

func TestLimitsRejectedClientSide(t *testing.T) {
	s, counter := open(t)
	ctx := context.Background()
	big := strings.Repeat("x", 32*1024)
	fat := func(n int) []ledger.AuditRecord {
		a := auditN(n, t0)
		for i := range a {
			a[i].Detail, a[i].Actor, a[i].Action, a[i].Result = big, big, big, big
		}
		return a
	}
	for _, tc := range []struct {
		name string
		c    ledger.Commit
		want error
	}{
		{"case data over 60 KiB", ledger.Commit{Case: ledger.CaseRecord{Key: keyA, Data: make([]byte, ledger.MaxCaseData+1)}}, ledger.ErrLimit},
		{"string property over 64 KiB", ledger.Commit{Case: ledger.CaseRecord{Key: keyA, State: big + "y"}}, ledger.ErrLimit},
		{"string over 64 KiB in UTF-16 (non-ASCII)", ledger.Commit{Case: ledger.CaseRecord{Key: keyA, UPN: strings.Repeat("😀", 16*1024+1)}}, ledger.ErrLimit},
		{"101 operations", ledger.Commit{Case: ledger.CaseRecord{Key: keyA}, Audit: auditN(100, t0)}, ledger.ErrLimit},
		{"102 operations with marker", ledger.Commit{Case: ledger.CaseRecord{Key: keyA}, Audit: auditN(100, t0), EventID: "e"}, ledger.ErrLimit},
		{"audit row of another case", ledger.Commit{Case: ledger.CaseRecord{Key: keyA}, Audit: []ledger.AuditRecord{{CaseKey: "other", At: t0}}}, ledger.ErrLimit},
		{"body over 4 MiB", ledger.Commit{Case: ledger.CaseRecord{Key: keyA}, Audit: fat(40)}, ledger.ErrLimit},
		{"audit time before 1601", ledger.Commit{Case: ledger.CaseRecord{Key: keyA}, Audit: []ledger.AuditRecord{{At: time.Time{}}}}, ledger.ErrLimit},
		{"empty key", ledger.Commit{Case: ledger.CaseRecord{Key: ""}}, ledger.ErrInvalidKey},
		{"slash in key", ledger.Commit{Case: ledger.CaseRecord{Key: "a/b"}}, ledger.ErrInvalidKey},
		{"backslash in key", ledger.Commit{Case: ledger.CaseRecord{Key: `a\b`}}, ledger.ErrInvalidKey},
		{"hash in key", ledger.Commit{Case: ledger.CaseRecord{Key: "a#b"}}, ledger.ErrInvalidKey},
		{"question mark in key", ledger.Commit{Case: ledger.CaseRecord{Key: "a?b"}}, ledger.ErrInvalidKey},
		{"control char in key", ledger.Commit{Case: ledger.CaseRecord{Key: "a\tb"}}, ledger.ErrInvalidKey},
		{"C1 control char in key", ledger.Commit{Case: ledger.CaseRecord{Key: "a\u0085b"}}, ledger.ErrInvalidKey},
		{"key over 1 KiB", ledger.Commit{Case: ledger.CaseRecord{Key: strings.Repeat("k", 513)}}, ledger.ErrInvalidKey},
		{"repeated audit row", ledger.Commit{Case: ledger.CaseRecord{Key: keyA}, Audit: []ledger.AuditRecord{{At: t0}, {At: t0}}}, ledger.ErrInvalidKey},
		{"audit seq out of range", ledger.Commit{Case: ledger.CaseRecord{Key: keyA}, Audit: []ledger.AuditRecord{{At: t0, Seq: 10000}}}, ledger.ErrInvalidKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			counter.Reset()
			_, err := s.Commit(ctx, tc.c)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if n := counter.Total(); n != 0 {
				t.Fatalf("%d requests sent, want 0 (%s)", n, counter)
			}
		})
	}
	// The largest legal commit goes through: 100 operations, 60 KiB of data.
	if _, err := s.Commit(ctx, ledger.Commit{Case: ledger.CaseRecord{Key: keyA, Data: make([]byte, ledger.MaxCaseData)}, Audit: auditN(98, t0), EventID: "e"}); err != nil {
		t.Fatalf("100-operation commit: %v", err)
	}
	if n := countAudit(t, s, keyA); n != 98 {
		t.Fatalf("audit rows %d, want 98", n)
	}
}

func TestKeysWithQuotesAndPercent(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	for _, key := range []string{"o'brien_x", "a%20b_c", "ümlaut_日本", "a b'c''d_e"} {
		t.Run(key, func(t *testing.T) {
			if _, err := s.Commit(ctx, ledger.Commit{Case: ledger.CaseRecord{Key: key, Data: []byte(`{}`), UPN: key}, Audit: auditN(2, t0), EventID: "e1"}); err != nil {
				t.Fatal(err)
			}
			got, err := s.LoadCase(ctx, key)
			if err != nil || got.Key != key || got.UPN != key {
				t.Fatalf("LoadCase %+v %v", got, err)
			}
			if n := countAudit(t, s, key); n != 2 {
				t.Fatalf("audit rows %d, want 2", n)
			}
			if has, err := s.HasEvent(ctx, key, "e1"); err != nil || !has {
				t.Fatalf("HasEvent %v %v", has, err)
			}
			if err := s.PutTimer(ctx, ledger.Timer{CaseKey: key, Kind: "wake", DueAt: t0}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestListCasesAndAudit(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	keys := []string{"t_b", "t_a", "t_c"}
	for i, k := range keys {
		a := auditN(3, t0.Add(time.Duration(i)*time.Nanosecond))
		a[1].Detail, a[1].EventID = "détail", "ev"
		if _, err := s.Commit(ctx, ledger.Commit{Case: ledger.CaseRecord{Key: k, Data: []byte(`{"k":"` + k + `"}`), State: "s" + k}, Audit: a, EventID: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]ledger.CaseRecord{}
	if err := s.ListCases(ctx, func(r ledger.CaseRecord) error { got[r.Key] = r; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(keys) {
		t.Fatalf("ListCases returned %d cases (audit or marker rows leaked?): %v", len(got), got)
	}
	for _, k := range keys {
		if r := got[k]; string(r.Data) != `{"k":"`+k+`"}` || r.State != "s"+k || r.ETag == "" {
			t.Fatalf("case %s: %+v", k, r)
		}
	}
	var audit []ledger.AuditRecord
	if err := s.ListAudit(ctx, "t_a", func(a ledger.AuditRecord) error { audit = append(audit, a); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(audit) != 3 {
		t.Fatalf("audit %+v", audit)
	}
	for i, a := range audit {
		// t_a was committed second: At = t0 + 1ns, kept to the nanosecond.
		if a.Seq != i || a.CaseKey != "t_a" || !a.At.Equal(t0.Add(time.Nanosecond)) || a.Action != fmt.Sprintf("step%d", i) {
			t.Fatalf("audit[%d] = %+v", i, a)
		}
	}
	if audit[1].Detail != "détail" || audit[1].EventID != "ev" || audit[1].Actor != "engine" || audit[1].Result != "ok" {
		t.Fatalf("audit[1] = %+v", audit[1])
	}
	// Stop early: fn's error comes back.
	stop := errors.New("stop")
	n := 0
	if err := s.ListCases(ctx, func(ledger.CaseRecord) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Fatalf("ListCases stop: %v after %d", err, n)
	}
}

func TestDueTimersRangeRead(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	now := time.Date(2026, 5, 19, 12, 0, 0, 0, time.UTC)
	midnight := time.Date(2026, 5, 19, 0, 0, 0, 0, time.UTC)
	timers := []struct {
		key, kind string
		due       time.Time
		isDue     bool
	}{
		{"t_old", "wake", now.AddDate(0, -1, 0), true},
		{"t_2days", "warn", now.Add(-48 * time.Hour), true},
		{"t_yesterday_last_ns", "wake", midnight.Add(-time.Nanosecond), true},
		{"t_today_midnight", "wake", midnight, true},
		{"t_now", "wake", now, true},
		{"t_now", "check", now, true},
		{"t_1ns_late", "wake", now.Add(time.Nanosecond), false},
		{"t_today_last_ns", "wake", midnight.Add(24*time.Hour - time.Nanosecond), false},
		{"t_tomorrow_midnight", "wake", midnight.Add(24 * time.Hour), false},
		{"t_next_year", "wake", now.AddDate(1, 0, 0), false},
		// 22:00 on 18 May at -05:00 is 03:00Z on 19 May: keys are UTC.
		{"t_other_zone", "wake", time.Date(2026, 5, 18, 22, 0, 0, 0, time.FixedZone("x", -5*3600)), true},
	}
	wantDue := map[string]time.Time{}
	for i := range 40 { // background: timers far in the future must not be read
		if err := s.PutTimer(ctx, ledger.Timer{CaseKey: fmt.Sprintf("t_future%02d", i), Kind: "wake", DueAt: now.Add(time.Duration(i+1) * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tm := range timers {
		if err := s.PutTimer(ctx, ledger.Timer{CaseKey: tm.key, Kind: tm.kind, DueAt: tm.due}); err != nil {
			t.Fatal(err)
		}
		// Twice: idempotent.
		if err := s.PutTimer(ctx, ledger.Timer{CaseKey: tm.key, Kind: tm.kind, DueAt: tm.due}); err != nil {
			t.Fatal(err)
		}
		if tm.isDue {
			wantDue[tm.key+"/"+tm.kind] = tm.due
		}
	}
	for _, tc := range []struct {
		name string
		max  int
		want int
	}{{"all", 0, len(wantDue)}, {"max 1000", 1000, len(wantDue)}, {"max 3", 3, 3}, {"max 1", 1, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.QueryStats()
			var got []ledger.Timer
			if err := s.DueTimers(ctx, now, tc.max, func(tm ledger.Timer) error { got = append(got, tm); return nil }); err != nil {
				t.Fatal(err)
			}
			after := s.QueryStats()
			if len(got) != tc.want {
				t.Fatalf("got %d timers, want %d: %+v", len(got), tc.want, got)
			}
			for i, tm := range got {
				due, ok := wantDue[tm.CaseKey+"/"+tm.Kind]
				if !ok || !tm.DueAt.Equal(due) || tm.ETag == "" {
					t.Fatalf("unexpected timer %+v (want due %v)", tm, due)
				}
				if i > 0 && tm.DueAt.Before(got[i-1].DueAt) {
					t.Fatalf("not in due order: %v after %v", tm.DueAt, got[i-1].DueAt)
				}
			}
			// The read touched only due timers: entities returned = timers wanted.
			if d := after.Entities - before.Entities; d != int64(tc.want) {
				t.Fatalf("entities read %d, want %d", d, tc.want)
			}
			if d := after.Pages - before.Pages; d != 1 {
				t.Fatalf("pages %d, want 1", d)
			}
			if d := after.Queries - before.Queries; d != 1 {
				t.Fatalf("queries %d, want 1", d)
			}
		})
	}
	for _, tc := range []struct {
		name string
		t    ledger.Timer
	}{
		{"no kind", ledger.Timer{CaseKey: "k", DueAt: now}},
		{"no due time", ledger.Timer{CaseKey: "k", Kind: "wake"}},
		{"bad case key", ledger.Timer{CaseKey: "a/b", Kind: "wake", DueAt: now}},
		{"bad kind", ledger.Timer{CaseKey: "k", Kind: "w#", DueAt: now}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.PutTimer(ctx, tc.t); !errors.Is(err, ledger.ErrInvalidKey) {
				t.Fatalf("PutTimer: %v, want ErrInvalidKey", err)
			}
		})
	}
}

func TestDeleteTimer(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	due := t0
	read := func() []ledger.Timer {
		var out []ledger.Timer
		if err := s.DueTimers(ctx, due, 0, func(tm ledger.Timer) error { out = append(out, tm); return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if err := s.PutTimer(ctx, ledger.Timer{CaseKey: keyA, Kind: "wake", DueAt: due}); err != nil {
		t.Fatal(err)
	}
	old := read()
	if len(old) != 1 {
		t.Fatalf("due %+v", old)
	}
	// Rewritten meanwhile (another instance rescheduled it): new ETag.
	if err := s.PutTimer(ctx, ledger.Timer{CaseKey: keyA, Kind: "wake", DueAt: due}); err != nil {
		t.Fatal(err)
	}
	cur := read()
	if len(cur) != 1 || cur[0].ETag == old[0].ETag {
		t.Fatalf("rewrite did not change the etag: %+v %+v", old, cur)
	}
	for _, tc := range []struct {
		name string
		t    ledger.Timer
		want error
	}{
		{"stale etag", old[0], ledger.ErrConflict},
		{"current etag", cur[0], nil},
		{"already gone", cur[0], nil},
		{"gone, any version", ledger.Timer{CaseKey: keyA, Kind: "wake", DueAt: due}, nil},
	} {
		if err := s.DeleteTimer(ctx, tc.t); !errors.Is(err, tc.want) {
			t.Fatalf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if left := read(); len(left) != 0 {
		t.Fatalf("timers left: %+v", left)
	}
}

func TestRejectedRoundTrip(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	day := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	// ASCII on purpose: Azurite decodes request bodies chunk by chunk, so a
	// multi-byte character split across two network chunks comes back as
	// two U+FFFD (seen under load: 60,004 bytes for 60,000). Truncation of
	// multi-byte text by UTF-16 units is covered by the truncateUnits test.
	long := strings.Repeat("ab", 40000)
	invalid := append([]byte{0xff, 0xfe, 0x00}, bytes.Repeat([]byte{0xc3}, 30000)...)
	evs := []struct {
		ev       ledger.RejectedEvent
		wantBody []byte
	}{
		{ledger.RejectedEvent{Queue: "graph", Code: "unknown", Reason: "unknown type", Field: "type", MessageID: "m1", ReceivedAt: day.AddDate(0, 0, -2), Body: []byte(`{"type":"x"}`)}, []byte(`{"type":"x"}`)},
		{ledger.RejectedEvent{Queue: "hr", Code: "json", Reason: "not JSON", MessageID: "m2", ReceivedAt: day, Body: invalid}, invalid[:20000]},
		{ledger.RejectedEvent{Queue: "hr", Code: "big", MessageID: "m3", ReceivedAt: day.Add(time.Nanosecond * 100), Body: []byte(long)}, []byte(long[:30000])},
		{ledger.RejectedEvent{Queue: "hr", Code: "empty", MessageID: "m4", ReceivedAt: day.AddDate(0, 0, 1).Add(-time.Second)}, nil},
		{ledger.RejectedEvent{Queue: "hr", Code: "long-fields", Reason: strings.Repeat("r", 100000), MessageID: "m5", ReceivedAt: day.AddDate(0, -1, 0), Body: []byte("x")}, []byte("x")},
	}
	for _, e := range evs {
		if err := s.Reject(ctx, e.ev); err != nil {
			t.Fatalf("%s: %v", e.ev.MessageID, err)
		}
	}
	// Redelivered: the same rejection is one row.
	if err := s.Reject(ctx, evs[0].ev); err != nil {
		t.Fatal(err)
	}
	if err := s.Reject(ctx, ledger.RejectedEvent{Queue: "q"}); err == nil {
		t.Fatal("rejected event without ReceivedAt accepted")
	}
	var got []ledger.RejectedEvent
	if err := s.ListRejected(ctx, 0, func(r ledger.RejectedEvent) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	wantOrder := []string{"m4", "m3", "m2", "m1", "m5"} // newest first, across days
	if len(got) != len(wantOrder) {
		t.Fatalf("got %d rows, want %d", len(got), len(wantOrder))
	}
	byID := map[string][]byte{}
	for _, e := range evs {
		byID[e.ev.MessageID] = e.wantBody
	}
	for i, r := range got {
		if r.MessageID != wantOrder[i] {
			t.Fatalf("row %d is %s, want %s", i, r.MessageID, wantOrder[i])
		}
		if !bytes.Equal(r.Body, byID[r.MessageID]) {
			t.Fatalf("%s: body %d bytes %q…, want %d bytes", r.MessageID, len(r.Body), r.Body[:min(len(r.Body), 20)], len(byID[r.MessageID]))
		}
	}
	if m1 := got[3]; m1.Queue != "graph" || m1.Code != "unknown" || m1.Reason != "unknown type" || m1.Field != "type" || !m1.ReceivedAt.Equal(day.AddDate(0, 0, -2)) {
		t.Fatalf("m1 = %+v", m1)
	}
	if n := len(got[4].Reason); n != 4000 {
		t.Fatalf("long reason kept %d chars, want 4000", n)
	}
	var top []string
	if err := s.ListRejected(ctx, 2, func(r ledger.RejectedEvent) error { top = append(top, r.MessageID); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(top, ",") != "m4,m3" {
		t.Fatalf("max 2: %v", top)
	}
}

func TestCounterOneRequestPerCommit(t *testing.T) {
	s, c := open(t)
	ctx := context.Background()
	c.Reset()
	etag, err := s.Commit(ctx, ledger.Commit{Case: ledger.CaseRecord{Key: keyA, Data: []byte(`{}`)}, Audit: auditN(3, t0), EventID: "e1"})
	if err != nil {
		t.Fatal(err)
	}
	const commits = 20
	for i := range commits - 1 {
		etag, err = s.Commit(ctx, ledger.Commit{Case: ledger.CaseRecord{Key: keyA, Data: []byte(`{}`), ETag: etag}, Audit: auditN(2, t0.Add(time.Duration(i+1)*time.Second)), EventID: fmt.Sprint("e", i+2)})
		if err != nil {
			t.Fatal(err)
		}
	}
	// A failed commit (stale ETag) is one request too.
	if _, err := s.Commit(ctx, ledger.Commit{Case: ledger.CaseRecord{Key: keyA, Data: []byte(`{}`), ETag: `W/"stale"`}, EventID: "e99"}); !errors.Is(err, ledger.ErrConflict) {
		t.Fatalf("stale commit: %v", err)
	}
	snap := c.Snapshot()
	if snap["Commit"] != commits+1 || c.Total() != commits+1 {
		t.Fatalf("requests %v (total %d), want exactly %d Commit requests", snap, c.Total(), commits+1)
	}
	if _, err := s.LoadCase(ctx, keyA); err != nil {
		t.Fatal(err)
	}
	if snap := c.Snapshot(); snap["LoadCase"] != 1 || c.Total() != commits+2 {
		t.Fatalf("after LoadCase: %v", snap)
	}
	t.Logf("round trips: %s", c)
}

// BenchmarkCommit measures sequential case updates (1 case row + 2 audit
// rows + marker per transaction) against Azurite.
func BenchmarkCommit(b *testing.B) {
	az := azurite.ForTest(b)
	c := &ledger.Counter{}
	s, err := store.Open(context.Background(), store.Options{ConnectionString: az.ConnectionString, Counter: c})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	etag := ""
	c.Reset()
	b.ResetTimer()
	for i := range b.N {
		etag, err = s.Commit(ctx, ledger.Commit{Case: ledger.CaseRecord{Key: keyA, Data: []byte(`{"n":1}`), ETag: etag}, Audit: auditN(2, t0.Add(time.Duration(i)*time.Millisecond)), EventID: fmt.Sprint("e", i)})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(c.Total())/float64(b.N), "requests/op")
}

// After Azurite restarts (in memory: every table is gone) the store
// recreates tables on first use instead of failing until reopened.
func TestRecoversAfterAzuriteRestart(t *testing.T) {
	az := azurite.ForTest(t)
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{ConnectionString: az.ConnectionString})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx, ledger.Commit{Case: ledger.CaseRecord{Key: keyA, Data: []byte(`{}`)}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		op   func() error
	}{
		{"LoadCase: data lost", func() error {
			if _, err := s.LoadCase(ctx, keyA); !errors.Is(err, ledger.ErrNotFound) {
				return fmt.Errorf("LoadCase: %v, want ErrNotFound", err)
			}
			return nil
		}},
		{"Commit", func() error {
			_, err := s.Commit(ctx, ledger.Commit{Case: ledger.CaseRecord{Key: keyA, Data: []byte(`{}`)}, Audit: auditN(1, t0), EventID: "e"})
			return err
		}},
		{"DueTimers", func() error { return s.DueTimers(ctx, t0, 10, func(ledger.Timer) error { return nil }) }},
		{"PutTimer", func() error { return s.PutTimer(ctx, ledger.Timer{CaseKey: keyA, Kind: "wake", DueAt: t0}) }},
		{"ListRejected", func() error { return s.ListRejected(ctx, 10, func(ledger.RejectedEvent) error { return nil }) }},
		{"Reject", func() error { return s.Reject(ctx, ledger.RejectedEvent{Queue: "q", ReceivedAt: t0}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := az.Restart(ctx); err != nil {
				t.Fatal(err)
			}
			if err := tc.op(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// BenchmarkCommitParallel: concurrent writers on distinct cases (the shape
// of a queue-triggered burst).
func BenchmarkCommitParallel(b *testing.B) {
	az := azurite.ForTest(b)
	s, err := store.Open(context.Background(), store.Options{ConnectionString: az.ConnectionString})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var mu sync.Mutex
	next := 0
	b.SetParallelism(4) // 8 writers on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		mu.Lock()
		key := fmt.Sprintf("bench_%d", next)
		next++
		mu.Unlock()
		etag := ""
		for i := 0; pb.Next(); i++ {
			var err error
			etag, err = s.Commit(ctx, ledger.Commit{Case: ledger.CaseRecord{Key: key, Data: []byte(`{"n":1}`), ETag: etag}, Audit: auditN(2, t0.Add(time.Duration(i)*time.Millisecond)), EventID: fmt.Sprint("e", i)})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}

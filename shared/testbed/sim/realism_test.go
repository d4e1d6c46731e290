package sim

import (
	"testing"
	"time"
)

// scopes reports in which Get-Mailbox scopes the mailbox with ExchangeGuid
// guid is shown now.
func (e *env) scopes(guid string) []string {
	e.t.Helper()
	var in []string
	for _, sc := range []struct {
		name string
		sw   string
	}{{"active", ""}, {"softDeleted", "SoftDeletedMailbox"}, {"inactive", "InactiveMailboxOnly"}} {
		p := map[string]any{"Identity": guid}
		if sc.sw != "" {
			p[sc.sw] = true
		}
		if st, _ := e.cmd("Get-Mailbox", p); st == 200 {
			in = append(in, sc.name)
		}
	}
	return in
}

func TestExchangeLag(t *testing.T) {
	const ann = "ann@contoso.test"
	cases := []struct {
		name   string
		lag    *ExchangeLag
		action func(e *env)
		during string // scopes shown during the lag, joined
		after  string
		truth  string
	}{
		{"delete shows no scope", &ExchangeLag{AfterDelete: &Lag{Min: "1h", Max: "1h", Shows: "none"}},
			func(e *env) { e.admin("deleteUser", ann) }, "", "softDeleted", "softDeleted"},
		{"delete shows the old scope", &ExchangeLag{AfterDelete: &Lag{Min: "1h", Max: "1h", Shows: "old"}},
			func(e *env) { e.admin("deleteUser", ann) }, "active", "softDeleted", "softDeleted"},
		{"restore shows the old scope", &ExchangeLag{AfterRestore: &Lag{Min: "1h", Max: "1h", Shows: "old"}},
			func(e *env) { e.admin("deleteUser", ann); e.admin("restoreUser", ann) }, "softDeleted", "active", "active"},
		{"no lag", nil, func(e *env) { e.admin("deleteUser", ann) }, "softDeleted", "softDeleted", "softDeleted"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, seed(ann, 10))
			guid := e.exchangeGUID(ann)
			e.s.SetRealism(Realism{ExchangeLag: tc.lag})
			tc.action(e)
			if got := join(e.scopes(guid)); got != tc.during {
				t.Fatalf("during the lag shown in %q, want %q", got, tc.during)
			}
			if got := e.mb(ann).State; got != tc.truth {
				t.Fatalf("truth %s, want %s", got, tc.truth)
			}
			e.advance(time.Hour)
			if got := join(e.scopes(guid)); got != tc.after {
				t.Fatalf("after the lag shown in %q, want %q", got, tc.after)
			}
		})
	}
}

func join(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += ","
		}
		out += s
	}
	return out
}

func TestHoldVisibleLag(t *testing.T) {
	const ann = "ann@contoso.test"
	e := newEnv(t, seed(ann, 10))
	e.s.SetRealism(Realism{HoldVisible: &Lag{Min: "5m", Max: "5m"}})
	e.mustCmd("Set-Mailbox", map[string]any{"Identity": ann, "LitigationHoldEnabled": true})
	if mb := e.mustCmd("Get-Mailbox", map[string]any{"Identity": ann})[0]; mb["LitigationHoldEnabled"] != false {
		t.Fatalf("hold shown at once: %v", mb["LitigationHoldEnabled"])
	}
	if !e.mb(ann).LitigationHold {
		t.Fatal("the hold is not set in truth")
	}
	e.advance(5 * time.Minute)
	if mb := e.mustCmd("Get-Mailbox", map[string]any{"Identity": ann})[0]; mb["LitigationHoldEnabled"] != true {
		t.Fatalf("hold not shown after the lag: %v", mb["LitigationHoldEnabled"])
	}
}

func TestNotificationDelay(t *testing.T) {
	const ann, bob = "ann@contoso.test", "bob@contoso.test"
	e := newEnv(t, seed(ann, 10), seed(bob, 10))
	e.s.SetRealism(Realism{Notifications: &Notifications{Mean: "2m", Max: "15m", Duplicates: 1}})
	e.admin("deleteUser", ann)
	e.admin("deleteUser", bob)
	if evs := e.s.DrainEvents(); len(evs) != 0 {
		t.Fatalf("%d notifications delivered at once", len(evs))
	}
	next, ok := e.s.NextEventAt()
	if !ok || !next.After(t0) || next.After(t0.Add(15*time.Minute)) {
		t.Fatalf("next notification at %v (%v)", next, ok)
	}
	e.advance(15 * time.Minute)
	if evs := e.s.DrainEvents(); len(evs) != 4 {
		t.Fatalf("%d notifications after the longest delay, want 4 (2 and their duplicates)", len(evs))
	}
	if _, ok := e.s.NextEventAt(); ok {
		t.Fatal("notifications left after the longest delay")
	}
}

func TestLoadThrottleTightens(t *testing.T) {
	e := newEnv(t, seed("ann@contoso.test", 10))
	e.s.SetRealism(Realism{Throttle: &LoadThrottle{Budget: 8, Floor: 2, Window: "1s"}})
	count := func() int {
		ok := 0
		for range 20 {
			if st, _ := e.cmd("Get-Mailbox", map[string]any{"Identity": "ann@contoso.test"}); st == 200 {
				ok++
			}
		}
		return ok
	}
	first := count()
	time.Sleep(1050 * time.Millisecond)
	second := count()
	if first != 8 || second != 4 {
		t.Fatalf("served %d then %d requests, want 8 then 4 (the budget halves under load)", first, second)
	}
}

func TestRealismValidate(t *testing.T) {
	bad := []Realism{
		{Notifications: &Notifications{Mean: "20m", Max: "15m"}},
		{Notifications: &Notifications{Mean: "1m", Max: "15m", Duplicates: 2}},
		{ExchangeLag: &ExchangeLag{AfterDelete: &Lag{Min: "2h", Max: "1h"}}},
		{ExchangeLag: &ExchangeLag{AfterDelete: &Lag{Max: "1h", Shows: "sometimes"}}},
		{HoldVisible: &Lag{Max: "soon"}},
		{Throttle: &LoadThrottle{Budget: 1, Floor: 2, Window: "1s"}},
	}
	for i, r := range bad {
		if err := r.Validate(); err == nil {
			t.Errorf("%d: %+v accepted", i, r)
		}
	}
	if err := Profile().Validate(); err != nil {
		t.Fatalf("the default profile is invalid: %v", err)
	}
}

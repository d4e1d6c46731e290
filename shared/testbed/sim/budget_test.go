package sim

import (
	"strconv"
	"testing"
	"time"
)

func TestExchangeBudgetSendsRateHeaders(t *testing.T) {
	e := newEnv(t, seed("ann@contoso.test", 1))
	e.s.SetFaults(Faults{Budgets: &Budgets{Exchange: &WindowBudget{Requests: 3, Window: "1h"}}})
	body := map[string]any{"CmdletInput": map[string]any{"CmdletName": "Get-Mailbox", "Parameters": map[string]any{}}}
	var remaining []string
	var last map[string][]string
	for range 5 {
		st, _, hdr := e.do("POST", "/adminapi/beta/"+testTenant+"/InvokeCommand", body)
		remaining = append(remaining, strconv.Itoa(st)+":"+hdr.Get("Rate-Limit-Remaining"))
		last = hdr
		if hdr.Get("Rate-Limit-Limit") != "3" {
			t.Fatalf("Rate-Limit-Limit %q", hdr.Get("Rate-Limit-Limit"))
		}
	}
	want := []string{"200:2", "200:1", "200:0", "429:0", "429:0"}
	for i := range want {
		if remaining[i] != want[i] {
			t.Fatalf("status:remaining %v, want %v", remaining, want)
		}
	}
	reset, err := time.Parse(time.RFC3339Nano, last["Rate-Limit-Reset"][0])
	if err != nil {
		t.Fatalf("Rate-Limit-Reset: %v", err)
	}
	if d := time.Until(reset); d < 59*time.Minute || d > time.Hour {
		t.Fatalf("reset in %s, want about an hour", d)
	}
	if ra, _ := strconv.Atoi(last["Retry-After"][0]); ra < 3500 || ra > 3600 {
		t.Fatalf("Retry-After %v", last["Retry-After"])
	}
	if s := e.s.Stats(); s.Throttles["exchange:Get-Mailbox"] != 2 {
		t.Fatalf("throttles %v", s.Throttles)
	}
	// Graph is not under the Exchange budget.
	if st, _ := e.graph("GET", "/users", nil); st != 200 {
		t.Fatalf("graph read: %d", st)
	}
}

func TestExchangeBudgetWindowsRollOver(t *testing.T) {
	e := newEnv(t, seed("ann@contoso.test", 1))
	e.s.SetFaults(Faults{Budgets: &Budgets{Exchange: &WindowBudget{Requests: 2, Window: "200ms"}}})
	body := map[string]any{"CmdletInput": map[string]any{"CmdletName": "Get-Mailbox", "Parameters": map[string]any{}}}
	ok := 0
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if st, _, _ := e.do("POST", "/adminapi/beta/"+testTenant+"/InvokeCommand", body); st == 200 {
			ok++
		}
	}
	// Five or six windows of two in one second, never more.
	if ok < 10 || ok > 12 {
		t.Fatalf("%d requests served in 1 s under 2 per 200ms", ok)
	}
}

func TestGraphWriteQuotaIsATokenBucket(t *testing.T) {
	e := newEnv(t, seed("ann@contoso.test", 1))
	e.s.SetFaults(Faults{Budgets: &Budgets{GraphWrites: &WindowBudget{Requests: 2, Window: "1h"}}})
	var got []int
	for range 3 {
		st, _ := e.graph("PATCH", "/users/ann@contoso.test", map[string]any{"department": "x"})
		got = append(got, st)
	}
	if got[0] != 204 || got[1] != 204 || got[2] != 429 {
		t.Fatalf("writes %v, want 204 204 429", got)
	}
	// Reads are not writes.
	if st, _ := e.graph("GET", "/users/ann@contoso.test", nil); st != 200 {
		t.Fatalf("read under an exhausted write quota: %d", st)
	}
	if err := (&Budgets{GraphWrites: &WindowBudget{Requests: 0, Window: "1s"}}).Validate(); err == nil {
		t.Fatal("a zero budget validated")
	}
	if DocumentedGraphWrites().window() != 150*time.Second {
		t.Fatal("documented window is 2.5 minutes")
	}
}

package sim

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
)

func TestThrottling(t *testing.T) {
	e := newEnv(t, seed("ann@contoso.test", 1))
	e.s.SetFaults(Faults{Rules: map[string]FaultRule{"Set-Mailbox": {Throttle: 1, RetryAfter: 3}, "getUser": {Throttle: 1, RetryAfter: 2}}})
	body := map[string]any{"CmdletInput": map[string]any{"CmdletName": "Set-Mailbox", "Parameters": map[string]any{"Identity": "ann@contoso.test", "LitigationHoldEnabled": true}}}
	st, out, hdr := e.do("POST", "/adminapi/beta/"+testTenant+"/InvokeCommand", body)
	if st != 429 || hdr.Get("Retry-After") != "3" || out["error"] == nil {
		t.Fatalf("exchange: %d %v %v", st, hdr, out)
	}
	if e.mb("ann@contoso.test").LitigationHold {
		t.Fatal("a throttled request changed state")
	}
	st, out, hdr = e.do("GET", "/v1.0/users/ann@contoso.test", nil)
	if st != 429 || hdr.Get("Retry-After") != "2" || out["error"].(map[string]any)["code"] != "TooManyRequests" {
		t.Fatalf("graph: %d %v %v", st, hdr, out)
	}
	// Other operations are untouched.
	if st, _ := e.cmd("Get-Mailbox", nil); st != 200 {
		t.Fatalf("Get-Mailbox: %d", st)
	}
	s := e.s.Stats()
	if s.Throttled != 2 || s.Throttles["exchange:Set-Mailbox"] != 1 || s.Requests["exchange:Get-Mailbox"] != 1 {
		t.Fatalf("stats %+v", s)
	}
	// 503 share.
	e.s.SetFaults(Faults{Rules: map[string]FaultRule{"exchange": {Unavailable: 1}}})
	if st, _ := e.cmd("Get-Mailbox", nil); st != 503 {
		t.Fatalf("503: %d", st)
	}
}

func TestThrottleShareIsDeterministic(t *testing.T) {
	count := func() []int {
		e := newEnv(t, seed("ann@contoso.test", 1))
		e.s.SetFaults(Faults{Rules: map[string]FaultRule{"*": {Throttle: 0.5}}})
		var got []int
		for range 40 {
			st, _ := e.cmd("Get-Mailbox", nil)
			got = append(got, st)
		}
		return got
	}
	a, b := count(), count()
	n429 := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("draws differ at %d", i)
		}
		if a[i] == 429 {
			n429++
		}
	}
	if n429 < 8 || n429 > 32 {
		t.Fatalf("%d of 40 throttled with share 0.5", n429)
	}
}

func TestBudgetWindow(t *testing.T) {
	e := newEnv(t, seed("ann@contoso.test", 1))
	e.s.SetFaults(Faults{Exchange: &Budget{Budget: 3, Window: "1h"}})
	var mu sync.Mutex
	var seen []string
	e.s.OnRequest(func(ri RequestInfo) { mu.Lock(); seen = append(seen, ri.Op); mu.Unlock() })
	var statuses []int
	var retry string
	for range 5 {
		st, _, hdr := e.do("POST", "/adminapi/beta/"+testTenant+"/InvokeCommand",
			map[string]any{"CmdletInput": map[string]any{"CmdletName": "Get-Mailbox", "Parameters": map[string]any{}}})
		statuses = append(statuses, st)
		if st == 429 {
			retry = hdr.Get("Retry-After")
		}
	}
	if fmt.Sprint(statuses) != "[200 200 200 429 429]" {
		t.Fatalf("statuses %v", statuses)
	}
	if n, err := strconv.Atoi(retry); err != nil || n < 3500 || n > 3600 {
		t.Fatalf("Retry-After %q", retry)
	}
	if len(seen) != 5 || seen[0] != "Get-Mailbox" {
		t.Fatalf("hook saw %v", seen)
	}
	// Graph has its own budget (none here).
	if st, _ := e.graph("GET", "/users", nil); st != 200 {
		t.Fatalf("graph: %d", st)
	}
}

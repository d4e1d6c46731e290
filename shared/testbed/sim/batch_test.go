package sim

import (
	"fmt"
	"testing"
)

func TestBatch(t *testing.T) {
	e := newEnv(t, seed("ann@contoso.test", 1))
	reqs := []any{
		map[string]any{"id": "1", "method": "GET", "url": "/users/ann@contoso.test?$select=id"},
		map[string]any{"id": "2", "method": "GET", "url": "users/nobody@contoso.test"},
		map[string]any{"id": "3", "method": "PATCH", "url": "/users/ann@contoso.test", "body": map[string]any{"accountEnabled": false}, "headers": map[string]any{"Content-Type": "application/json"}},
		map[string]any{"id": "4", "method": "GET", "url": "/users/nobody@contoso.test", "dependsOn": []any{"2"}},
	}
	st, out := e.graph("POST", "/$batch", map[string]any{"requests": reqs})
	if st != 200 {
		t.Fatalf("%d %v", st, out)
	}
	got := map[string]float64{}
	for _, r := range out["responses"].([]any) {
		m := r.(map[string]any)
		got[m["id"].(string)] = m["status"].(float64)
	}
	want := map[string]float64{"1": 200, "2": 404, "3": 204, "4": 424}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("responses %v, want %v", got, want)
		}
	}
	_, u := e.graph("GET", "/users/ann@contoso.test?$select=accountEnabled", nil)
	if u["accountEnabled"] != false {
		t.Fatal("inner PATCH not applied")
	}
	var many []any
	for i := range 21 {
		many = append(many, map[string]any{"id": fmt.Sprint(i), "method": "GET", "url": "/users"})
	}
	if st, _ := e.graph("POST", "/$batch", map[string]any{"requests": many}); st != 400 {
		t.Fatalf("21 requests: %d", st)
	}
	// Inner requests can be throttled on their own.
	e.s.SetFaults(Faults{Rules: map[string]FaultRule{"getUser": {Throttle: 1, RetryAfter: 7}}})
	_, out = e.graph("POST", "/$batch", map[string]any{"requests": reqs[:1]})
	r := out["responses"].([]any)[0].(map[string]any)
	if r["status"].(float64) != 429 || r["headers"].(map[string]any)["Retry-After"] != "7" {
		t.Fatalf("inner throttle: %v", r)
	}
}

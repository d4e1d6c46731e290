package sim

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

func TestControlAPI(t *testing.T) {
	e := newEnv(t)
	st, out, _ := e.do("POST", "/_sim/tenant", TenantSpec{Users: []UserSpec{seed("ann@contoso.test", 10)}})
	if st != 200 {
		t.Fatalf("tenant: %d %v", st, out)
	}
	if st, out, _ := e.do("POST", "/_sim/admin", AdminAction{Action: "deleteUser", UPN: "ann@contoso.test"}); st != 200 {
		t.Fatalf("admin: %d %v", st, out)
	}
	if st, _, _ := e.do("POST", "/_sim/admin", AdminAction{Action: "deleteUser", UPN: "ann@contoso.test"}); st != 409 {
		t.Fatalf("second delete: %d", st)
	}
	_, out, _ = e.do("POST", "/_sim/clock", map[string]any{"advance": "31d"})
	if out["now"] != t0.Add(31*day).Format(time.RFC3339) {
		t.Fatalf("clock %v", out)
	}
	if st, _, _ := e.do("POST", "/_sim/clock", map[string]any{"set": t0.Format(time.RFC3339)}); st != 400 {
		t.Fatalf("clock backwards: %d", st)
	}
	_, out, _ = e.do("GET", "/_sim/mailboxes", nil)
	ann := out["ann@contoso.test"].(map[string]any)
	if ann["state"] != "purged" || ann["itemsLost"].(float64) != 10 {
		t.Fatalf("mailboxes %v", out)
	}
	resp, err := http.Get(e.srv.URL + "/_sim/events?drain=true")
	if err != nil {
		t.Fatal(err)
	}
	var evs []json.RawMessage
	_ = json.NewDecoder(resp.Body).Decode(&evs)
	resp.Body.Close()
	if len(evs) != 2 { // soft delete (updated), recycle-bin expiry (deleted)
		t.Fatalf("%d events", len(evs))
	}
	if st, _, _ := e.do("POST", "/_sim/faults", map[string]any{"rules": map[string]any{"x": map[string]any{"throttle": 2}}}); st != 400 {
		t.Fatalf("bad faults: %d", st)
	}
	if st, out, _ := e.do("GET", "/_sim/stats", nil); st != 200 || out["total"] == nil {
		t.Fatalf("stats: %d %v", st, out)
	}
}

// The control API is routed by method patterns: a known path with another
// method, or an unknown path, gets the API's JSON 404, and a strict body
// decoder refuses unknown fields.
func TestControlRoutes(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		method, path string
		body         any
		want         int
	}{
		{"GET", "/_sim/clock", nil, 200},
		{"DELETE", "/_sim/clock", nil, 404},
		{"POST", "/_sim/mailboxes", map[string]any{}, 404},
		{"GET", "/_sim/admin", nil, 404},
		{"GET", "/_sim/nothing", nil, 404},
		{"POST", "/_sim/clock", map[string]any{"advance": "1h", "extra": 1}, 400},
		{"POST", "/_sim/clock", map[string]any{"advance": "1h", "set": "2026-03-03T00:00:00Z"}, 400},
		{"GET", "/_sim/faults", nil, 200},
		{"POST", "/_sim/faults", Faults{}, 200},
		{"GET", "/_sim/mail", nil, 0}, // a JSON array: status only
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			if tc.want == 0 {
				resp, err := http.Get(e.srv.URL + tc.path)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("status %d, want 200", resp.StatusCode)
				}
				return
			}
			st, out, _ := e.do(tc.method, tc.path, tc.body)
			if st != tc.want {
				t.Fatalf("status %d, want %d (%v)", st, tc.want, out)
			}
			if st >= 400 && out["error"] == nil {
				t.Fatalf("error answer without an error field: %v", out)
			}
		})
	}
}

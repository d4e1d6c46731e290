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

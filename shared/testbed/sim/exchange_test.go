package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holdfast/holdfast/shared/contract"
)

func TestExchangeErrorShape(t *testing.T) {
	e := newEnv(t, seed("ann@contoso.test", 1))
	tests := []struct {
		name   string
		cmdlet string
		params map[string]any
		status int
		class  string
		text   string
	}{
		{"unknown cmdlet", "Get-Nonsense", nil, 400, "CommandNotFoundException", "is not recognized"},
		{"unknown parameter", "Get-Mailbox", map[string]any{"Frobnicate": true}, 400, "ParameterBindingException", "A parameter cannot be found that matches parameter name 'Frobnicate'."},
		{"not found", "Get-Mailbox", map[string]any{"Identity": "nobody@contoso.test"}, 404, "ManagementObjectNotFoundException", "couldn't be found"},
		{"missing mandatory", "Set-Mailbox", map[string]any{"LitigationHoldEnabled": true}, 400, "ParameterBindingException", "missing mandatory parameters: Identity"},
		{"bad duration", "Set-Mailbox", map[string]any{"Identity": "ann@contoso.test", "LitigationHoldDuration": "forever"}, 400, "ParameterBindingException", "LitigationHoldDuration"},
		{"bad bool", "Set-Mailbox", map[string]any{"Identity": "ann@contoso.test", "LitigationHoldEnabled": "maybe"}, 400, "ParameterBindingException", "System.Boolean"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, out := e.cmd(tc.cmdlet, tc.params)
			if st != tc.status {
				t.Fatalf("status %d, want %d: %v", st, tc.status, out)
			}
			parts := strings.SplitN(detail(out), "|", 3)
			if len(parts) != 3 || !strings.HasPrefix(parts[0], "Ex") || !strings.HasSuffix(parts[1], tc.class) || !strings.Contains(parts[2], tc.text) {
				t.Fatalf("details message %q", detail(out))
			}
			// The captured shape (contract.ExoErrorBody): details[0].code is
			// "Context", not an ErrorCategory number.
			b, _ := json.Marshal(out)
			dec := json.NewDecoder(strings.NewReader(string(b)))
			dec.DisallowUnknownFields()
			var body contract.ExoErrorBody
			if err := dec.Decode(&body); err != nil {
				t.Fatalf("error body does not fit contract.ExoErrorBody: %v", err)
			}
			if body.Error.Details[0].Code != "Context" || body.Error.Message != "Error executing cmdlet" ||
				body.Error.InnerError == nil || !strings.HasSuffix(body.Error.InnerError.Type, "ODataServiceException") {
				t.Fatalf("error %+v", body.Error)
			}
		})
	}
}

func TestGetMailboxShapeAndPaging(t *testing.T) {
	var users []UserSpec
	for i := range 5 {
		users = append(users, seed(fmt.Sprintf("u%d@contoso.test", i), i))
	}
	users = append(users, UserSpec{UPN: "arch@contoso.test", Licenses: []string{"SPE_E5"}, Archive: true, ArchiveItems: 3})
	e := newEnv(t, users...)
	body := `{"CmdletInput":{"CmdletName":"Get-Mailbox","Parameters":{"ResultSize":"Unlimited"}}}`
	url := e.srv.URL + "/adminapi/beta/" + testTenant + "/InvokeCommand"
	var all []map[string]any
	pages := 0
	for url != "" {
		req, _ := http.NewRequest("POST", url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Prefer", "odata.maxpagesize=4")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || out["adminapi.warnings@odata.type"] != "#Collection(String)" || out["@adminapi.warnings"] == nil ||
			!strings.Contains(out["@odata.context"].(string), "$metadata#Collection(Exchange.GenericHashTable)") {
			t.Fatalf("page: %d %v", resp.StatusCode, out)
		}
		for _, v := range out["value"].([]any) {
			all = append(all, v.(map[string]any))
		}
		pages++
		url, _ = out["@odata.nextLink"].(string)
	}
	if pages != 2 || len(all) != 6 {
		t.Fatalf("%d pages, %d mailboxes", pages, len(all))
	}
	mb := all[5]
	dateRe := func(s any) bool {
		v, _ := s.(string)
		_, err := time.Parse("2006-01-02T15:04:05.0000000-07:00", v)
		return err == nil
	}
	if mb["ArchiveStatus"] != "Active" || mb["ArchiveGuid"] == zeroGUID || all[0]["ArchiveGuid"] != zeroGUID || all[0]["ArchiveStatus"] != "None" ||
		!strings.HasPrefix(mb["DistinguishedName"].(string), "CN=arch,") || !strings.HasPrefix(mb["LegacyExchangeDN"].(string), "/o=ExchangeLabs/") ||
		mb["RecipientTypeDetails"] != "UserMailbox" || mb["LitigationHoldEnabled"] != false || mb["LitigationHoldDate"] != nil ||
		mb["LitigationHoldDuration"] != "Unlimited" || mb["IsInactiveMailbox"] != false || !dateRe(mb["WhenCreated"]) {
		t.Fatalf("mailbox %v", mb)
	}
	// ResultSize caps and warns.
	st, out := e.cmd("Get-Mailbox", map[string]any{"ResultSize": 2})
	if st != 200 || len(out["value"].([]any)) != 2 || len(out["@adminapi.warnings"].([]any)) != 1 {
		t.Fatalf("ResultSize 2: %v", out)
	}
	// $select projects.
	st, out, _ = e.do("POST", "/adminapi/beta/"+testTenant+"/InvokeCommand?$select=ExchangeGuid,UserPrincipalName",
		map[string]any{"CmdletInput": map[string]any{"CmdletName": "Get-Mailbox", "Parameters": map[string]any{"Identity": "u1@contoso.test"}}})
	if v := out["value"].([]any)[0].(map[string]any); st != 200 || len(v) != 2 || v["UserPrincipalName"] != "u1@contoso.test" {
		t.Fatalf("$select: %v", out)
	}
}

func TestSetMailboxHoldFields(t *testing.T) {
	e := newEnv(t, seed("ann@contoso.test", 1))
	st, out := e.cmd("Set-Mailbox", map[string]any{"Identity": "ann@contoso.test", "LitigationHoldEnabled": true, "LitigationHoldDuration": 2555, "RetentionComment": "Leaver HR-42"})
	if st != 200 || len(out["value"].([]any)) != 0 {
		t.Fatalf("%d %v", st, out)
	}
	mb := e.mustCmd("Get-Mailbox", map[string]any{"Identity": "ann@contoso.test"})[0]
	if mb["LitigationHoldEnabled"] != true || mb["LitigationHoldDuration"] != "2555.00:00:00" || mb["RetentionComment"] != "Leaver HR-42" ||
		mb["LitigationHoldDate"] != t0.Format("2006-01-02T15:04:05.0000000+00:00") || mb["LitigationHoldOwner"] == "" {
		t.Fatalf("%v", mb)
	}
	if n := e.s.HoldRequests("ann@contoso.test"); n != 1 {
		t.Fatalf("hold requests %d", n)
	}
	r := e.mb("ann@contoso.test")
	if r.HoldEffectiveAt == nil || !r.HoldEffectiveAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("effective at %v", r.HoldEffectiveAt)
	}
}

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

package sim

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseUserFilter(t *testing.T) {
	tests := []struct {
		in      string
		want    userFilter
		wantErr error
	}{
		{"userPrincipalName eq 'ann@contoso.test'", userFilter{"userPrincipalName", "ann@contoso.test"}, nil},
		{"employeeId eq 'E-1'", userFilter{"employeeId", "E-1"}, nil},
		{"id eq '0b7e7b5e-0000-4000-8000-000000000000'", userFilter{"id", "0b7e7b5e-0000-4000-8000-000000000000"}, nil},
		{"employeeId eq 'O''Brien'", userFilter{"employeeId", "O'Brien"}, nil},
		// An escaped injection attempt is one literal.
		{"userPrincipalName eq 'x'' or 1 eq 1'", userFilter{"userPrincipalName", "x' or 1 eq 1"}, nil},
		// An unescaped one leaves trailing logic: rejected, never evaluated.
		{"userPrincipalName eq 'x' or 1 eq 1", userFilter{}, errFilterSyntax},
		{"userPrincipalName eq 'x' or userPrincipalName eq 'y'", userFilter{}, errFilterSyntax},
		{"userPrincipalName eq 'x", userFilter{}, errFilterSyntax},
		{"userPrincipalName eq x", userFilter{}, errFilterSyntax},
		{"displayName eq 'x'", userFilter{}, errFilterUnsupported},
		{"userPrincipalName ne 'x'", userFilter{}, errFilterUnsupported},
		{"startswith(userPrincipalName,'a')", userFilter{}, errFilterUnsupported},
		{"", userFilter{}, errFilterSyntax},
	}
	for _, tc := range tests {
		got, err := parseUserFilter(tc.in)
		if err != tc.wantErr || got != tc.want {
			t.Errorf("parseUserFilter(%q) = %+v, %v; want %+v, %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestGraphFilterInjectionIsLiteral(t *testing.T) {
	e := newEnv(t, seed("ann@contoso.test", 1), seed("bob@contoso.test", 1))
	// Properly escaped: a literal that matches nobody.
	q := url.Values{"$filter": {"userPrincipalName eq 'x'' or 1 eq 1'"}}
	st, out := e.graph("GET", "/users?"+q.Encode(), nil)
	if st != 200 || len(out["value"].([]any)) != 0 {
		t.Fatalf("escaped: %d %v", st, out)
	}
	// Not escaped: a 400, never a match-all.
	q = url.Values{"$filter": {"userPrincipalName eq 'x' or 1 eq 1"}}
	if st, out := e.graph("GET", "/users?"+q.Encode(), nil); st != 400 {
		t.Fatalf("unescaped: %d %v", st, out)
	}
	q = url.Values{"$filter": {"employeeId eq 'bob'"}, "$select": {"id,userPrincipalName,employeeId"}}
	st, out = e.graph("GET", "/users?"+q.Encode(), nil)
	vals := out["value"].([]any)
	if st != 200 || len(vals) != 1 || vals[0].(map[string]any)["userPrincipalName"] != "bob@contoso.test" {
		t.Fatalf("employeeId: %d %v", st, out)
	}
	if !strings.Contains(out["@odata.context"].(string), "$metadata#users(id,userPrincipalName,employeeId)") {
		t.Fatalf("context %v", out["@odata.context"])
	}
}

func TestGraphErrorShape(t *testing.T) {
	e := newEnv(t, seed("ann@contoso.test", 1))
	tests := []struct {
		method, path string
		body         any
		status       int
		code         string
	}{
		{"GET", "/users/nobody@contoso.test", nil, 404, "Request_ResourceNotFound"},
		{"GET", "/users/ann@contoso.test?$select=id,shoeSize", nil, 400, "Request_BadRequest"},
		{"GET", "/directory/deletedItems/0b7e7b5e-0000-4000-8000-000000000000", nil, 404, "Request_ResourceNotFound"},
		{"POST", "/directory/deletedItems/0b7e7b5e-0000-4000-8000-000000000000/restore", nil, 404, "Request_ResourceNotFound"},
		{"GET", "/groups", nil, 400, "BadRequest"},
		{"PUT", "/users/ann@contoso.test", map[string]any{}, 405, "Request_BadRequest"},
		{"PATCH", "/users/ann@contoso.test", map[string]any{"accountEnabled": "yes"}, 400, "Request_BadRequest"},
		{"GET", "/users?$top=1000", nil, 400, "Request_UnsupportedQuery"},
		{"POST", "/users/ann@contoso.test/assignLicense", map[string]any{"addLicenses": []any{}}, 400, "Request_BadRequest"},
		{"POST", "/users/ann@contoso.test/assignLicense", map[string]any{"addLicenses": []any{}, "removeLicenses": []any{"4b9405b0-7788-4568-add1-99614e613b69"}}, 400, "Request_BadRequest"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			st, out, hdr := e.do(tc.method, "/v1.0"+tc.path, tc.body, "client-request-id", "c0ffee00-0000-4000-8000-000000000000")
			if st != tc.status {
				t.Fatalf("status %d, want %d: %v", st, tc.status, out)
			}
			er, _ := out["error"].(map[string]any)
			if er["code"] != tc.code || er["message"] == "" {
				t.Fatalf("error %v, want code %s", out, tc.code)
			}
			ie, _ := er["innerError"].(map[string]any)
			if ie["request-id"] == nil || ie["client-request-id"] != "c0ffee00-0000-4000-8000-000000000000" || ie["date"] == nil {
				t.Fatalf("innerError %v", ie)
			}
			if hdr.Get("request-id") == "" {
				t.Fatal("no request-id header")
			}
		})
	}
}

func TestGraphUserShapes(t *testing.T) {
	e := newEnv(t, UserSpec{UPN: "ann@contoso.test", DisplayName: "Ann", Licenses: []string{"ENTERPRISEPACK"}, Department: "Legal", EmployeeID: "E1", Synced: true})
	st, out := e.graph("GET", "/users/ann@contoso.test", nil)
	if st != 200 || out["displayName"] != "Ann" || out["id"] == nil || !strings.HasSuffix(out["@odata.context"].(string), "$metadata#users/$entity") {
		t.Fatalf("default: %v", out)
	}
	if _, ok := out["accountEnabled"]; ok {
		t.Fatal("accountEnabled is not in Graph's default property set")
	}
	_, out = e.graph("GET", "/users/ann@contoso.test?$select=id,accountEnabled,assignedLicenses,onPremisesSyncEnabled,department,employeeId,usageLocation", nil)
	lic := out["assignedLicenses"].([]any)
	if out["accountEnabled"] != true || len(lic) != 1 || lic[0].(map[string]any)["skuId"] != "6fd2c87f-b296-42f0-b197-1e91e994b900" ||
		out["onPremisesSyncEnabled"] != true || out["department"] != "Legal" || out["usageLocation"] != "US" {
		t.Fatalf("selected: %v", out)
	}
	if _, ok := out["displayName"]; ok {
		t.Fatal("$select returned an unselected property")
	}
	id := out["id"].(string)
	_, ld := e.graph("GET", "/users/"+id+"/licenseDetails", nil)
	d := ld["value"].([]any)[0].(map[string]any)
	if d["skuPartNumber"] != "ENTERPRISEPACK" || len(d["servicePlans"].([]any)) == 0 {
		t.Fatalf("licenseDetails %v", ld)
	}
	// Deleted users: recycle-bin UPN prefix, deletedDateTime, @odata.type.
	e.graph("DELETE", "/users/"+id, nil)
	if st, _ := e.graph("GET", "/users/"+id, nil); st != 404 {
		t.Fatalf("deleted user still readable: %d", st)
	}
	_, del := e.graph("GET", "/directory/deletedItems/"+id+"/graph.user?$select=id,userPrincipalName,deletedDateTime", nil)
	wantUPN := strings.ReplaceAll(id, "-", "") + "ann@contoso.test"
	if del["userPrincipalName"] != wantUPN || del["deletedDateTime"] != t0.Format(time.RFC3339) || del["@odata.type"] != "#microsoft.graph.user" {
		t.Fatalf("deleted item %v", del)
	}
	// The licence was freed.
	_, skus := e.graph("GET", "/subscribedSkus", nil)
	for _, v := range skus["value"].([]any) {
		k := v.(map[string]any)
		if k["consumedUnits"].(float64) != 0 || k["prepaidUnits"].(map[string]any)["enabled"] == nil {
			t.Fatalf("sku %v", k)
		}
	}
}

func TestDeletedItemsPaging(t *testing.T) {
	var users []UserSpec
	for i := range 7 {
		users = append(users, seed(fmt.Sprintf("u%d@contoso.test", i), 1))
	}
	e := newEnv(t, users...)
	for _, u := range users {
		e.admin("deleteUser", u.UPN)
	}
	seen := map[string]bool{}
	path := "/v1.0/directory/deletedItems/microsoft.graph.user?$top=3&$select=id,deletedDateTime"
	pages := 0
	for path != "" {
		st, out, _ := e.do("GET", path, nil)
		if st != 200 {
			t.Fatalf("%s: %d %v", path, st, out)
		}
		pages++
		for _, v := range out["value"].([]any) {
			seen[v.(map[string]any)["id"].(string)] = true
		}
		path = ""
		if next, ok := out["@odata.nextLink"].(string); ok {
			path = strings.TrimPrefix(next, e.srv.URL)
		}
	}
	if pages != 3 || len(seen) != 7 {
		t.Fatalf("%d pages, %d users", pages, len(seen))
	}
}

func TestAssignLicenseWithoutFreeUnits(t *testing.T) {
	clkEnv := newEnv(t)
	if err := clkEnv.s.Load(TenantSpec{
		SKUs:  []SKUSpec{{PartNumber: "ENTERPRISEPACK", Units: 1, IncludesLitigationHold: true}},
		Users: []UserSpec{seed("ann@contoso.test", 1), {UPN: "bob@contoso.test"}},
	}); err != nil {
		t.Fatal(err)
	}
	body := map[string]any{"addLicenses": []any{map[string]any{"skuId": "6fd2c87f-b296-42f0-b197-1e91e994b900", "disabledPlans": []any{}}}, "removeLicenses": []any{}}
	st, out := clkEnv.graph("POST", "/users/bob@contoso.test/assignLicense", body)
	if st != 400 || out["error"].(map[string]any)["code"] != "Request_BadRequest" || !strings.Contains(errMsg(out), "does not have any available licenses") {
		t.Fatalf("%d %v", st, out)
	}
	// Deleting ann frees the unit.
	clkEnv.admin("deleteUser", "ann@contoso.test")
	if st, out := clkEnv.graph("POST", "/users/bob@contoso.test/assignLicense", body); st != 200 {
		t.Fatalf("%d %v", st, out)
	}
}

func TestSendMailCaptured(t *testing.T) {
	e := newEnv(t, seed("alerts@contoso.test", 0), seed("gone@contoso.test", 0))
	msg := map[string]any{"message": map[string]any{"subject": "Mailbox at risk", "body": map[string]any{"contentType": "Text", "content": "ann"},
		"toRecipients": []any{map[string]any{"emailAddress": map[string]any{"address": "admins@contoso.test"}}}}, "saveToSentItems": false}
	if st, out := e.graph("POST", "/users/alerts@contoso.test/sendMail", msg); st != 202 || out != nil {
		t.Fatalf("%d %v", st, out)
	}
	e.admin("removeMailbox", "gone@contoso.test")
	if st, _ := e.graph("POST", "/users/gone@contoso.test/sendMail", msg); st != 404 {
		t.Fatalf("deleted sender: %d", st)
	}
	m := e.s.Mail()
	if len(m) != 1 || m[0].Subject != "Mailbox at risk" || m[0].To[0] != "admins@contoso.test" {
		t.Fatalf("%+v", m)
	}
}

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

func TestNotificationsShape(t *testing.T) {
	e := newEnv(t, seed("ann@contoso.test", 1))
	id := e.userID("ann@contoso.test")
	e.admin("deleteUser", "ann@contoso.test")
	e.admin("purgeUser", "ann@contoso.test")
	evs := e.s.DrainEvents()
	if len(evs) != 2 {
		t.Fatalf("%d events", len(evs))
	}
	var types []string
	for i, raw := range evs {
		var ev struct {
			ID, Type, Source, Subject, Time, Datacontenttype, Specversion string
			Data                                                          struct {
				ChangeType, ClientState, Resource, TenantID, SubscriptionID string
				ResourceData                                                struct {
					ODataType      string `json:"@odata.type"`
					ODataID        string `json:"@odata.id"`
					ID             string
					OrganizationID string
					SequenceNumber string // a string, as Learn documents it
				}
			}
		}
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Specversion != "1.0" || ev.Source != "/tenants/"+testTenant+"/applications/"+e.s.opts.AppID || ev.Subject != "Users/"+id ||
			ev.Data.Resource != "Users/"+id || ev.Data.ResourceData.ID != id || ev.Data.ResourceData.ODataType != "#Microsoft.Graph.User" ||
			ev.Data.ResourceData.OrganizationID != testTenant || ev.Data.TenantID != testTenant || ev.Data.ClientState != e.s.ClientState() ||
			ev.Data.ResourceData.SequenceNumber != strconv.Itoa(i+1) || ev.Datacontenttype != "application/json" {
			t.Fatalf("event %d: %s", i, raw)
		}
		types = append(types, ev.Type+"/"+ev.Data.ChangeType)
	}
	if types[0] != "Microsoft.Graph.UserUpdated/updated" || types[1] != "Microsoft.Graph.UserDeleted/deleted" {
		t.Fatalf("types %v", types)
	}
	if len(e.s.Events()) != 0 {
		t.Fatal("drain did not clear")
	}
}

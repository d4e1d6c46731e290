package sim

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

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

package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

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

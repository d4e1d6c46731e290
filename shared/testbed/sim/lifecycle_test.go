package sim

import (
	"strings"
	"testing"
	"time"
)

// Each row of DESIGN section 1, played on the virtual clock through the
// public surfaces (Graph, Exchange, admin actions).
func TestLifecycle(t *testing.T) {
	const ann = "ann@contoso.test"
	tests := []struct {
		name string
		user UserSpec
		run  func(e *env)
	}{
		{"licence removed: 30-day grace then purge", seed(ann, 1200), func(e *env) {
			e.admin("removeLicense", ann)
			e.advance(30*day - time.Minute)
			e.wantState(ann, "active", 0)
			e.advance(2 * time.Minute)
			e.wantState(ann, "purged", 1200)
		}},
		{"licence removed: re-licensed inside the grace keeps the mailbox", seed(ann, 1200), func(e *env) {
			e.admin("removeLicense", ann)
			e.advance(20 * day)
			e.admin("assignLicense", ann)
			e.advance(20 * day)
			e.wantState(ann, "active", 0)
		}},
		{"licence removed while held: kept after the grace", UserSpec{UPN: ann, Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 1200, LitigationHold: true}, func(e *env) {
			e.admin("removeLicense", ann)
			e.advance(45 * day)
			e.wantState(ann, "active", 0)
			if r := e.mb(ann); r.ItemsPreserved != 1200 {
				t.Fatalf("preserved %d", r.ItemsPreserved)
			}
		}},
		{"soft delete: 30-day window then purge", seed(ann, 500), func(e *env) {
			id := e.userID(ann)
			if st, _ := e.graph("DELETE", "/users/"+id, nil); st != 204 {
				t.Fatalf("delete: %d", st)
			}
			e.advance(29 * day)
			e.wantState(ann, "softDeleted", 0)
			e.advance(day + time.Minute)
			e.wantState(ann, "purged", 500)
			if st, _ := e.graph("GET", "/directory/deletedItems/"+id, nil); st != 404 {
				t.Fatalf("user still in the recycle bin: %d", st)
			}
		}},
		{"hold placed but not in effect at deletion does not protect", seed(ann, 800), func(e *env) {
			e.mustCmd("Set-Mailbox", map[string]any{"Identity": ann, "LitigationHoldEnabled": true})
			e.advance(10 * time.Minute)
			e.admin("deleteUser", ann)
			e.advance(31 * day)
			e.wantState(ann, "purged", 800)
		}},
		{"hold in effect at deletion: inactive, kept", seed(ann, 800), func(e *env) {
			e.mustCmd("Set-Mailbox", map[string]any{"Identity": ann, "LitigationHoldEnabled": true, "LitigationHoldDuration": "Unlimited"})
			e.advance(61 * time.Minute)
			e.admin("deleteUser", ann)
			e.wantState(ann, "inactive", 0)
			e.advance(400 * day)
			e.wantState(ann, "inactive", 0)
			mb := e.mustCmd("Get-Mailbox", map[string]any{"InactiveMailboxOnly": true})
			if len(mb) != 1 || mb[0]["IsInactiveMailbox"] != true || mb[0]["ExternalDirectoryObjectId"] != "" {
				t.Fatalf("inactive mailbox after 400 days: %v", mb)
			}
		}},
		{"purge from the recycle bin with licence, no hold: soft-deleted 30 days after purge", seed(ann, 300), func(e *env) {
			e.admin("deleteUser", ann)
			e.advance(10 * day)
			e.admin("purgeUser", ann)
			e.advance(29 * day) // 39 days after the deletion
			e.wantState(ann, "softDeleted", 0)
			mb := e.mustCmd("Get-Mailbox", map[string]any{"SoftDeletedMailbox": true})
			if len(mb) != 1 || mb[0]["ExternalDirectoryObjectId"] != "" {
				t.Fatalf("soft-deleted mailbox: %v", mb)
			}
			e.advance(day + time.Minute)
			e.wantState(ann, "purged", 300)
		}},
		{"licence removed then purged, no hold: lost at once", seed(ann, 300), func(e *env) {
			e.admin("removeLicense", ann)
			e.admin("deleteUser", ann)
			e.advance(time.Hour)
			e.admin("purgeUser", ann)
			e.wantState(ann, "purged", 300)
		}},
		{"re-synced user with the same ExchangeGuid, licensed: original hard-deleted", UserSpec{UPN: ann, Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 700, Synced: true}, func(e *env) {
			guid := e.exchangeGUID(ann)
			e.admin("deleteUser", ann)
			e.admin("purgeUser", ann)
			e.wantState(ann, "softDeleted", 0)
			e.advance(2 * day)
			e.admin("resyncUser", ann)
			e.wantState(ann, "purged", 700)
			if r := e.s.Mailboxes()[ann+"#2"]; r.State != "active" || r.ExchangeGuid != guid {
				t.Fatalf("new mailbox %+v, want active with ExchangeGuid %s", r, guid)
			}
		}},
		{"Remove-Mailbox -PermanentlyDelete refused while held, allowed without hold", seed(ann, 100), func(e *env) {
			e.mustCmd("Set-Mailbox", map[string]any{"Identity": ann, "LitigationHoldEnabled": true})
			e.advance(2 * time.Hour)
			e.admin("deleteUser", ann)
			guid := e.exchangeGUID(ann)
			st, out := e.cmd("Remove-Mailbox", map[string]any{"Identity": guid, "PermanentlyDelete": true})
			if st != 400 || !strings.Contains(detail(out), "on hold") {
				t.Fatalf("remove held: %d %v", st, out)
			}
			e.wantState(ann, "inactive", 0)
			// Without the hold (and within 30 days) it is an ordinary soft-deleted mailbox.
			e.mustCmd("Set-Mailbox", map[string]any{"Identity": guid, "InactiveMailbox": true, "LitigationHoldEnabled": false})
			e.wantState(ann, "softDeleted", 0)
			e.mustCmd("Remove-Mailbox", map[string]any{"Identity": guid, "PermanentlyDelete": true})
			e.wantState(ann, "purged", 100)
		}},
		{"hold removed from an inactive mailbox after 30 days: purged", UserSpec{UPN: ann, Licenses: []string{"SPE_E5"}, MailboxItems: 90, LitigationHold: true}, func(e *env) {
			e.admin("deleteUser", ann)
			e.advance(40 * day)
			e.wantState(ann, "inactive", 0)
			e.admin("removeHold", ann)
			e.wantState(ann, "purged", 90)
		}},
		{"restore within 30 days brings back mailbox and licences", seed(ann, 50), func(e *env) {
			id := e.userID(ann)
			e.admin("deleteUser", ann)
			e.advance(20 * day)
			st, out := e.graph("POST", "/directory/deletedItems/"+id+"/restore", map[string]any{"autoReconcileProxyConflict": true})
			if st != 200 || out["@odata.type"] != "#microsoft.graph.user" || out["userPrincipalName"] != ann {
				t.Fatalf("restore: %d %v", st, out)
			}
			e.advance(40 * day)
			r := e.mb(ann)
			if r.State != "active" || !r.Licensed || r.ItemsLost != 0 {
				t.Fatalf("after restore: %+v", r)
			}
		}},
		{"Litigation Hold needs a licence that includes it", seed(ann, 10, "EXCHANGESTANDARD"), func(e *env) {
			st, out := e.cmd("Set-Mailbox", map[string]any{"Identity": ann, "LitigationHoldEnabled": true})
			if st != 400 || !strings.Contains(detail(out), "license") {
				t.Fatalf("hold on Plan 1: %d %v", st, out)
			}
			if e.mb(ann).LitigationHold {
				t.Fatal("hold set despite the error")
			}
		}},
		{"auto-expanding archive blocks restore and recovery", UserSpec{UPN: ann, Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 10, Archive: true, ArchiveItems: 5000, AutoExpandingArchive: true, LitigationHold: true}, func(e *env) {
			e.admin("deleteUser", ann)
			e.advance(31 * day)
			guid := e.exchangeGUID(ann)
			if st, out := e.cmd("New-MailboxRestoreRequest", map[string]any{"SourceMailbox": guid, "TargetMailbox": "keeper@contoso.test", "AllowLegacyDNMismatch": true}); st != 400 || !strings.Contains(detail(out), "auto-expanding") {
				t.Fatalf("restore: %d %v", st, out)
			}
			if st, out := e.cmd("New-Mailbox", map[string]any{"InactiveMailbox": guid, "Name": "ann2", "MicrosoftOnlineServicesID": "ann2@contoso.test", "Password": e.password()}); st != 400 || !strings.Contains(detail(out), "auto-expanding") {
				t.Fatalf("recover: %d %v", st, out)
			}
		}},
		{"New-Mailbox -InactiveMailbox: refused inside 30 days, account disabled without licence", UserSpec{UPN: ann, Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 60, LitigationHold: true}, func(e *env) {
			e.admin("deleteUser", ann)
			guid := e.exchangeGUID(ann)
			p := map[string]any{"InactiveMailbox": guid, "Name": "ann.back", "MicrosoftOnlineServicesID": "ann.back@contoso.test", "Password": e.password(), "DisplayName": "Ann Back"}
			if st, out := e.cmd("New-Mailbox", p); st != 400 || !strings.Contains(detail(out), "ExternalDirectoryObjectId") {
				t.Fatalf("inside 30 days: %d %v", st, out)
			}
			e.advance(31 * day)
			mb := e.mustCmd("New-Mailbox", p)
			if mb[0]["UserPrincipalName"] != "ann.back@contoso.test" || mb[0]["LitigationHoldEnabled"] != false {
				t.Fatalf("recovered: %v", mb[0])
			}
			if r := e.mb(ann); r.State != "active" || r.RecoveredTo != "ann.back@contoso.test" || r.ItemsPreserved != 60 {
				t.Fatalf("report: %+v", r)
			}
			e.advance(30*day + time.Minute)
			_, u := e.graph("GET", "/users/ann.back@contoso.test?$select=accountEnabled,assignedLicenses", nil)
			if u["accountEnabled"] != false {
				t.Fatalf("account still enabled after 30 days without licence: %v", u)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.user, seed("keeper@contoso.test", 0))
			tc.run(e)
		})
	}
}

// detail returns error.details[0].message of an admin API error.
func detail(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	ds, _ := e["details"].([]any)
	if len(ds) == 0 {
		return ""
	}
	d, _ := ds[0].(map[string]any)
	s, _ := d["message"].(string)
	return s
}

func TestRecoveredAccountLicensedInTimeStaysEnabled(t *testing.T) {
	const ann = "ann@contoso.test"
	e := newEnv(t, UserSpec{UPN: ann, Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 60, LitigationHold: true})
	e.admin("deleteUser", ann)
	e.advance(31 * day)
	e.mustCmd("New-Mailbox", map[string]any{"InactiveMailbox": e.mb(ann).ExchangeGuid, "Name": "annb", "MicrosoftOnlineServicesID": "annb@contoso.test", "Password": e.password()})
	id := e.userID("annb@contoso.test")
	body := map[string]any{"addLicenses": []any{map[string]any{"skuId": "6fd2c87f-b296-42f0-b197-1e91e994b900", "disabledPlans": []any{}}}, "removeLicenses": []any{}}
	// New accounts have no usage location: Graph refuses the licence until one is set.
	if st, out := e.graph("POST", "/users/"+id+"/assignLicense", body); st != 400 || !strings.Contains(errMsg(out), "usage location") {
		t.Fatalf("assign without usage location: %d %v", st, out)
	}
	if st, _ := e.graph("PATCH", "/users/"+id, map[string]any{"usageLocation": "NL"}); st != 204 {
		t.Fatalf("patch: %d", st)
	}
	if st, out := e.graph("POST", "/users/"+id+"/assignLicense", body); st != 200 {
		t.Fatalf("assign: %d %v", st, out)
	}
	e.advance(40 * day)
	_, u := e.graph("GET", "/users/"+id+"?$select=accountEnabled", nil)
	if u["accountEnabled"] != true {
		t.Fatalf("licensed recovered account disabled: %v", u)
	}
	if r := e.mb(ann); r.State != "active" || r.ItemsLost != 0 {
		t.Fatalf("%+v", r)
	}
}

func errMsg(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

func TestInactiveHoldRemovedWithin30DaysPurgesAtDeletionPlus30(t *testing.T) {
	const ann = "ann@contoso.test"
	e := newEnv(t, UserSpec{UPN: ann, Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 40, LitigationHold: true})
	e.admin("deleteUser", ann)
	e.advance(5 * day)
	e.mustCmd("Set-Mailbox", map[string]any{"Identity": e.mb(ann).ExchangeGuid, "InactiveMailbox": true, "LitigationHoldEnabled": false})
	e.wantState(ann, "softDeleted", 0)
	e.advance(25*day + time.Minute)
	e.wantState(ann, "purged", 40)
}

func TestSetMailboxInactiveIdentityRules(t *testing.T) {
	const ann = "ann@contoso.test"
	e := newEnv(t, UserSpec{UPN: ann, Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 40, LitigationHold: true})
	e.admin("deleteUser", ann)
	// Without the switch an inactive mailbox is not found.
	if st, _ := e.cmd("Set-Mailbox", map[string]any{"Identity": e.mb(ann).ExchangeGuid, "LitigationHoldDuration": 365}); st != 404 {
		t.Fatalf("without -InactiveMailbox: %d", st)
	}
	// With it, the identity must be a DN or ExchangeGuid.
	if st, out := e.cmd("Set-Mailbox", map[string]any{"Identity": ann, "InactiveMailbox": true, "LitigationHoldDuration": 365}); st != 400 || !strings.Contains(detail(out), "DistinguishedName") {
		t.Fatalf("UPN with -InactiveMailbox: %d %v", st, out)
	}
	mb := e.mustCmd("Get-Mailbox", map[string]any{"InactiveMailboxOnly": true})[0]
	e.mustCmd("Set-Mailbox", map[string]any{"Identity": mb["DistinguishedName"], "InactiveMailbox": true, "LitigationHoldDuration": 365})
	mb = e.mustCmd("Get-Mailbox", map[string]any{"Identity": mb["ExchangeGuid"], "InactiveMailboxOnly": true})[0]
	if mb["LitigationHoldDuration"] != "365.00:00:00" {
		t.Fatalf("duration %v", mb["LitigationHoldDuration"])
	}
}

func TestRemoveMailboxSoftDeletesWithoutEvent(t *testing.T) {
	const ann = "ann@contoso.test"
	e := newEnv(t, seed(ann, 40))
	e.mustCmd("Remove-Mailbox", map[string]any{"Identity": ann})
	if evs := e.s.DrainEvents(); len(evs) != 0 {
		t.Fatalf("Remove-Mailbox emitted %d notifications", len(evs))
	}
	mb := e.mustCmd("Get-Mailbox", map[string]any{"SoftDeletedMailbox": true})
	if len(mb) != 1 || mb[0]["IsSoftDeletedByRemove"] != true || mb[0]["WhenSoftDeleted"] == nil {
		t.Fatalf("%v", mb)
	}
	// Undo-SoftDeletedMailbox has no AllowLegacyDNMismatch.
	if st, out := e.cmd("Undo-SoftDeletedMailbox", map[string]any{"SoftDeletedObject": ann, "AllowLegacyDNMismatch": true}); st != 400 || !strings.Contains(detail(out), "AllowLegacyDNMismatch") {
		t.Fatalf("%d %v", st, out)
	}
	e.mustCmd("Undo-SoftDeletedMailbox", map[string]any{"SoftDeletedObject": ann, "WindowsLiveID": ann, "Password": e.password()})
	e.advance(40 * day)
	e.wantState(ann, "active", 0)
}

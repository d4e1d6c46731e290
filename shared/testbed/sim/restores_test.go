package sim

import (
	"strings"
	"testing"
	"time"
)

func TestRestoreRequestProgressesAndCopies(t *testing.T) {
	const ann, keeper = "ann@contoso.test", "keeper@contoso.test"
	e := newEnv(t, seed(ann, 3000), UserSpec{UPN: keeper, Licenses: []string{"ENTERPRISEPACK"}, Archive: true})
	e.admin("deleteUser", ann)
	guid := e.exchangeGUID(ann)
	p := map[string]any{"Name": "hf-ann", "SourceMailbox": guid, "TargetMailbox": keeper, "TargetRootFolder": "Leavers/ann",
		"TargetIsArchive": true, "AllowLegacyDNMismatch": true, "ConflictResolutionOption": "KeepAll", "ExcludeDumpster": false}
	req := e.mustCmd("New-MailboxRestoreRequest", p)
	if req[0]["Status"] != "Queued" || req[0]["Identity"] != "keeper\\hf-ann" {
		t.Fatalf("created: %v", req[0])
	}
	if st, out := e.cmd("New-MailboxRestoreRequest", p); st != 400 || !strings.Contains(detail(out), "unique") {
		t.Fatalf("duplicate name: %d %v", st, out)
	}
	stats := func() map[string]any {
		return e.mustCmd("Get-MailboxRestoreRequestStatistics", map[string]any{"Identity": "keeper\\hf-ann"})[0]
	}
	e.advance(16 * time.Minute) // queued 1 to 15 minutes
	s1 := stats()
	if s1["Status"] != "InProgress" {
		t.Fatalf("after 16m: %v", s1)
	}
	e.advance(10 * time.Minute)
	s2 := stats()
	if s2["Status"] != "InProgress" || s2["PercentComplete"].(float64) <= s1["PercentComplete"].(float64) {
		t.Fatalf("no progress: %v then %v", s1["PercentComplete"], s2["PercentComplete"])
	}
	e.advance(30 * time.Minute) // 3000 items: ~30 minutes, then finalisation
	byGUID := e.mustCmd("Get-MailboxRestoreRequestStatistics", map[string]any{"Identity": req[0]["RequestGuid"]})[0]
	if byGUID["Status"] != "Completed" || byGUID["PercentComplete"].(float64) != 100 {
		t.Fatalf("final: %v", byGUID)
	}
	k := e.mb(keeper)
	if len(k.Received) != 1 || k.Received[0].Items != 3000 || k.Received[0].TargetRootFolder != "Leavers/ann" || !k.Received[0].TargetIsArchive {
		t.Fatalf("target: %+v", k)
	}
	e.advance(31 * day)
	a := e.mb(ann)
	if a.State != "purged" || a.ItemsLost != 0 || a.ItemsPreserved != 3000 || len(a.RestoredTo) != 1 || a.RestoredTo[0] != keeper {
		t.Fatalf("source after purge: %+v", a)
	}
	done := e.mustCmd("Get-MailboxRestoreRequest", map[string]any{"Status": "Completed"})
	if len(done) != 1 {
		t.Fatalf("completed requests: %v", done)
	}
}

func TestRestoreFailOnceThenResume(t *testing.T) {
	const ann, keeper = "ann@contoso.test", "keeper@contoso.test"
	e := newEnv(t, seed(ann, 1000), seed(keeper, 0))
	e.s.SetFaults(Faults{RestoreFailOnce: true})
	e.admin("deleteUser", ann)
	e.mustCmd("New-MailboxRestoreRequest", map[string]any{"SourceMailbox": e.exchangeGUID(ann), "TargetMailbox": keeper, "AllowLegacyDNMismatch": true})
	e.advance(time.Hour)
	st := e.mustCmd("Get-MailboxRestoreRequestStatistics", map[string]any{"Identity": "keeper\\MailboxRestore"})[0]
	if st["Status"] != "Failed" || st["FailureType"] == nil {
		t.Fatalf("want Failed: %v", st)
	}
	if e.mb(keeper).ItemsPreserved != 0 {
		t.Fatal("failed restore copied items")
	}
	e.mustCmd("Resume-MailboxRestoreRequest", map[string]any{"Identity": "keeper\\MailboxRestore"})
	e.advance(time.Hour)
	st = e.mustCmd("Get-MailboxRestoreRequestStatistics", map[string]any{"Identity": "keeper\\MailboxRestore"})[0]
	if st["Status"] != "Completed" || e.mb(keeper).ItemsPreserved != 1000 {
		t.Fatalf("after resume: %v %+v", st, e.mb(keeper))
	}
}

func TestRestoreFailsWhenSourcePurgedFirst(t *testing.T) {
	const ann, keeper = "ann@contoso.test", "keeper@contoso.test"
	e := newEnv(t, seed(ann, 100000), seed(keeper, 0))
	e.admin("deleteUser", ann)
	e.advance(30*day - 10*time.Minute)
	e.mustCmd("New-MailboxRestoreRequest", map[string]any{"SourceMailbox": e.exchangeGUID(ann), "TargetMailbox": keeper, "AllowLegacyDNMismatch": true})
	e.advance(day) // 100k items need ~16h: the purge comes first
	st := e.mustCmd("Get-MailboxRestoreRequest", map[string]any{"TargetMailbox": keeper})[0]
	if st["Status"] != "Failed" {
		t.Fatalf("want Failed, got %v", st)
	}
	e.wantState(ann, "purged", 100000)
}

func TestRestoreRequestValidation(t *testing.T) {
	const ann, keeper = "ann@contoso.test", "keeper@contoso.test"
	e := newEnv(t, seed(ann, 10), seed(keeper, 0))
	e.admin("deleteUser", ann)
	guid := e.exchangeGUID(ann)
	tests := []struct {
		name   string
		params map[string]any
		status int
		want   string
	}{
		{"BadItemLimit is on-premises only", map[string]any{"SourceMailbox": guid, "TargetMailbox": keeper, "AllowLegacyDNMismatch": true, "BadItemLimit": 10}, 400, "parameter name 'BadItemLimit'"},
		{"LargeItemLimit is on-premises only", map[string]any{"SourceMailbox": guid, "TargetMailbox": keeper, "AllowLegacyDNMismatch": true, "LargeItemLimit": 10}, 400, "parameter name 'LargeItemLimit'"},
		{"legacyDN mismatch without the switch", map[string]any{"SourceMailbox": guid, "TargetMailbox": keeper}, 400, "AllowLegacyDNMismatch"},
		{"source archive missing", map[string]any{"SourceMailbox": guid, "TargetMailbox": keeper, "AllowLegacyDNMismatch": true, "SourceIsArchive": true}, 400, "archive"},
		{"unknown source", map[string]any{"SourceMailbox": "0b7e7b5e-0000-4000-8000-000000000000", "TargetMailbox": keeper, "AllowLegacyDNMismatch": true}, 404, "ManagementObjectNotFoundException"},
		{"missing target", map[string]any{"SourceMailbox": guid}, 400, "TargetMailbox"},
		{"bad conflict option", map[string]any{"SourceMailbox": guid, "TargetMailbox": keeper, "AllowLegacyDNMismatch": true, "ConflictResolutionOption": "Whatever"}, 400, "ConflictResolutionOption"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, out := e.cmd("New-MailboxRestoreRequest", tc.params)
			if st != tc.status || !strings.Contains(detail(out), tc.want) {
				t.Fatalf("%d %v, want %d with %q", st, out, tc.status, tc.want)
			}
		})
	}
}

package exo_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/holdfast/holdfast/shared/clock"
	"github.com/holdfast/holdfast/shared/exo"
	"github.com/holdfast/holdfast/shared/securestring"
	"github.com/holdfast/holdfast/shared/tenant"
	"github.com/holdfast/holdfast/shared/testbed/sim"
)

// These tests drive every cmdlet the adapter sends against the tenant
// simulator, through the adapter's own pipeline.

var simStart = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

const simTenantID = "4a1c2d9e-1111-4222-8333-944455566677"

func startSim(t *testing.T) (*sim.Sim, *clock.Virtual, string) {
	t.Helper()
	vc := clock.NewVirtual(simStart)
	s := sim.New(sim.Options{Clock: vc, TenantID: simTenantID, Domain: "contoso.test", Seed: 7})
	err := s.Load(sim.TenantSpec{Users: []sim.UserSpec{
		{UPN: "ann@contoso.test", Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 100},
		{UPN: "bob@contoso.test", Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 100},
		{UPN: "carl@contoso.test", Licenses: []string{"EXCHANGESTANDARD"}, MailboxItems: 10},
		{UPN: "dee@contoso.test", Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 10, Archive: true, ArchiveItems: 10, AutoExpandingArchive: true},
		{UPN: "erin@contoso.test", Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 300},
		{UPN: "fay@contoso.test", Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 20},
		{UPN: "vault@contoso.test", Licenses: []string{"ENTERPRISEPACK"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return s, vc, srv.URL
}

func simClient(t *testing.T, base string, opts exo.Options) *exo.Client {
	t.Helper()
	opts.BaseURL = base
	opts.TenantID = simTenantID
	c, err := exo.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func collect(t *testing.T, c *exo.Client, scope tenant.MailboxScope) map[string]tenant.Mailbox {
	t.Helper()
	out := map[string]tenant.Mailbox{}
	err := c.ListMailboxes(context.Background(), scope, func(m tenant.Mailbox) error {
		out[m.UserPrincipalName] = m
		return nil
	})
	if err != nil {
		t.Fatalf("ListMailboxes(%d): %v", scope, err)
	}
	return out
}

func TestSimExchangeEveryCmdlet(t *testing.T) {
	s, vc, base := startSim(t)
	key, err := securestring.ParseKey(s.SecureStringKeyXML())
	if err != nil {
		t.Fatal(err)
	}
	c := simClient(t, base, exo.Options{PageSize: 2, SecureStringKey: key}) // small pages: paging is exercised
	checkCmdletRows(t, s)
	ctx := context.Background()

	// Get-Mailbox -ResultSize Unlimited, across pages
	active := collect(t, c, tenant.ScopeActive)
	if len(active) != 7 {
		t.Fatalf("active mailboxes = %d, want 7", len(active))
	}
	if c.Calls() != 4 {
		t.Errorf("Calls = %d, want 4 pages of 2", c.Calls())
	}
	ann := active["ann@contoso.test"]
	if ann.ExchangeGUID == "" || ann.DistinguishedName == "" || ann.LegacyExchangeDN == "" || ann.Alias == "" ||
		ann.PrimarySMTPAddress != "ann@contoso.test" || ann.ExternalDirectoryObjectID == "" ||
		ann.RecipientTypeDetails != "UserMailbox" || ann.LitigationHoldEnabled || ann.HasArchive() || ann.ArchiveStatus != "None" {
		t.Errorf("ann = %+v", ann)
	}
	if dee := active["dee@contoso.test"]; !dee.HasArchive() || !dee.AutoExpandingArchive || dee.ArchiveStatus != "Active" {
		t.Errorf("dee = %+v", dee)
	}

	// Get-Mailbox -Identity
	if m, err := c.GetMailbox(ctx, "ann@contoso.test", tenant.ScopeActive); err != nil || m.ExchangeGUID != ann.ExchangeGUID {
		t.Fatalf("GetMailbox(ann) = %+v, %v", m, err)
	}
	if _, err := c.GetMailbox(ctx, "nobody@contoso.test", tenant.ScopeActive); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("GetMailbox(nobody) err = %v, want ErrNotFound", err)
	}

	// Set-Mailbox: unlimited hold with a comment, a 2555-day hold by
	// ExchangeGuid, and a licence without Litigation Hold.
	if err := c.SetLitigationHold(ctx, tenant.HoldRequest{Identity: "ann@contoso.test", Enabled: true, Comment: "Leaver case 1"}); err != nil {
		t.Fatal(err)
	}
	held, err := c.GetMailbox(ctx, ann.ExchangeGUID, tenant.ScopeActive)
	if err != nil {
		t.Fatal(err)
	}
	if !held.LitigationHoldEnabled || held.LitigationHoldDuration != "Unlimited" || held.RetentionComment != "Leaver case 1" ||
		held.LitigationHoldDate == nil || !held.LitigationHoldDate.Equal(simStart) {
		t.Errorf("held ann = %+v", held)
	}
	bob := active["bob@contoso.test"]
	if err := c.SetLitigationHold(ctx, tenant.HoldRequest{Identity: bob.ExchangeGUID, Enabled: true, DurationDays: 2555}); err != nil {
		t.Fatal(err)
	}
	if m, _ := c.GetMailbox(ctx, bob.ExchangeGUID, tenant.ScopeActive); m.LitigationHoldDuration != "2555.00:00:00" {
		t.Errorf("bob duration = %q", m.LitigationHoldDuration)
	} else if n, ok := exo.HoldDays(m.LitigationHoldDuration); !ok || n != 2555 {
		t.Errorf("HoldDays(%q) = %d, %v", m.LitigationHoldDuration, n, ok)
	}
	err = c.SetLitigationHold(ctx, tenant.HoldRequest{Identity: "carl@contoso.test", Enabled: true})
	var se *tenant.ServiceError
	if !errors.Is(err, tenant.ErrHoldNotAllowed) || !errors.As(err, &se) || se.Service != "exchange" {
		t.Errorf("hold on Plan 1 err = %v, want ErrHoldNotAllowed", err)
	}
	if err := c.SetLitigationHold(ctx, tenant.HoldRequest{Identity: "bob@contoso.test", Enabled: false}); err != nil {
		t.Fatal(err)
	}
	if m, _ := c.GetMailbox(ctx, "bob@contoso.test", tenant.ScopeActive); m.LitigationHoldEnabled {
		t.Error("bob's hold not released")
	}

	// Deletions: ann (held, propagated) goes inactive; erin and dee are
	// soft-deleted; fay's mailbox is removed on the Exchange side.
	vc.Advance(61 * time.Minute)
	deletedAt := vc.Now()
	for _, upn := range []string{"ann@contoso.test", "erin@contoso.test", "dee@contoso.test"} {
		if err := s.Admin(ctx, sim.AdminAction{Action: "deleteUser", UPN: upn}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Admin(ctx, sim.AdminAction{Action: "removeMailbox", UPN: "fay@contoso.test"}); err != nil {
		t.Fatal(err)
	}
	vc.Advance(time.Minute)

	soft := collect(t, c, tenant.ScopeSoftDeleted)
	erin, ok := soft["erin@contoso.test"]
	if !ok || erin.IsInactiveMailbox || erin.WhenSoftDeleted == nil || !erin.WhenSoftDeleted.Equal(deletedAt) ||
		!erin.IsSoftDeletedByDisable || erin.IsSoftDeletedByRemove {
		t.Errorf("soft-deleted erin = %+v (found %v)", erin, ok)
	}
	if fay := soft["fay@contoso.test"]; !fay.IsSoftDeletedByRemove {
		t.Errorf("soft-deleted fay = %+v", fay)
	}
	inactive := collect(t, c, tenant.ScopeInactiveOnly)
	if len(inactive) != 1 || !inactive["ann@contoso.test"].IsInactiveMailbox {
		t.Errorf("inactive = %+v, want ann only", inactive)
	}
	if all := collect(t, c, tenant.ScopeIncludeInactive); len(all) != 4 { // bob, carl, vault + inactive ann
		t.Errorf("IncludeInactive = %d mailboxes, want 4", len(all))
	}
	if m, err := c.GetMailbox(ctx, erin.ExchangeGUID, tenant.ScopeSoftDeleted); err != nil || m.Alias != erin.Alias {
		t.Errorf("GetMailbox(erin, soft) = %+v, %v", m, err)
	}

	// New-MailboxRestoreRequest, Get-MailboxRestoreRequest,
	// Get-MailboxRestoreRequestStatistics
	req := tenant.RestoreRequest{Name: "holdfast-erin", SourceMailbox: erin.ExchangeGUID, TargetMailbox: "vault@contoso.test",
		TargetRootFolder: "Recovered/erin", AllowLegacyDNMismatch: true}
	st, err := c.NewRestoreRequest(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if st.Name != "holdfast-erin" || st.RequestGUID == "" || st.Terminal() {
		t.Errorf("NewRestoreRequest = %+v", st)
	}
	if _, err := c.NewRestoreRequest(ctx, req); !errors.Is(err, tenant.ErrConflict) {
		t.Errorf("second NewRestoreRequest err = %v, want ErrConflict", err)
	}
	list, err := c.GetRestoreRequests(ctx, "holdfast-erin")
	if err != nil || len(list) != 1 || list[0].RequestGUID != st.RequestGUID {
		t.Errorf("GetRestoreRequests = %+v, %v", list, err)
	}
	if list, err := c.GetRestoreRequests(ctx, "holdfast-nobody"); err != nil || len(list) != 0 {
		t.Errorf("GetRestoreRequests(none) = %+v, %v", list, err)
	}
	vc.Advance(2 * time.Minute)
	mid, err := c.GetRestoreStatistics(ctx, st.RequestGUID)
	if err != nil || mid.Terminal() || mid.Name != "holdfast-erin" || mid.TargetAlias == "" {
		t.Errorf("stats mid-way = %+v, %v", mid, err)
	}
	vc.Advance(time.Hour)
	done, err := c.GetRestoreStatistics(ctx, mid.TargetAlias+`\holdfast-erin`)
	if err != nil || done.Status != "Completed" || done.PercentComplete != 100 || !done.Terminal() {
		t.Errorf("stats done = %+v, %v", done, err)
	}
	if _, err := c.GetRestoreStatistics(ctx, "00000000-0000-0000-0000-000000000001"); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("stats(unknown) err = %v, want ErrNotFound", err)
	}
	dee := soft["dee@contoso.test"]
	_, err = c.NewRestoreRequest(ctx, tenant.RestoreRequest{Name: "holdfast-dee", SourceMailbox: dee.ExchangeGUID, TargetMailbox: "vault@contoso.test", AllowLegacyDNMismatch: true})
	if !errors.Is(err, tenant.ErrRefused) {
		t.Errorf("restore from auto-expanding archive err = %v, want ErrRefused", err)
	}

	// Undo-SoftDeletedMailbox: only for Remove-Mailbox deletions.
	if err := c.UndoSoftDeletedMailbox(ctx, "erin@contoso.test", "erin@contoso.test"); !errors.Is(err, tenant.ErrRefused) {
		t.Errorf("Undo for an Entra deletion err = %v, want ErrRefused", err)
	}
	if err := c.UndoSoftDeletedMailbox(ctx, "fay@contoso.test", "fay@contoso.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetMailbox(ctx, "fay@contoso.test", tenant.ScopeActive); err != nil {
		t.Errorf("fay not back: %v", err)
	}

	// Set-Mailbox -InactiveMailbox: by DistinguishedName, hold only.
	annInactive := inactive["ann@contoso.test"]
	if err := c.SetLitigationHold(ctx, tenant.HoldRequest{Identity: annInactive.DistinguishedName, Enabled: true, DurationDays: 3650,
		Comment: "not sent for inactive mailboxes", Inactive: true}); err != nil {
		t.Fatal(err)
	}
	if m, err := c.GetMailbox(ctx, annInactive.DistinguishedName, tenant.ScopeInactiveOnly); err != nil || m.LitigationHoldDuration != "3650.00:00:00" {
		t.Errorf("inactive ann = %+v, %v", m, err)
	}

	// Remove-Mailbox -PermanentlyDelete through Invoke: refused while held.
	err = c.Invoke(ctx, "Remove-Mailbox", map[string]any{"Identity": annInactive.ExchangeGUID, "PermanentlyDelete": true}, func(json.RawMessage) error { return nil })
	if !errors.Is(err, tenant.ErrRefused) {
		t.Errorf("PermanentlyDelete on a held mailbox err = %v, want ErrRefused", err)
	}

	// New-Mailbox -InactiveMailbox: only once the user has left the recycle
	// bin (30 days).
	if _, err := c.NewMailboxFromInactive(ctx, annInactive.DistinguishedName, "Ann Recovered", "ann.recovered@contoso.test"); !errors.Is(err, tenant.ErrRefused) {
		t.Errorf("recovery inside 30 days err = %v, want ErrRefused", err)
	}
	vc.Advance(31 * 24 * time.Hour)
	ann31, err := c.GetMailbox(ctx, annInactive.ExchangeGUID, tenant.ScopeInactiveOnly)
	if err != nil || ann31.ExternalDirectoryObjectID != "" {
		t.Fatalf("inactive ann after 31 days = %+v, %v", ann31, err)
	}
	rec, err := c.NewMailboxFromInactive(ctx, ann31.DistinguishedName, "Ann Recovered", "ann.recovered@contoso.test")
	if err != nil {
		t.Fatal(err)
	}
	if rec.UserPrincipalName != "ann.recovered@contoso.test" || rec.IsInactiveMailbox || rec.LitigationHoldEnabled {
		t.Errorf("recovered = %+v", rec)
	}
	if _, err := c.NewMailboxFromInactive(ctx, ann31.DistinguishedName, "Ann Recovered", "ann.recovered@contoso.test"); err == nil {
		t.Error("second recovery accepted")
	}

	if got := s.Stats().Total; got != c.Calls() {
		t.Errorf("Calls = %d, simulator served %d", c.Calls(), got)
	}
}

func TestSimExchangeThrottling(t *testing.T) {
	s, _, base := startSim(t)
	c := simClient(t, base, exo.Options{})
	ctx := context.Background()

	// One request a second: the second call gets 429 + Retry-After and
	// succeeds on retry.
	s.SetFaults(sim.Faults{Exchange: &sim.Budget{Budget: 1, Window: "1s"}})
	for _, upn := range []string{"ann@contoso.test", "bob@contoso.test"} {
		if _, err := c.GetMailbox(ctx, upn, tenant.ScopeActive); err != nil {
			t.Fatalf("GetMailbox(%s): %v", upn, err)
		}
	}
	if st := s.Stats(); st.Throttled < 1 || c.Calls() != 2+st.Throttled {
		t.Errorf("throttled %d, calls %d: want at least one 429 retried", st.Throttled, c.Calls())
	}

	// Always throttled: retries run out.
	s.SetFaults(sim.Faults{Rules: map[string]sim.FaultRule{"Set-Mailbox": {Throttle: 1, RetryAfter: 1}}})
	c1 := simClient(t, base, exo.Options{MaxRetries: 1})
	before := s.Stats().Throttled
	err := c1.SetLitigationHold(ctx, tenant.HoldRequest{Identity: "ann@contoso.test", Enabled: true})
	if !errors.Is(err, tenant.ErrThrottled) {
		t.Fatalf("err = %v, want ErrThrottled", err)
	}
	if n := s.Stats().Throttled - before; n != 2 {
		t.Errorf("429s served = %d, want 2", n)
	}

	// 503s are retried (no Retry-After: 2 s base backoff).
	s.SetFaults(sim.Faults{Rules: map[string]sim.FaultRule{"Get-Mailbox": {Unavailable: 0.5}}})
	for range 2 {
		if _, err := c.GetMailbox(ctx, "ann@contoso.test", tenant.ScopeActive); err != nil {
			t.Fatalf("GetMailbox under 503s: %v", err)
		}
	}
	if s.Stats().Unavailable == 0 {
		t.Error("no 503 served; the fault rule did not apply")
	}
}

package graph_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/holdfast/holdfast/shared/clock"
	"github.com/holdfast/holdfast/shared/graph"
	"github.com/holdfast/holdfast/shared/pacing"
	"github.com/holdfast/holdfast/shared/tenant"
	"github.com/holdfast/holdfast/shared/testbed/sim"
)

// These tests drive every Graph call of the adapter through the real
// msgraph-sdk-go request builders against the tenant simulator: they prove
// that the simulator's responses parse in the SDK and that the SDK's
// requests are understood by the simulator.

var simStart = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

const (
	enterprisePackID = "6fd2c87f-b296-42f0-b197-1e91e994b900"
	speE5ID          = "06ebc4ee-1bb5-47dd-8120-11324bc54e06"
)

func startSim(t *testing.T, spec sim.TenantSpec, opts graph.Options) (*sim.Sim, *clock.Virtual, *graph.Client) {
	s, vc, base := startSimServer(t, spec)
	return s, vc, simClient(t, base, opts)
}

func startSimServer(t *testing.T, spec sim.TenantSpec) (*sim.Sim, *clock.Virtual, string) {
	t.Helper()
	vc := clock.NewVirtual(simStart)
	s := sim.New(sim.Options{Clock: vc, TenantID: "4a1c2d9e-1111-4222-8333-944455566677", Domain: "contoso.test", Seed: 7})
	if err := s.Load(spec); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return s, vc, srv.URL + "/v1.0"
}

func simClient(t *testing.T, base string, opts graph.Options) *graph.Client {
	t.Helper()
	opts.BaseURL = base
	c, err := graph.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func simTenant() sim.TenantSpec {
	return sim.TenantSpec{
		SKUs: []sim.SKUSpec{
			{PartNumber: "ENTERPRISEPACK", Units: 100, IncludesLitigationHold: true},
			{PartNumber: "SPE_E5", Units: 1, IncludesLitigationHold: true},
		},
		Users: []sim.UserSpec{
			{UPN: "ann@contoso.test", DisplayName: "Ann Lee", Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 100,
				EmployeeID: "E1001", Department: "Legal"},
			{UPN: "bob@contoso.test", DisplayName: "Bob Ray", Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 50},
			{UPN: "carl@contoso.test", DisplayName: "Carl Obi", Licenses: []string{"ENTERPRISEPACK"}, EmployeeID: "O'B-7", Synced: true},
			{UPN: "dee@contoso.test", DisplayName: "Dee Fox", Licenses: []string{"SPE_E5"}},
		},
	}
}

func TestSimGraphEveryCall(t *testing.T) {
	s, vc, c := startSim(t, simTenant(), graph.Options{})
	checkGraphRequests(t, s)
	ctx := context.Background()

	// ListUsers
	byUPN := map[string]tenant.User{}
	if err := c.ListUsers(ctx, func(u tenant.User) error { byUPN[u.UserPrincipalName] = u; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(byUPN) != 4 {
		t.Fatalf("ListUsers returned %d users: %v", len(byUPN), byUPN)
	}
	ann := byUPN["ann@contoso.test"]
	if ann.ID == "" || ann.DisplayName != "Ann Lee" || !ann.AccountEnabled || ann.EmployeeID != "E1001" ||
		ann.Department != "Legal" || ann.UsageLocation != "US" || !slices.Equal(ann.AssignedSKUs, []string{enterprisePackID}) ||
		ann.OnPremisesSynced || ann.DeletedAt != nil || ann.Mail == "" {
		t.Errorf("ann = %+v", ann)
	}
	if !byUPN["carl@contoso.test"].OnPremisesSynced {
		t.Errorf("carl not synced: %+v", byUPN["carl@contoso.test"])
	}

	// GetUser, by UPN and by id
	u, err := c.GetUser(ctx, "ann@contoso.test")
	if err != nil || u.ID != ann.ID {
		t.Fatalf("GetUser(upn) = %+v, %v", u, err)
	}
	if u, err = c.GetUser(ctx, ann.ID); err != nil || u.UserPrincipalName != "ann@contoso.test" {
		t.Fatalf("GetUser(id) = %+v, %v", u, err)
	}
	if _, err := c.GetUser(ctx, "nobody@contoso.test"); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("GetUser(nobody) err = %v, want ErrNotFound", err)
	}

	// FindUserByEmployeeID, including a value that needs quote escaping
	if u, err := c.FindUserByEmployeeID(ctx, "E1001"); err != nil || u.ID != ann.ID {
		t.Errorf("FindUserByEmployeeID(E1001) = %+v, %v", u, err)
	}
	if u, err := c.FindUserByEmployeeID(ctx, "O'B-7"); err != nil || u.UserPrincipalName != "carl@contoso.test" {
		t.Errorf("FindUserByEmployeeID(O'B-7) = %+v, %v", u, err)
	}
	if _, err := c.FindUserByEmployeeID(ctx, "E404"); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("FindUserByEmployeeID(E404) err = %v, want ErrNotFound", err)
	}

	// SubscribedSKUs
	skus, err := c.SubscribedSKUs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]tenant.SKU{}
	for _, k := range skus {
		got[k.SKUPartNumber] = k
	}
	if k := got["ENTERPRISEPACK"]; k.SKUID != enterprisePackID || k.Enabled != 100 || k.Consumed != 3 {
		t.Errorf("ENTERPRISEPACK = %+v", k)
	}
	if k := got["SPE_E5"]; k.SKUID != speE5ID || k.Free() != 0 {
		t.Errorf("SPE_E5 = %+v", k)
	}

	// LicenseDetails
	ls, err := c.LicenseDetails(ctx, ann.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 1 || ls[0].SKUID != enterprisePackID || ls[0].SKUPartNumber != "ENTERPRISEPACK" ||
		!slices.Contains(ls[0].ServicePlans, "EXCHANGE_S_ENTERPRISE") {
		t.Errorf("LicenseDetails(ann) = %+v", ls)
	}

	// SetAccountEnabled
	if err := c.SetAccountEnabled(ctx, ann.ID, false); err != nil {
		t.Fatal(err)
	}
	if u, _ := c.GetUser(ctx, ann.ID); u.AccountEnabled {
		t.Error("account still enabled")
	}
	if err := c.SetAccountEnabled(ctx, ann.ID, true); err != nil {
		t.Fatal(err)
	}

	// AssignLicenses: the last SPE_E5 unit is taken, then remove and add.
	bob := byUPN["bob@contoso.test"]
	if err := c.AssignLicenses(ctx, bob.ID, []string{speE5ID}, nil); !errors.Is(err, tenant.ErrNoLicenceUnits) {
		t.Errorf("AssignLicenses(no unit) err = %v, want ErrNoLicenceUnits", err)
	}
	dee := byUPN["dee@contoso.test"]
	if err := c.AssignLicenses(ctx, dee.ID, []string{enterprisePackID}, []string{speE5ID}); err != nil {
		t.Fatal(err)
	}
	if ls, err := c.LicenseDetails(ctx, dee.ID); err != nil || len(ls) != 1 || ls[0].SKUPartNumber != "ENTERPRISEPACK" {
		t.Errorf("LicenseDetails(dee) = %+v, %v", ls, err)
	}
	if err := c.AssignLicenses(ctx, bob.ID, []string{speE5ID}, nil); err != nil {
		t.Errorf("AssignLicenses(freed unit) err = %v", err)
	}
	if err := c.AssignLicenses(ctx, "nobody@contoso.test", []string{speE5ID}, nil); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("AssignLicenses(nobody) err = %v, want ErrNotFound", err)
	}

	// Deleted users: the admin deletes bob; list, get, restore.
	vc.Advance(time.Hour)
	deletedAt := vc.Now()
	if err := s.Admin(ctx, sim.AdminAction{Action: "deleteUser", UPN: "bob@contoso.test"}); err != nil {
		t.Fatal(err)
	}
	vc.Advance(time.Hour)
	if _, err := c.GetUser(ctx, bob.ID); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("GetUser(deleted bob) err = %v, want ErrNotFound", err)
	}
	var deleted []tenant.User
	if err := c.ListDeletedUsers(ctx, func(u tenant.User) error { deleted = append(deleted, u); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(deleted) != 1 || deleted[0].ID != bob.ID || deleted[0].DeletedAt == nil || !deleted[0].DeletedAt.Equal(deletedAt) {
		t.Fatalf("ListDeletedUsers = %+v, want bob deleted at %v", deleted, deletedAt)
	}
	du, err := c.GetDeletedUser(ctx, bob.ID)
	if err != nil || du.DeletedAt == nil || !du.DeletedAt.Equal(deletedAt) {
		t.Errorf("GetDeletedUser(bob) = %+v, %v", du, err)
	}
	if _, err := c.GetDeletedUser(ctx, ann.ID); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("GetDeletedUser(active ann) err = %v, want ErrNotFound", err)
	}
	ru, err := c.RestoreDeletedUser(ctx, bob.ID)
	if err != nil || ru.ID != bob.ID || ru.UserPrincipalName != "bob@contoso.test" || ru.DeletedAt != nil {
		t.Fatalf("RestoreDeletedUser(bob) = %+v, %v", ru, err)
	}
	if _, err := c.GetDeletedUser(ctx, bob.ID); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("GetDeletedUser(restored bob) err = %v, want ErrNotFound", err)
	}
	if _, err := c.RestoreDeletedUser(ctx, bob.ID); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("RestoreDeletedUser(again) err = %v, want ErrNotFound", err)
	}
	if u, err := c.GetUser(ctx, bob.ID); err != nil || u.UserPrincipalName != "bob@contoso.test" {
		t.Errorf("GetUser(restored bob) = %+v, %v", u, err)
	}

	// SendMail
	err = c.SendMail(ctx, "ann@contoso.test", tenant.Mail{Subject: "Hold placed", Body: "Bob's mailbox is on hold.",
		To: []string{"it@contoso.test", "legal@contoso.test"}})
	if err != nil {
		t.Fatal(err)
	}
	mail := s.Mail()
	if len(mail) != 1 || mail[0].Subject != "Hold placed" || mail[0].Body != "Bob's mailbox is on hold." ||
		!slices.Equal(mail[0].To, []string{"it@contoso.test", "legal@contoso.test"}) {
		t.Errorf("captured mail = %+v", mail)
	}

	if c.Calls() == 0 || s.Stats().Total != c.Calls() {
		t.Errorf("Calls = %d, simulator served %d", c.Calls(), s.Stats().Total)
	}
}

func TestSimGraphRestoreConflict(t *testing.T) {
	s, _, c := startSim(t, simTenant(), graph.Options{})
	ctx := context.Background()
	bob, err := c.GetUser(ctx, "bob@contoso.test")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Admin(ctx, sim.AdminAction{Action: "deleteUser", UPN: "bob@contoso.test"}); err != nil {
		t.Fatal(err)
	}
	// A new synced account takes the UPN while the old one is in the bin.
	if err := s.Admin(ctx, sim.AdminAction{Action: "resyncUser", UPN: "bob@contoso.test"}); err != nil {
		t.Fatal(err)
	}
	_, err = c.RestoreDeletedUser(ctx, bob.ID)
	var se *tenant.ServiceError
	if !errors.Is(err, tenant.ErrConflict) || !errors.As(err, &se) || se.Status != 400 {
		t.Errorf("RestoreDeletedUser err = %v, want 400 wrapping ErrConflict", err)
	}
}

func TestSimGraphThrottling(t *testing.T) {
	s, _, base := startSimServer(t, simTenant())
	c := simClient(t, base, graph.Options{})
	ctx := context.Background()
	// One request a second: the second call is answered 429 with
	// Retry-After and succeeds when the SDK's retry handler tries again.
	s.SetFaults(sim.Faults{Graph: &sim.Budget{Budget: 1, Window: "1s"}})
	for _, upn := range []string{"ann@contoso.test", "bob@contoso.test"} {
		if _, err := c.GetUser(ctx, upn); err != nil {
			t.Fatalf("GetUser(%s): %v", upn, err)
		}
	}
	st := s.Stats()
	if st.Throttled < 1 || c.Calls() != 2+st.Throttled {
		t.Errorf("throttled %d, calls %d: want at least one 429 retried", st.Throttled, c.Calls())
	}

	// Every request throttled: retries run out and the error says so.
	s.SetFaults(sim.Faults{Rules: map[string]sim.FaultRule{"subscribedSkus": {Throttle: 1, RetryAfter: 1}}})
	c2 := simClient(t, base, graph.Options{MaxRetries: 1})
	before := s.Stats().Throttled
	if _, err := c2.SubscribedSKUs(ctx); !errors.Is(err, tenant.ErrThrottled) {
		t.Fatalf("SubscribedSKUs err = %v, want ErrThrottled", err)
	}
	if n := s.Stats().Throttled - before; n != 2 {
		t.Errorf("429s served = %d, want 2 (1 + 1 retry)", n)
	}

	// 503s are retried too.
	s.SetFaults(sim.Faults{Rules: map[string]sim.FaultRule{"licenseDetails": {Unavailable: 0.5}}})
	// Draws are deterministic for the seed, so this is not flaky; without
	// Retry-After the SDK backs off 2 s, 4 s, ...
	for range 2 {
		if _, err := c.LicenseDetails(ctx, "ann@contoso.test"); err != nil {
			t.Fatalf("LicenseDetails under 503s: %v", err)
		}
	}
	if s.Stats().Unavailable == 0 {
		t.Error("no 503 served; the fault rule did not apply")
	}
}

// Reads and writes go through their own limiters, and every request on the
// wire, retries included, passes one of them.
func TestSimGraphPacing(t *testing.T) {
	reads, writes := pacing.New("graph-reads", pacing.Unknown()), pacing.New("graph-writes", pacing.GraphWrites())
	_, _, c := startSim(t, simTenant(), graph.Options{Pacing: pacing.ByMethod(reads, writes)})
	ctx := context.Background()
	u, err := c.GetUser(ctx, "ann@contoso.test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.LicenseDetails(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.AssignLicenses(ctx, u.ID, nil, []string{enterprisePackID}); err != nil {
		t.Fatal(err)
	}
	r, w := reads.Stats().Requests, writes.Stats().Requests
	if r != 2 || w != 1 || r+w != c.Calls() {
		t.Fatalf("reads %d, writes %d, calls %d", r, w, c.Calls())
	}
}

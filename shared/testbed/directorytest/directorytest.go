// Package directorytest is the conformance suite of the engine's Directory
// port (engine.Directory), in the manner of go-cloud's drivertest: one
// list of behaviours the engine relies on, run against every
// implementation over the tenant simulator. Package graph runs it against
// graph.Client (msgraph-sdk-go over the simulator's TCP listener); package
// simdirectory runs it against its in-process client. When the two
// disagree, one of them is wrong.
//
// Each behaviour gets a fresh simulator on its own virtual clock and runs
// in parallel: several wait out Retry-After in wall time, as the clients
// do.
package directorytest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast/shared/clock"
	"github.com/holdfast/holdfast/shared/tenant"
	"github.com/holdfast/holdfast/shared/testbed/sim"
)

// Directory is the engine's Directory port, repeated here so the suite
// does not link the engine.
type Directory interface {
	GetUser(ctx context.Context, idOrUPN string) (tenant.User, error)
	FindUserByEmployeeID(ctx context.Context, employeeID string) (tenant.User, error)
	GetDeletedUser(ctx context.Context, id string) (tenant.User, error)
	RestoreDeletedUser(ctx context.Context, id string) (tenant.User, error)
	SetAccountEnabled(ctx context.Context, id string, enabled bool) error
	AssignLicenses(ctx context.Context, id string, add, remove []string) error
	SubscribedSKUs(ctx context.Context) ([]tenant.SKU, error)
	ListDeletedUsers(ctx context.Context, fn func(tenant.User) error) error
	ListUsers(ctx context.Context, fn func(tenant.User) error) error
	// UsersDelta is optional for the engine (without it reconcile lists
	// every user on every pass); both implementations have it, and an
	// in-process directory without it would make the engine's tests take
	// a path production does not.
	UsersDelta(ctx context.Context, link string, fn func(tenant.DeltaUser) error) (string, error)
}

// Options are what a behaviour asks of the client it is given.
type Options struct {
	// MaxRetries as in graph.Options: 0 is the default (5), negative
	// disables retrying.
	MaxRetries int
	// RetryDelay is the backoff base when an answer has no Retry-After.
	RetryDelay time.Duration
}

// NewDirectory returns the implementation under test, talking to s.
type NewDirectory func(t *testing.T, s *sim.Sim, o Options) Directory

// SKU ids of the simulator's well-known subscriptions (Microsoft's
// published product identifiers).
const (
	EnterprisePack = "6fd2c87f-b296-42f0-b197-1e91e994b900" // ENTERPRISEPACK (Office 365 E3)
	SPEE5          = "06ebc4ee-1bb5-47dd-8120-11324bc54e06" // SPE_E5 (Microsoft 365 E5)
)

// Start is the virtual time every behaviour starts at.
var Start = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func tenantSpec() sim.TenantSpec {
	return sim.TenantSpec{
		SKUs: []sim.SKUSpec{
			{PartNumber: "ENTERPRISEPACK", Units: 10, IncludesLitigationHold: true},
			{PartNumber: "SPE_E5", Units: 1, IncludesLitigationHold: true},
		},
		Users: []sim.UserSpec{
			{UPN: "ann@contoso.test", DisplayName: "Ann Lee", Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 5,
				EmployeeID: "E1001", Department: "Legal"},
			{UPN: "bob@contoso.test", DisplayName: "Bob Ray", Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 5,
				EmployeeID: "E1002"},
			{UPN: "carl@contoso.test", DisplayName: "Carl Obi", Licenses: []string{"ENTERPRISEPACK"}, EmployeeID: "O'B-7", Synced: true},
			{UPN: "dee@contoso.test", DisplayName: "Dee Fox", Licenses: []string{"SPE_E5"}, EmployeeID: "D-1"},
			{UPN: "eve@contoso.test", DisplayName: "Eve Twin", EmployeeID: "D-1", UsageLocation: "GB"},
		},
	}
}

// env is one behaviour's simulator and client.
type env struct {
	t   *testing.T
	ctx context.Context
	s   *sim.Sim
	clk *clock.Virtual
	d   Directory
}

func newEnv(t *testing.T, nd NewDirectory, spec sim.TenantSpec, o Options) *env {
	t.Helper()
	clk := clock.NewVirtual(Start)
	s := sim.New(sim.Options{Clock: clk, TenantID: "4a1c2d9e-1111-4222-8333-944455566677", Domain: "contoso.test", Seed: 11})
	if err := s.Load(spec); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return &env{t: t, ctx: ctx, s: s, clk: clk, d: nd(t, s, o)}
}

// id is the object id the simulator gave upn, read from its own mailbox
// report rather than through the client under test; a user without a
// mailbox is looked up with GetUser (checked by GetUser itself).
func (e *env) id(upn string) string {
	e.t.Helper()
	if r, ok := e.s.Mailboxes()[upn]; ok && r.UserID != "" {
		return r.UserID
	}
	return e.getUser(upn).ID
}

func (e *env) admin(action, upn string) {
	e.t.Helper()
	if err := e.s.Admin(e.ctx, sim.AdminAction{Action: action, UPN: upn}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) requests(op string) int64 { return e.s.Stats().Requests["graph:"+op] }

func (e *env) getUser(key string) tenant.User {
	e.t.Helper()
	u, err := e.d.GetUser(e.ctx, key)
	if err != nil {
		e.t.Fatalf("GetUser(%s): %v", key, err)
	}
	return u
}

// wantKind checks err against the one sentinel expected (nil: none of
// the sentinels the engine branches on).
func wantKind(t *testing.T, what string, err, kind error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want %v", what, kind)
	}
	for _, k := range []error{tenant.ErrNotFound, tenant.ErrThrottled, tenant.ErrConflict, tenant.ErrNoLicenceUnits,
		tenant.ErrRefused, tenant.ErrTransient, tenant.ErrDeltaExpired} {
		if got := errors.Is(err, k); got != (k == kind) {
			t.Fatalf("%s: errors.Is(err, %v) = %v; err = %v", what, k, got, err)
		}
	}
}

// wantStatus checks the service status and error code the error carries
// (audit rows and alerts show them).
func wantStatus(t *testing.T, what string, err error, status int) {
	t.Helper()
	codes := map[int]string{400: "Request_BadRequest", 404: "Request_ResourceNotFound", 429: "TooManyRequests", 503: "serviceNotAvailable"}
	var se *tenant.ServiceError
	if !errors.As(err, &se) || se.Status != status || se.Service != "graph" || se.Code != codes[status] || se.Message == "" {
		t.Fatalf("%s: want a graph ServiceError %d %s with a message, got %#v", what, status, codes[status], err)
	}
}

// Run runs every behaviour against the implementation nd builds.
func Run(t *testing.T, nd NewDirectory) {
	for _, b := range []struct {
		name string
		fn   func(*testing.T, NewDirectory)
	}{
		{"GetUser", testGetUser},
		{"NotFound", testNotFound},
		{"FindByEmployeeID", testFindByEmployeeID},
		{"DeletedUser", testDeletedUser},
		{"Restore", testRestore},
		{"RestoreConflict", testRestoreConflict},
		{"AccountEnabled", testAccountEnabled},
		{"RequestID", testRequestID},
		{"Licences", testLicences},
		{"LicenceErrors", testLicenceErrors},
		{"ListUsersPages", testListUsersPages},
		{"ListDeletedUsersPages", testListDeletedUsersPages},
		{"ListStopsOnCallbackError", testListStops},
		{"UsersDelta", testUsersDelta},
		{"UsersDeltaPages", testUsersDeltaPages},
		{"ThrottledExhausted", testThrottledExhausted},
		{"ThrottledThenServed", testThrottledThenServed},
		{"WriteBudget", testWriteBudget},
		{"LoadThrottle", testLoadThrottle},
		{"UnavailableExhausted", testUnavailable},
		{"Cancelled", testCancelled},
	} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			b.fn(t, nd)
		})
	}
}

func testGetUser(t *testing.T, nd NewDirectory) {
	e := newEnv(t, nd, tenantSpec(), Options{})
	ann := e.id("ann@contoso.test")
	byUPN := e.getUser("ann@contoso.test")
	want := tenant.User{ID: ann, UserPrincipalName: "ann@contoso.test", Mail: "ann@contoso.test", DisplayName: "Ann Lee",
		AccountEnabled: true, EmployeeID: "E1001", Department: "Legal", UsageLocation: "US", AssignedSKUs: []string{EnterprisePack}}
	if fmt.Sprint(byUPN) != fmt.Sprint(want) {
		t.Fatalf("GetUser(upn) = %+v\nwant %+v", byUPN, want)
	}
	for _, key := range []string{ann, "ANN@Contoso.Test", strings.ToUpper(ann)} {
		if got := e.getUser(key); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("GetUser(%s) = %+v\nwant %+v", key, got, want)
		}
	}
	carl := e.getUser("carl@contoso.test")
	if !carl.OnPremisesSynced || carl.EmployeeID != "O'B-7" || carl.Department != "" {
		t.Fatalf("carl = %+v: want synced, employeeId O'B-7, no department", carl)
	}
	if eve := e.getUser("eve@contoso.test"); len(eve.AssignedSKUs) != 0 || eve.UsageLocation != "GB" {
		t.Fatalf("eve = %+v: want no licences, usage location GB", eve)
	}
}

func testNotFound(t *testing.T, nd NewDirectory) {
	e := newEnv(t, nd, tenantSpec(), Options{})
	bob := e.id("bob@contoso.test")
	e.admin("deleteUser", "bob@contoso.test")
	for _, key := range []string{"nobody@contoso.test", "0b5c1e2a-3f4d-4e5f-8a9b-0c1d2e3f4a5b", bob, "bob@contoso.test"} {
		_, err := e.d.GetUser(e.ctx, key)
		wantKind(t, "GetUser("+key+")", err, tenant.ErrNotFound)
		wantStatus(t, "GetUser("+key+")", err, 404)
	}
	ann := e.id("ann@contoso.test")
	for _, fn := range []struct {
		name string
		call func() error
	}{
		{"GetDeletedUser(active)", func() error { _, err := e.d.GetDeletedUser(e.ctx, ann); return err }},
		{"RestoreDeletedUser(active)", func() error { _, err := e.d.RestoreDeletedUser(e.ctx, ann); return err }},
		{"SetAccountEnabled(deleted)", func() error { return e.d.SetAccountEnabled(e.ctx, bob, false) }},
		{"AssignLicenses(deleted)", func() error { return e.d.AssignLicenses(e.ctx, bob, []string{EnterprisePack}, nil) }},
	} {
		wantKind(t, fn.name, fn.call(), tenant.ErrNotFound)
	}
	// An empty id never reaches the service.
	before := e.s.Stats().Total
	for name, call := range map[string]func() error{
		"GetUser":            func() error { _, err := e.d.GetUser(e.ctx, " "); return err },
		"GetDeletedUser":     func() error { _, err := e.d.GetDeletedUser(e.ctx, ""); return err },
		"RestoreDeletedUser": func() error { _, err := e.d.RestoreDeletedUser(e.ctx, ""); return err },
		"SetAccountEnabled":  func() error { return e.d.SetAccountEnabled(e.ctx, "", true) },
		"AssignLicenses":     func() error { return e.d.AssignLicenses(e.ctx, "", nil, nil) },
	} {
		wantKind(t, name+"(empty)", call(), nil)
	}
	if after := e.s.Stats().Total; after != before {
		t.Fatalf("empty ids sent %d requests", after-before)
	}
}

func testFindByEmployeeID(t *testing.T, nd NewDirectory) {
	e := newEnv(t, nd, tenantSpec(), Options{})
	for id, upn := range map[string]string{"E1001": "ann@contoso.test", "O'B-7": "carl@contoso.test"} {
		u, err := e.d.FindUserByEmployeeID(e.ctx, id)
		if err != nil || u.UserPrincipalName != upn || u.ID != e.id(upn) || u.EmployeeID != id {
			t.Fatalf("FindUserByEmployeeID(%s) = %+v, %v; want %s", id, u, err, upn)
		}
	}
	_, err := e.d.FindUserByEmployeeID(e.ctx, "E9999")
	wantKind(t, "no match", err, tenant.ErrNotFound)
	_, err = e.d.FindUserByEmployeeID(e.ctx, "D-1")
	wantKind(t, "two matches", err, tenant.ErrConflict)
	// Only active users count: a deleted user's employeeId finds nothing.
	e.admin("deleteUser", "bob@contoso.test")
	_, err = e.d.FindUserByEmployeeID(e.ctx, "E1002")
	wantKind(t, "deleted user", err, tenant.ErrNotFound)
	// Input that could change the filter is refused before any request.
	before := e.requests("listUsers")
	for _, bad := range []string{"", "E1001') or (true", "E1001\x00", strings.Repeat("9", 65)} {
		_, err := e.d.FindUserByEmployeeID(e.ctx, bad)
		wantKind(t, fmt.Sprintf("FindUserByEmployeeID(%q)", bad), err, nil)
	}
	if n := e.requests("listUsers") - before; n != 0 {
		t.Fatalf("refused employee ids sent %d requests", n)
	}
}

func testDeletedUser(t *testing.T, nd NewDirectory) {
	e := newEnv(t, nd, tenantSpec(), Options{})
	bob := e.id("bob@contoso.test")
	e.clk.Advance(90 * time.Minute)
	deletedAt := e.clk.Now()
	e.admin("deleteUser", "bob@contoso.test")
	e.clk.Advance(time.Hour)
	u, err := e.d.GetDeletedUser(e.ctx, bob)
	if err != nil {
		t.Fatal(err)
	}
	if u.ID != bob || u.DeletedAt == nil || !u.DeletedAt.Equal(deletedAt) || u.DeletedAt.Location() != time.UTC {
		t.Fatalf("deleted bob = %+v (deletedAt %v), want id %s deleted at %v UTC", u, u.DeletedAt, bob, deletedAt)
	}
	// The recycle bin rewrites the UPN; mail and proxy addresses keep the
	// address HR knows. Licences went with the delete.
	if u.UserPrincipalName == "bob@contoso.test" || !strings.HasSuffix(u.UserPrincipalName, "bob@contoso.test") ||
		u.Mail != "bob@contoso.test" || !slices.Contains(u.ProxyAddresses, "SMTP:bob@contoso.test") ||
		len(u.AssignedSKUs) != 0 || u.EmployeeID != "E1002" {
		t.Fatalf("deleted bob = %+v", u)
	}
	var listed []tenant.User
	if err := e.d.ListDeletedUsers(e.ctx, func(u tenant.User) error { listed = append(listed, u); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || fmt.Sprint(listed[0]) != fmt.Sprint(u) {
		t.Fatalf("ListDeletedUsers = %+v, want exactly %+v", listed, u)
	}
	// An active user is not in the recycle bin.
	var users int
	if err := e.d.ListUsers(e.ctx, func(u tenant.User) error {
		users++
		if u.ID == bob || u.DeletedAt != nil {
			t.Errorf("ListUsers returned %+v", u)
		}
		return nil
	}); err != nil || users != 4 {
		t.Fatalf("ListUsers: %d users, %v; want 4", users, err)
	}
}

func testRestore(t *testing.T, nd NewDirectory) {
	e := newEnv(t, nd, tenantSpec(), Options{})
	bob := e.id("bob@contoso.test")
	e.admin("deleteUser", "bob@contoso.test")
	u, err := e.d.RestoreDeletedUser(e.ctx, bob)
	if err != nil {
		t.Fatal(err)
	}
	// The restore answer is typed as a user but carries only Graph's
	// default properties: no accountEnabled, licences or employeeId. The
	// engine reads the user afresh when it needs more.
	want := tenant.User{ID: bob, UserPrincipalName: "bob@contoso.test", Mail: "bob@contoso.test", DisplayName: "Bob Ray"}
	if fmt.Sprint(u) != fmt.Sprint(want) {
		t.Fatalf("restored = %+v\nwant %+v", u, want)
	}
	got := e.getUser(bob)
	if got.UserPrincipalName != "bob@contoso.test" || !got.AccountEnabled || !slices.Equal(got.AssignedSKUs, []string{EnterprisePack}) {
		t.Fatalf("after restore GetUser = %+v: want the UPN and the licence back", got)
	}
	_, err = e.d.GetDeletedUser(e.ctx, bob)
	wantKind(t, "GetDeletedUser after restore", err, tenant.ErrNotFound)
	_, err = e.d.RestoreDeletedUser(e.ctx, bob)
	wantKind(t, "second restore", err, tenant.ErrNotFound)
	if n := e.requests("restoreDeletedUser"); n != 2 {
		t.Fatalf("%d restore requests, want 2", n)
	}
}

func testRestoreConflict(t *testing.T, nd NewDirectory) {
	e := newEnv(t, nd, tenantSpec(), Options{})
	bob := e.id("bob@contoso.test")
	e.admin("deleteUser", "bob@contoso.test")
	e.admin("resyncUser", "bob@contoso.test") // a new user takes the UPN
	_, err := e.d.RestoreDeletedUser(e.ctx, bob)
	wantKind(t, "restore over a taken UPN", err, tenant.ErrConflict)
	wantStatus(t, "restore over a taken UPN", err, 400)
	if _, err := e.d.GetDeletedUser(e.ctx, bob); err != nil {
		t.Fatalf("refused restore left bob's deleted object: %v", err)
	}
}

func testAccountEnabled(t *testing.T, nd NewDirectory) {
	e := newEnv(t, nd, tenantSpec(), Options{})
	ann := e.id("ann@contoso.test")
	for _, on := range []bool{false, false, true} {
		if err := e.d.SetAccountEnabled(e.ctx, ann, on); err != nil {
			t.Fatal(err)
		}
		if got := e.getUser(ann).AccountEnabled; got != on {
			t.Fatalf("accountEnabled = %v after setting %v", got, on)
		}
	}
	if n := e.requests("patchUser"); n != 3 {
		t.Fatalf("%d PATCH requests, want 3", n)
	}
}

// A write sent with tenant.WithRequestID carries that client-request-id on
// every attempt (the engine writes it into the audit row); a call without
// one still sends an id, a new one per call.
func testRequestID(t *testing.T, nd NewDirectory) {
	e := newEnv(t, nd, tenantSpec(), Options{RetryDelay: time.Millisecond})
	ann := e.id("ann@contoso.test")
	var log sim.RequestLog
	e.s.OnRequest(log.Add)
	// One write a second: the second write is answered 429 once, then served.
	e.s.SetFaults(sim.Faults{Graph: &sim.Budget{Budget: 1, Window: "1s"}})
	const id = "6c0d7e1a-2b3c-4d5e-8f90-a1b2c3d4e5f6"
	if err := e.d.SetAccountEnabled(e.ctx, ann, false); err != nil {
		t.Fatal(err)
	}
	if err := e.d.SetAccountEnabled(tenant.WithRequestID(e.ctx, id), ann, true); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ri := range log.All() {
		if ri.Op == "patchUser" {
			got = append(got, ri.ClientRequestID)
		}
	}
	if len(got) < 3 {
		t.Fatalf("%d PATCH attempts (%q), want the second write throttled once and retried", len(got), got)
	}
	if got[0] == "" || got[0] == id {
		t.Errorf("the write without an id was sent with %q, want an id of its own", got[0])
	}
	for i, g := range got[1:] {
		if g != id {
			t.Errorf("attempt %d of the write with an id carried %q, want %q", i+1, g, id)
		}
	}
}

func skus(t *testing.T, e *env) map[string]tenant.SKU {
	t.Helper()
	list, err := e.d.SubscribedSKUs(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]tenant.SKU{}
	for _, s := range list {
		out[s.SKUPartNumber] = s
	}
	return out
}

func testLicences(t *testing.T, nd NewDirectory) {
	e := newEnv(t, nd, tenantSpec(), Options{})
	k := skus(t, e)
	if ep := k["ENTERPRISEPACK"]; ep.SKUID != EnterprisePack || ep.Enabled != 10 || ep.Consumed != 3 || ep.Free() != 7 {
		t.Fatalf("ENTERPRISEPACK = %+v, want 3 of 10 used", ep)
	}
	if e5 := k["SPE_E5"]; e5.SKUID != SPEE5 || e5.Enabled != 1 || e5.Consumed != 1 {
		t.Fatalf("SPE_E5 = %+v, want 1 of 1 used", e5)
	}
	eve, dee := e.id("eve@contoso.test"), e.id("dee@contoso.test")
	if err := e.d.AssignLicenses(e.ctx, eve, []string{EnterprisePack}, nil); err != nil {
		t.Fatal(err)
	}
	if got := e.getUser(eve).AssignedSKUs; !slices.Equal(got, []string{EnterprisePack}) {
		t.Fatalf("eve's licences = %v", got)
	}
	// Swap in one call: dee gives up E5 for E3.
	if err := e.d.AssignLicenses(e.ctx, dee, []string{EnterprisePack}, []string{SPEE5}); err != nil {
		t.Fatal(err)
	}
	if got := e.getUser(dee).AssignedSKUs; !slices.Equal(got, []string{EnterprisePack}) {
		t.Fatalf("dee's licences = %v", got)
	}
	// Upper-case GUIDs are the same SKU.
	if err := e.d.AssignLicenses(e.ctx, eve, nil, []string{strings.ToUpper(EnterprisePack)}); err != nil {
		t.Fatal(err)
	}
	k = skus(t, e)
	if k["ENTERPRISEPACK"].Consumed != 4 || k["SPE_E5"].Consumed != 0 {
		t.Fatalf("after the changes: %+v", k)
	}
}

func testLicenceErrors(t *testing.T, nd NewDirectory) {
	e := newEnv(t, nd, tenantSpec(), Options{})
	ann, eve := e.id("ann@contoso.test"), e.id("eve@contoso.test")
	// SPE_E5's one unit is dee's.
	err := e.d.AssignLicenses(e.ctx, eve, []string{SPEE5}, nil)
	wantKind(t, "no free unit", err, tenant.ErrNoLicenceUnits)
	wantStatus(t, "no free unit", err, 400)
	// Removing a licence the user does not have: refused, no sentinel.
	err = e.d.AssignLicenses(e.ctx, ann, nil, []string{SPEE5})
	wantKind(t, "remove a licence not held", err, nil)
	wantStatus(t, "remove a licence not held", err, 400)
	// A SKU the tenant does not have.
	err = e.d.AssignLicenses(e.ctx, ann, []string{"11111111-2222-4333-8444-555555555555"}, nil)
	wantKind(t, "unknown SKU", err, nil)
	wantStatus(t, "unknown SKU", err, 400)
	// Nothing changed.
	if got := e.getUser(eve).AssignedSKUs; len(got) != 0 {
		t.Fatalf("eve got %v", got)
	}
	// A malformed skuId never reaches the service.
	before := e.requests("assignLicense")
	for _, l := range [][2][]string{{{"E3"}, nil}, {nil, {"not-a-guid"}}} {
		wantKind(t, "malformed skuId", e.d.AssignLicenses(e.ctx, ann, l[0], l[1]), nil)
	}
	if n := e.requests("assignLicense") - before; n != 0 {
		t.Fatalf("malformed skuIds sent %d requests", n)
	}
}

func manyUsers(n int, deleted string) sim.TenantSpec {
	spec := sim.TenantSpec{SKUs: []sim.SKUSpec{{PartNumber: "ENTERPRISEPACK", Units: n, IncludesLitigationHold: true}}}
	for i := range n {
		spec.Users = append(spec.Users, sim.UserSpec{UPN: fmt.Sprintf("u%05d@contoso.test", i), Licenses: []string{"ENTERPRISEPACK"},
			Deleted: deleted, DeletedDaysAgo: 3})
	}
	return spec
}

// eachOnce lists with list and checks every user of the spec came exactly
// once.
func eachOnce(t *testing.T, n int, list func(func(tenant.User) error) error, check func(tenant.User) error) {
	t.Helper()
	seen := map[string]int{}
	ids := map[string]bool{}
	err := list(func(u tenant.User) error {
		seen[u.Mail]++
		ids[u.ID] = true
		return check(u)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != n || len(ids) != n {
		t.Fatalf("listed %d distinct users (%d ids), want %d", len(seen), len(ids), n)
	}
	for k, c := range seen {
		if c != 1 {
			t.Fatalf("%s listed %d times", k, c)
		}
	}
}

func testListUsersPages(t *testing.T, nd NewDirectory) {
	const n = 1234 // two pages of 999
	e := newEnv(t, nd, manyUsers(n, ""), Options{})
	eachOnce(t, n, func(fn func(tenant.User) error) error { return e.d.ListUsers(e.ctx, fn) }, func(u tenant.User) error {
		if !strings.HasPrefix(u.UserPrincipalName, "u") || u.DeletedAt != nil || len(u.AssignedSKUs) != 1 || !u.AccountEnabled {
			return fmt.Errorf("listed %+v", u)
		}
		return nil
	})
	if got := e.requests("listUsers"); got != 2 {
		t.Fatalf("%d list requests for %d users, want 2 (pages of 999)", got, n)
	}
}

func testListDeletedUsersPages(t *testing.T, nd NewDirectory) {
	const n = 1001
	e := newEnv(t, nd, manyUsers(n, "softDeleted"), Options{})
	want := Start.Add(-3 * 24 * time.Hour)
	eachOnce(t, n, func(fn func(tenant.User) error) error { return e.d.ListDeletedUsers(e.ctx, fn) }, func(u tenant.User) error {
		if u.DeletedAt == nil || !u.DeletedAt.Equal(want) || !strings.HasSuffix(u.UserPrincipalName, u.Mail) ||
			!slices.Contains(u.ProxyAddresses, "SMTP:"+u.Mail) {
			return fmt.Errorf("listed %+v", u)
		}
		return nil
	})
	if got := e.requests("listDeletedUsers"); got != 2 {
		t.Fatalf("%d list requests for %d deleted users, want 2", got, n)
	}
}

func testListStops(t *testing.T, nd NewDirectory) {
	e := newEnv(t, nd, manyUsers(1200, ""), Options{})
	stop := errors.New("enough")
	calls := 0
	err := e.d.ListUsers(e.ctx, func(tenant.User) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Fatalf("ListUsers = %v after %d calls; want the callback's own error after 1", err, calls)
	}
	if got := e.requests("listUsers"); got != 1 {
		t.Fatalf("%d list requests after stopping on the first page", got)
	}
}

func testThrottledExhausted(t *testing.T, nd NewDirectory) {
	e := newEnv(t, nd, tenantSpec(), Options{MaxRetries: 2})
	e.s.SetFaults(sim.Faults{Rules: map[string]sim.FaultRule{"getUser": {Throttle: 1, RetryAfter: 1}}})
	t0 := time.Now()
	_, err := e.d.GetUser(e.ctx, "ann@contoso.test")
	wantKind(t, "throttled", err, tenant.ErrThrottled)
	wantStatus(t, "throttled", err, 429)
	if n := e.requests("getUser"); n != 3 {
		t.Fatalf("%d getUser requests, want 1 + 2 retries", n)
	}
	if el := time.Since(t0); el < 2*time.Second {
		t.Fatalf("gave up after %v: Retry-After (1 s) was not honoured", el)
	}
}

func testThrottledThenServed(t *testing.T, nd NewDirectory) {
	e := newEnv(t, nd, tenantSpec(), Options{})
	e.s.SetFaults(sim.Faults{Graph: &sim.Budget{Budget: 1, Window: "1s"}})
	for range 2 {
		if u := e.getUser("ann@contoso.test"); u.UserPrincipalName != "ann@contoso.test" {
			t.Fatalf("got %+v", u)
		}
	}
	if st := e.s.Stats(); st.Throttled < 1 || st.Requests["graph:getUser"] != 2+st.Throttled {
		t.Fatalf("stats %+v: want the second read throttled and then served", st)
	}
}

func testWriteBudget(t *testing.T, nd NewDirectory) {
	e := newEnv(t, nd, tenantSpec(), Options{})
	e.s.SetFaults(sim.Faults{Budgets: &sim.Budgets{GraphWrites: &sim.WindowBudget{Requests: 1, Window: "1s"}}})
	ann := e.id("ann@contoso.test")
	for _, on := range []bool{false, true} {
		if err := e.d.SetAccountEnabled(e.ctx, ann, on); err != nil {
			t.Fatal(err)
		}
	}
	st := e.s.Stats()
	if st.Throttles["graph:patchUser"] < 1 || st.Requests["graph:patchUser"] < 3 {
		t.Fatalf("stats %+v: want the second write throttled by the write budget and retried", st)
	}
	// Reads are not writes.
	if st.Throttles["graph:getUser"] != 0 {
		t.Fatalf("reads throttled by the write budget: %+v", st)
	}
	if !e.getUser(ann).AccountEnabled {
		t.Fatal("the retried write did not land")
	}
}

func testLoadThrottle(t *testing.T, nd NewDirectory) {
	e := newEnv(t, nd, tenantSpec(), Options{})
	e.s.SetRealism(sim.Realism{Throttle: &sim.LoadThrottle{Budget: 2, Floor: 1, Window: "1s"}})
	for i := range 4 {
		if _, err := e.d.SubscribedSKUs(e.ctx); err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
	}
	if st := e.s.Stats(); st.Throttled < 1 {
		t.Fatalf("stats %+v: want the load throttle to have answered 429", st)
	}
}

func testUnavailable(t *testing.T, nd NewDirectory) {
	e := newEnv(t, nd, tenantSpec(), Options{MaxRetries: 1, RetryDelay: time.Millisecond})
	e.s.SetFaults(sim.Faults{Rules: map[string]sim.FaultRule{"assignLicense": {Unavailable: 1}}})
	eve := e.id("eve@contoso.test")
	err := e.d.AssignLicenses(e.ctx, eve, []string{EnterprisePack}, nil)
	// 503 maps onto no sentinel: the engine returns it and the host
	// redelivers the message.
	wantKind(t, "unavailable", err, nil)
	wantStatus(t, "unavailable", err, 503)
	if n := e.requests("assignLicense"); n != 2 {
		t.Fatalf("%d assignLicense requests, want 1 + 1 retry", n)
	}
	e.s.SetFaults(sim.Faults{})
	if got := e.getUser(eve).AssignedSKUs; len(got) != 0 {
		t.Fatalf("a refused write landed: %v", got)
	}
}

func testCancelled(t *testing.T, nd NewDirectory) {
	e := newEnv(t, nd, tenantSpec(), Options{})
	e.s.SetFaults(sim.Faults{Rules: map[string]sim.FaultRule{"getUser": {Latency: "3s"}}})
	ctx, cancel := context.WithTimeout(e.ctx, 200*time.Millisecond)
	defer cancel()
	_, err := e.d.GetUser(ctx, "ann@contoso.test")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("GetUser past its deadline = %v, want context.DeadlineExceeded", err)
	}
	wantKind(t, "cancelled", err, nil)
}

func testUsersDelta(t *testing.T, nd NewDirectory) {
	e := newEnv(t, nd, tenantSpec(), Options{})
	full := map[string]tenant.DeltaUser{}
	link, err := e.d.UsersDelta(e.ctx, "", func(d tenant.DeltaUser) error { full[d.User.UserPrincipalName] = d; return nil })
	if err != nil || link == "" {
		t.Fatalf("full round: link %q, %v", link, err)
	}
	if len(full) != 5 || full["ann@contoso.test"].Removed != "" || full["ann@contoso.test"].User.EmployeeID != "E1001" {
		t.Fatalf("full round = %+v", full)
	}
	// Nothing changed: an empty round.
	n := 0
	if link, err = e.d.UsersDelta(e.ctx, link, func(tenant.DeltaUser) error { n++; return nil }); err != nil || n != 0 {
		t.Fatalf("quiet round: %d entries, %v", n, err)
	}
	ann, bob, carl := e.id("ann@contoso.test"), e.id("bob@contoso.test"), e.id("carl@contoso.test")
	e.admin("removeLicense", "ann@contoso.test")
	e.admin("deleteUser", "bob@contoso.test")
	e.admin("deleteUser", "carl@contoso.test")
	e.admin("purgeUser", "carl@contoso.test")
	got := map[string]tenant.DeltaUser{}
	link2, err := e.d.UsersDelta(e.ctx, link, func(d tenant.DeltaUser) error { got[d.User.ID] = d; return nil })
	if err != nil || link2 == "" {
		t.Fatalf("incremental round: link %q, %v", link2, err)
	}
	if len(got) != 3 {
		t.Fatalf("incremental round = %+v, want ann, bob and carl", got)
	}
	if a := got[ann]; a.Removed != "" || len(a.User.AssignedSKUs) != 0 || a.User.UserPrincipalName != "ann@contoso.test" {
		t.Fatalf("ann = %+v: want present without licences", a)
	}
	// In the recycle bin: "changed" (restorable); purged: "deleted".
	if b := got[bob]; b.Removed != "changed" {
		t.Fatalf("bob = %+v: want @removed changed", b)
	}
	if c := got[carl]; c.Removed != "deleted" {
		t.Fatalf("carl = %+v: want @removed deleted", c)
	}
	// A week later the link has expired.
	e.clk.Advance(8 * 24 * time.Hour)
	_, err = e.d.UsersDelta(e.ctx, link2, func(tenant.DeltaUser) error { return nil })
	wantKind(t, "expired delta link", err, tenant.ErrDeltaExpired)
	// A link to another origin is refused before any request.
	before := e.requests("usersDelta")
	_, err = e.d.UsersDelta(e.ctx, "https://elsewhere.invalid/v1.0/users/delta()?$deltatoken=x", func(tenant.DeltaUser) error { return nil })
	wantKind(t, "foreign delta link", err, nil)
	if n := e.requests("usersDelta") - before; n != 0 {
		t.Fatalf("a foreign delta link sent %d requests", n)
	}
}

func testUsersDeltaPages(t *testing.T, nd NewDirectory) {
	const n = 250 // the simulator pages delta rounds by 100
	e := newEnv(t, nd, manyUsers(n, ""), Options{})
	seen := map[string]int{}
	link, err := e.d.UsersDelta(e.ctx, "", func(d tenant.DeltaUser) error { seen[d.User.ID]++; return nil })
	if err != nil || link == "" || len(seen) != n {
		t.Fatalf("full round: %d users, link %q, %v", len(seen), link, err)
	}
	for id, c := range seen {
		if c != 1 {
			t.Fatalf("%s listed %d times", id, c)
		}
	}
	if got := e.requests("usersDelta"); got != 3 {
		t.Fatalf("%d delta requests for %d users, want 3", got, n)
	}
}

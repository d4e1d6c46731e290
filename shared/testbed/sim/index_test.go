package sim

import (
	"context"
	"strings"
	"testing"
	"time"
)

// scanResolve is the lookup as it was before the indexes: every mailbox,
// filtered by scope, matched field by field.
func scanResolve(s *Sim, id string, sc scope) (*mailbox, *exError) {
	var in []*mailbox
	for _, m := range s.mailbox {
		if s.inScope(m, sc) {
			in = append(in, m)
		}
	}
	return resolveIn(in, id)
}

// TestIndexedLookupsAnswerLikeScans checks, for every identity of every
// mailbox and user of a tenant with a history (deletions, purges, a
// re-synced user that reuses a UPN and an ExchangeGuid, reused aliases),
// that the indexed lookups give what scanning every object gives.
func TestIndexedLookupsAnswerLikeScans(t *testing.T) {
	e := newEnv(t,
		seed("ada@contoso.test", 10),
		seed("bo@contoso.test", 10),
		seed("bo@fabrikam.test", 10), // same alias, another domain
		UserSpec{UPN: "cy@contoso.test", Licenses: []string{"ENTERPRISEPACK"}, Deleted: "softDeleted", DeletedDaysAgo: 3},
		UserSpec{UPN: "di@contoso.test", Licenses: []string{"ENTERPRISEPACK"}, Deleted: "inactive", DeletedDaysAgo: 40},
		UserSpec{UPN: "ed@contoso.test", Licenses: []string{"ENTERPRISEPACK"}, Deleted: "purged", DeletedDaysAgo: 40},
		UserSpec{UPN: "fy@contoso.test", Licenses: []string{"ENTERPRISEPACK"}, Deleted: "unlicensed", DeletedDaysAgo: 2},
		seed("gu@contoso.test", 10),
		seed("di@contoso.test", 10), // reuses the inactive mailbox's UPN
	)
	ctx := context.Background()
	for _, a := range []AdminAction{
		{Action: "deleteUser", UPN: "gu@contoso.test"},
		{Action: "resyncUser", UPN: "gu@contoso.test"}, // same UPN and ExchangeGuid, new user
		{Action: "deleteUser", UPN: "ada@contoso.test"},
	} {
		if err := e.s.Admin(ctx, a); err != nil {
			t.Fatalf("%+v: %v", a, err)
		}
	}
	e.clk.Advance(time.Hour)
	s := e.s
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, m := range s.mailbox {
		ids = append(ids, m.ExchangeGuid, m.Guid, m.DN, m.LegacyDN, m.UPN, m.PrimarySMTP, m.Alias, m.Name, m.userID,
			strings.ToUpper(m.UPN), " "+m.Alias+" ")
	}
	for _, u := range s.users {
		ids = append(ids, u.ID, u.UPN, strings.ToUpper(u.ID))
	}
	ids = append(ids, "nobody@contoso.test", "bo")
	scopes := []scope{scopeActive, scopeSoftDeleted, scopeInactiveOnly, scopeIncludeInactive, scopeAnyDeleted}
	ambiguous := 0
	for _, id := range ids {
		if id == "" {
			continue
		}
		for _, sc := range scopes {
			got, gerr := s.resolve(id, sc)
			want, werr := scanResolve(s, strings.TrimSpace(id), sc)
			if got != want || (gerr == nil) != (werr == nil) || (gerr != nil && (gerr.class != werr.class || gerr.msg != werr.msg)) {
				t.Errorf("resolve(%q, %d) = %v, %v; scan gives %v, %v", id, sc, got, gerr, want, werr)
			}
			if werr != nil && werr.class == clsAmbiguous {
				ambiguous++
			}
		}
		var wantUser, wantDeleted, wantActive *user
		for _, u := range s.users {
			if wantUser == nil && u.state == userActive && (strings.EqualFold(u.ID, id) || strings.EqualFold(u.UPN, id)) {
				wantUser = u
			}
			if wantDeleted == nil && u.state == userDeleted && strings.EqualFold(u.ID, id) {
				wantDeleted = u
			}
			if wantActive == nil && u.state == userActive && strings.EqualFold(u.UPN, id) {
				wantActive = u
			}
		}
		if got := s.findUser(id); got != wantUser {
			t.Errorf("findUser(%q) = %v, scan gives %v", id, got, wantUser)
		}
		if got := s.findDeleted(id); got != wantDeleted {
			t.Errorf("findDeleted(%q) = %v, scan gives %v", id, got, wantDeleted)
		}
		if got := s.activeUserByUPN(id); got != wantActive {
			t.Errorf("activeUserByUPN(%q) = %v, scan gives %v", id, got, wantActive)
		}
	}
	if ambiguous == 0 {
		t.Error("no identity was ambiguous: the tenant does not exercise the ambiguity answer")
	}
}

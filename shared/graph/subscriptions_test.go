package graph_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast/shared/graph"
	"github.com/holdfast/holdfast/shared/tenant"
	"github.com/holdfast/holdfast/shared/testbed/sim"
)

const egURL = "EventGrid:?azuresubscriptionid=0a0b0c0d-1111-4222-8333-944455566677&resourcegroup=rg-holdfast&partnertopic=holdfast-graph-users&location=westeurope"

func TestSimSubscriptionLifecycle(t *testing.T) {
	s, vc, c := startSim(t, simTenant(), graph.Options{MaxRetries: -1})
	ctx := context.Background()
	want := tenant.Subscription{Resource: "users", ChangeType: "updated,deleted", NotificationURL: egURL,
		LifecycleURL: egURL, ClientState: "state-for-tests", ExpirationDateTime: vc.Now().Add(28 * 24 * time.Hour)}

	// Validation errors come back as Graph error bodies, translated.
	for name, mut := range map[string]func(*tenant.Subscription){
		"too long":        func(x *tenant.Subscription) { x.ExpirationDateTime = vc.Now().Add(41761 * time.Minute) },
		"in the past":     func(x *tenant.Subscription) { x.ExpirationDateTime = vc.Now().Add(-time.Minute) },
		"webhook url":     func(x *tenant.Subscription) { x.NotificationURL = "https://example.test/hook" },
		"bad change type": func(x *tenant.Subscription) { x.ChangeType = "updated,purged" },
		"other resource":  func(x *tenant.Subscription) { x.Resource = "groups" },
	} {
		bad := want
		mut(&bad)
		_, err := c.CreateSubscription(ctx, bad)
		var se *tenant.ServiceError
		if !errors.As(err, &se) || se.Status != 400 {
			t.Errorf("%s: want a 400 service error, got %v", name, err)
		}
	}

	sub, err := c.CreateSubscription(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	if sub.ID == "" || !sub.ExpirationDateTime.Equal(want.ExpirationDateTime.Truncate(time.Microsecond)) || sub.LifecycleURL != egURL {
		t.Fatalf("created %+v", sub)
	}
	list, err := c.ListSubscriptions(ctx)
	if err != nil || len(list) != 1 || list[0].ID != sub.ID {
		t.Fatalf("list = %+v, %v", list, err)
	}
	// Renew moves the expiry forward; reauthorize leaves it.
	vc.Advance(20 * 24 * time.Hour)
	renewed, err := c.RenewSubscription(ctx, sub.ID, vc.Now().Add(28*24*time.Hour))
	if err != nil || !renewed.ExpirationDateTime.After(sub.ExpirationDateTime) {
		t.Fatalf("renew = %+v, %v", renewed, err)
	}
	if err := c.ReauthorizeSubscription(ctx, sub.ID); err != nil {
		t.Fatal(err)
	}
	// Notifications carry the subscription; after expiry they stop and
	// the subscription is gone.
	s.DrainEvents()
	if err := s.Admin(ctx, sim.AdminAction{Action: "disableAccount", UPN: "bob@contoso.test"}); err != nil {
		t.Fatal(err)
	}
	if evs := s.DrainEvents(); len(evs) != 1 || !strings.Contains(string(evs[0]), sub.ID) {
		t.Fatalf("events while live: %d", len(evs))
	}
	vc.Advance(28*24*time.Hour - 2*time.Hour) // inside the reauthorization lead
	evs := s.DrainEvents()
	if len(evs) != 1 || !strings.Contains(string(evs[0]), "Microsoft.Graph.SubscriptionReauthorizationRequired") {
		t.Fatalf("want one reauthorizationRequired, got %d: %s", len(evs), evs)
	}
	vc.Advance(3 * time.Hour)
	if err := s.Admin(ctx, sim.AdminAction{Action: "enableAccount", UPN: "bob@contoso.test"}); err != nil {
		t.Fatal(err)
	}
	if evs := s.DrainEvents(); len(evs) != 0 {
		t.Fatalf("%d notifications after expiry", len(evs))
	}
	if _, err := c.GetSubscription(ctx, sub.ID); !errors.Is(err, tenant.ErrNotFound) {
		t.Fatalf("get expired: %v", err)
	}
	if _, err := c.RenewSubscription(ctx, sub.ID, vc.Now().Add(time.Hour)); !errors.Is(err, tenant.ErrNotFound) {
		t.Fatalf("renew expired: %v", err)
	}
	// Removal with a lifecycle event, then delete.
	sub2, err := c.CreateSubscription(ctx, tenant.Subscription{Resource: "users", ChangeType: "updated,deleted",
		NotificationURL: egURL, LifecycleURL: egURL, ExpirationDateTime: vc.Now().Add(time.Hour * 24)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Admin(ctx, sim.AdminAction{Action: "removeSubscriptionNotify"}); err != nil {
		t.Fatal(err)
	}
	if evs := s.DrainEvents(); len(evs) != 1 || !strings.Contains(string(evs[0]), "Microsoft.Graph.SubscriptionRemoved") {
		t.Fatalf("removal events: %s", evs)
	}
	if err := c.DeleteSubscription(ctx, sub2.ID); !errors.Is(err, tenant.ErrNotFound) {
		t.Fatalf("delete removed: %v", err)
	}
}

func TestSimUsersDelta(t *testing.T) {
	spec := simTenant()
	for i := 0; i < 250; i++ { // several pages
		spec.Users = append(spec.Users, sim.UserSpec{UPN: "u" + strings.Repeat("x", i%3) + string(rune('a'+i%26)) + time.Duration(i).String() + "@contoso.test",
			DisplayName: "Filler", Licenses: []string{"ENTERPRISEPACK"}})
	}
	s, vc, c := startSim(t, spec, graph.Options{MaxRetries: -1})
	ctx := context.Background()
	calls := c.Calls()
	full := 0
	link, err := c.UsersDelta(ctx, "", func(d tenant.DeltaUser) error {
		if d.Removed != "" || d.User.UserPrincipalName == "" {
			t.Errorf("full round entry %+v", d)
		}
		full++
		return nil
	})
	if err != nil || link == "" {
		t.Fatal(link, err)
	}
	if full != len(spec.Users) || c.Calls()-calls < 3 {
		t.Fatalf("full round: %d users in %d calls", full, c.Calls()-calls)
	}
	// Two changes: a soft delete and a licence removal.
	for _, a := range []sim.AdminAction{{Action: "deleteUser", UPN: "ann@contoso.test"}, {Action: "removeLicense", UPN: "bob@contoso.test"}} {
		if err := s.Admin(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]tenant.DeltaUser{}
	link2, err := c.UsersDelta(ctx, link, func(d tenant.DeltaUser) error { got[d.User.ID] = d; return nil })
	if err != nil || len(got) != 2 {
		t.Fatalf("incremental: %d entries, %v", len(got), err)
	}
	removed := 0
	for _, d := range got {
		if d.Removed == "changed" {
			removed++
		} else if d.User.UserPrincipalName != "bob@contoso.test" || len(d.User.AssignedSKUs) != 0 {
			t.Errorf("changed entry %+v", d)
		}
	}
	if removed != 1 {
		t.Errorf("want one @removed(changed), got %d", removed)
	}
	// Nothing changed: an empty round. An old link has expired.
	n := 0
	if _, err := c.UsersDelta(ctx, link2, func(tenant.DeltaUser) error { n++; return nil }); err != nil || n != 0 {
		t.Fatalf("quiet round: %d, %v", n, err)
	}
	vc.Advance(8 * 24 * time.Hour)
	if _, err := c.UsersDelta(ctx, link2, func(tenant.DeltaUser) error { return nil }); !errors.Is(err, tenant.ErrDeltaExpired) {
		t.Fatalf("expired link: %v", err)
	}
}

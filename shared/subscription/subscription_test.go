package subscription_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/clock"
	"github.com/holdfast/holdfast/shared/engine"
	"github.com/holdfast/holdfast/shared/events"
	"github.com/holdfast/holdfast/shared/ledger"
	"github.com/holdfast/holdfast/shared/ledger/memledger"
	"github.com/holdfast/holdfast/shared/notify"
	"github.com/holdfast/holdfast/shared/subscription"
	"github.com/holdfast/holdfast/shared/tenant"
)

const topic = "EventGrid:?azuresubscriptionid=0a0b0c0d-1111-4222-8333-944455566677&resourcegroup=rg&partnertopic=t&location=westeurope"

// fakeGraph keeps subscriptions in memory and can be told to fail.
type fakeGraph struct {
	mu      sync.Mutex
	clock   *clock.Virtual
	subs    map[string]tenant.Subscription
	n       int
	creates int
	failAll error
	// failRenew fails renewals only (reads still work).
	failRenew error
	slow      time.Duration // widens the race window of concurrent creates
}

func (g *fakeGraph) CreateSubscription(_ context.Context, s tenant.Subscription) (tenant.Subscription, error) {
	time.Sleep(g.slow)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.failAll != nil {
		return tenant.Subscription{}, g.failAll
	}
	if s.ExpirationDateTime.Sub(g.clock.Now()) > subscription.MaxLifetime {
		return tenant.Subscription{}, &tenant.ServiceError{Status: 400, Code: "ExtensionError"}
	}
	g.n++
	g.creates++
	s.ID = fmt.Sprintf("00000000-0000-4000-8000-%012d", g.n)
	g.subs[s.ID] = s
	return s, nil
}

func (g *fakeGraph) live(id string) (tenant.Subscription, bool) {
	s, ok := g.subs[id]
	return s, ok && s.ExpirationDateTime.After(g.clock.Now())
}

func (g *fakeGraph) ListSubscriptions(context.Context) ([]tenant.Subscription, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []tenant.Subscription
	for id := range g.subs {
		if s, ok := g.live(id); ok {
			out = append(out, s)
		}
	}
	return out, g.failAll
}

func (g *fakeGraph) GetSubscription(_ context.Context, id string) (tenant.Subscription, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.failAll != nil {
		return tenant.Subscription{}, g.failAll
	}
	s, ok := g.live(id)
	if !ok {
		return tenant.Subscription{}, &tenant.ServiceError{Status: 404, Kind: tenant.ErrNotFound}
	}
	return s, nil
}

func (g *fakeGraph) RenewSubscription(_ context.Context, id string, until time.Time) (tenant.Subscription, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.failAll != nil {
		return tenant.Subscription{}, g.failAll
	}
	if g.failRenew != nil {
		return tenant.Subscription{}, g.failRenew
	}
	s, ok := g.live(id)
	if !ok {
		return tenant.Subscription{}, &tenant.ServiceError{Status: 404, Kind: tenant.ErrNotFound}
	}
	s.ExpirationDateTime = until
	g.subs[id] = s
	return s, nil
}

func (g *fakeGraph) ReauthorizeSubscription(context.Context, string) error { return g.failAll }

func (g *fakeGraph) remove() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for id := range g.subs {
		delete(g.subs, id)
	}
}

type fakeReconciler struct {
	mu    sync.Mutex
	runs  int
	found int
}

func (r *fakeReconciler) Reconcile(context.Context, engine.Progress) (engine.ReconcileResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs++
	return engine.ReconcileResult{NewCases: r.found}, nil
}

type fixture struct {
	clock *clock.Virtual
	graph *fakeGraph
	rec   *fakeReconciler
	alert *notify.Recorder
	st    ledger.Store
}

func setup(t *testing.T) *fixture {
	t.Helper()
	// State rows on the in-memory ledger: ledgertest holds its
	// compare-and-swap to the Table Storage store's.
	st := memledger.New(memledger.Options{})
	vc := clock.NewVirtual(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	return &fixture{clock: vc, graph: &fakeGraph{clock: vc, subs: map[string]tenant.Subscription{}}, rec: &fakeReconciler{},
		alert: &notify.Recorder{}, st: st}
}

func (f *fixture) manager(instance string) *subscription.Manager {
	return subscription.New(subscription.Options{NotificationURL: topic, ClientState: "s", Instance: instance},
		subscription.Deps{Graph: f.graph, Store: f.st, Reconciler: f.rec, Alerts: f.alert, Clock: f.clock, Log: zerolog.Nop()})
}

func (f *fixture) kinds() map[string]int {
	out := map[string]int{}
	for _, a := range f.alert.Alerts() {
		out[a.Kind]++
	}
	return out
}

func TestTwoInstancesCreateOneSubscription(t *testing.T) {
	f := setup(t)
	f.graph.slow = 50 * time.Millisecond
	ctx := context.Background()
	var wg sync.WaitGroup
	actions := make([]string, 4)
	for i := range actions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep, err := f.manager(fmt.Sprintf("instance-%d", i)).Ensure(ctx)
			if err != nil {
				t.Error(err)
			}
			actions[i] = rep.Action
		}()
	}
	wg.Wait()
	if f.graph.creates != 1 {
		t.Fatalf("%d subscriptions created by 4 concurrent instances (%v), want 1", f.graph.creates, actions)
	}
	// Every later run of any instance sees it live.
	for i := 0; i < 2; i++ {
		rep, err := f.manager(fmt.Sprintf("instance-%d", i)).Ensure(ctx)
		if err != nil || rep.Action != "none" {
			t.Fatalf("later run: %+v, %v", rep, err)
		}
	}
}

func TestRenewsBeforeExpiryAndAlertsOnFailure(t *testing.T) {
	f := setup(t)
	m := f.manager("a")
	ctx := context.Background()
	if rep, err := m.Ensure(ctx); err != nil || rep.Action != "created" || f.rec.runs != 1 {
		t.Fatalf("first run: %+v, %v, %d reconciles", rep, err, f.rec.runs)
	}
	renewals := 0
	for day := 1; day <= 120; day++ {
		f.clock.Advance(24 * time.Hour)
		rep, err := m.Ensure(ctx)
		if err != nil {
			t.Fatalf("day %d: %v", day, err)
		}
		if rep.Action == "renewed" {
			renewals++
		}
		if rep.Action != "none" && rep.Action != "renewed" {
			t.Fatalf("day %d: %s", day, rep.Action)
		}
	}
	if renewals < 4 || f.graph.creates != 1 {
		t.Fatalf("%d renewals, %d creates over 120 days", renewals, f.graph.creates)
	}
	st, err := m.Status(ctx)
	if err != nil || st.State != "live" || st.Renewals != renewals {
		t.Fatalf("status %+v, %v", st, err)
	}
	// Renewals fail from now on: alerts, then "expiring", then a gap.
	f.graph.failAll = &tenant.ServiceError{Status: 403, Code: "Authorization_RequestDenied"}
	for day := 0; day < 30 && f.kinds()[subscription.KindExpiring] == 0; day++ {
		f.clock.Advance(24 * time.Hour)
		_, _ = m.Ensure(ctx)
	}
	// With every Graph call failing, the failing alert is what fires
	// (expiring needs a successful read of the expiry).
	k := f.kinds()
	if k[subscription.KindFailing] == 0 {
		t.Fatalf("no %s alert after failed renewals: %v", subscription.KindFailing, k)
	}
	if st, _ := m.Status(ctx); st.State != "failing" && st.State != "missing" {
		t.Fatalf("status after failures: %s", st.State)
	}
	// Graph recovers after the subscription lapsed: recreated, gap reconciled.
	f.graph.failAll = nil
	f.clock.Advance(30 * 24 * time.Hour)
	runs := f.rec.runs
	rep, err := m.Ensure(ctx)
	if err != nil || rep.Action != "created" || f.rec.runs != runs+1 {
		t.Fatalf("after the lapse: %+v, %v", rep, err)
	}
	st, _ = m.Status(ctx)
	if st.Recreations != 1 || st.LastGapFrom == nil || st.State != "live" {
		t.Fatalf("status after recreation: %+v", st)
	}
}

func TestLifecycleNotifications(t *testing.T) {
	f := setup(t)
	m := f.manager("a")
	ctx := context.Background()
	if _, err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	st, _ := m.Status(ctx)
	first := *st.Expires
	f.clock.Advance(time.Hour)
	// reauthorizationRequired renews at once, even though not yet due.
	if rep, err := m.Lifecycle(ctx, events.Lifecycle{Event: events.LifecycleReauthorizationRequired, SubscriptionID: st.SubscriptionID}); err != nil || rep.Action != "renewed" {
		t.Fatalf("reauthorization: %+v, %v", rep, err)
	}
	if st, _ = m.Status(ctx); !st.Expires.After(first) || st.LastLifecycle != "reauthorizationRequired" {
		t.Fatalf("after reauthorization: %+v", st)
	}
	// subscriptionRemoved: recreate and reconcile the gap.
	f.graph.remove()
	f.rec.found = 2
	runs := f.rec.runs
	rep, err := m.Lifecycle(ctx, events.Lifecycle{Event: events.LifecycleSubscriptionRemoved, SubscriptionID: st.SubscriptionID})
	if err != nil || rep.Action != "created" || f.rec.runs != runs+1 || rep.Reconcile == nil {
		t.Fatalf("removal: %+v, %v", rep, err)
	}
	if st, _ := m.Status(ctx); st.LastReconcile == nil || st.LastGapFrom == nil {
		t.Fatalf("gap not recorded: %+v", st)
	}
	// A removal notice for an old subscription changes nothing.
	rep, err = m.Lifecycle(ctx, events.Lifecycle{Event: events.LifecycleSubscriptionRemoved, SubscriptionID: st.SubscriptionID})
	if err != nil || rep.Action != "none" || f.graph.creates != 2 {
		t.Fatalf("stale removal: %+v, %v, %d creates", rep, err, f.graph.creates)
	}
	// Seen is recorded for health.
	m.Seen(ctx, f.clock.Now())
	if st, _ := m.Status(ctx); st.LastNotification == nil || !st.LastNotification.Equal(f.clock.Now()) {
		t.Fatalf("last notification %v", st.LastNotification)
	}
}

func TestNotConfiguredDoesNothing(t *testing.T) {
	f := setup(t)
	m := subscription.New(subscription.Options{}, subscription.Deps{Graph: f.graph, Store: f.st, Reconciler: f.rec, Clock: f.clock, Log: zerolog.Nop()})
	rep, err := m.Ensure(context.Background())
	if err != nil || rep.Action != "notConfigured" || f.graph.creates != 0 {
		t.Fatalf("%+v, %v", rep, err)
	}
	st, err := m.Status(context.Background())
	if err != nil || st.State != "notConfigured" {
		t.Fatalf("%+v, %v", st, err)
	}
	if errors.Is(err, ledger.ErrConflict) {
		t.Fatal("unreachable")
	}
}

func TestExpiringAlertWhenRenewalsFail(t *testing.T) {
	f := setup(t)
	m := f.manager("a")
	ctx := context.Background()
	if _, err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	f.graph.failRenew = &tenant.ServiceError{Status: 503, Code: "serviceNotAvailable"}
	// Daily runs: renewals fail from the week before expiry; inside the
	// 3-day margin the expiring alert fires as well.
	for day := 1; day <= 27; day++ {
		f.clock.Advance(24 * time.Hour)
		_, _ = m.Ensure(ctx)
		k := f.kinds()
		left := 29*24*time.Hour - time.Hour - time.Duration(day)*24*time.Hour
		switch {
		case left > 7*24*time.Hour && (k[subscription.KindFailing] > 0 || k[subscription.KindExpiring] > 0):
			t.Fatalf("day %d (%s left): alerts before renewal was due: %v", day, left, k)
		case left < 7*24*time.Hour && k[subscription.KindFailing] == 0:
			t.Fatalf("day %d: no failing alert", day)
		case left < 3*24*time.Hour && k[subscription.KindExpiring] == 0:
			t.Fatalf("day %d (%s left): no expiring alert", day, left)
		case left > 3*24*time.Hour && k[subscription.KindExpiring] > 0:
			t.Fatalf("day %d (%s left): expiring alert outside the margin", day, left)
		}
	}
	if st, _ := m.Status(ctx); st.State != "failing" {
		t.Fatalf("state %s, want failing", st.State)
	}
}

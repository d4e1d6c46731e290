package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/events"
	"github.com/holdfast/holdfast/shared/testbed/azurite"
	"github.com/holdfast/holdfast/shared/testbed/enginebed"
	"github.com/holdfast/holdfast/shared/testbed/sim"
)

// TestRoundTripsPerOffboardingEvent counts the table requests one event
// costs (the store's counter sees every request on the wire) and guards
// the figures make bench reports (docs/performance.md, "Table round trips
// per event"). Each row runs on the tenant as the rows before it left it,
// in a leaver's usual order: the HR decision, the sweep that confirms the
// hold once it is in effect, then the directory's events. It runs on
// Azurite and on the in-memory ledger: the one engine test kept on
// Azurite, so the engine's figure is checked end to end on both stores.
func TestRoundTripsPerOffboardingEvent(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		mem := newMemory()
		roundTripsPerOffboardingEvent(t, enginebed.Options{Ledger: mem.store, Counter: mem.counter})
	})
	t.Run("azurite", func(t *testing.T) {
		az := azurite.ForTest(t)
		roundTripsPerOffboardingEvent(t, enginebed.Options{AzuriteConnectionString: az.ConnectionString, TablePrefix: "rt"})
	})
}

func roundTripsPerOffboardingEvent(t *testing.T, o enginebed.Options) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	o.Start, o.Log = start, zerolog.Nop()
	ctx := context.Background()
	st, err := enginebed.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Sim.Load(sim.TenantSpec{Users: []sim.UserSpec{
		{UPN: "ann@contoso.test", Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 10},
		{UPN: "bob@contoso.test", Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 10},
		{UPN: "cy@contoso.test", Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 10},
		{UPN: "dee@contoso.test", Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 10},
	}}); err != nil {
		t.Fatal(err)
	}
	hr := func(upn, retention string) func() ([]delivery, error) {
		return func() ([]delivery, error) {
			id := "rt-" + upn
			body, _ := json.Marshal(map[string]any{"specversion": "1.0", "id": id, "type": "io.holdfast.hr.offboarding",
				"source": "/hr", "data": map[string]any{"upn": upn, "retention": retention, "lastWorkingDay": "2026-03-02"}})
			return []delivery{{events.QueueHR, id, body}}, nil
		}
	}
	directory := func(action, upn string) func() ([]delivery, error) {
		return func() ([]delivery, error) {
			if err := st.Sim.Admin(ctx, sim.AdminAction{Action: action, UPN: upn}); err != nil {
				return nil, err
			}
			var ds []delivery
			for _, ev := range st.Sim.DrainEvents() {
				var head struct {
					ID string `json:"id"`
				}
				if err := json.Unmarshal(ev, &head); err != nil {
					return nil, err
				}
				ds = append(ds, delivery{events.QueueDirectory, head.ID, ev})
			}
			if len(ds) == 0 {
				return nil, fmt.Errorf("%s %s: no directory event", action, upn)
			}
			return ds, nil
		}
	}
	sweepAfter := func(d time.Duration) func() {
		return func() {
			st.Clock.Advance(d)
			if _, err := st.Engine.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	cases := []struct {
		name   string
		before func() // not counted
		events func() ([]delivery, error)
		want   int64 // at most, per event
	}{
		// A new case: the hold is sent after the commit (an insert), so
		// the timer that confirms it and the commit are all.
		{name: "offboarding retain", events: hr("ann@contoso.test", "retain"), want: 2},
		// A new case owning its mailbox at once: the ExchangeGuid index row
		// and the commit.
		{name: "offboarding release", events: hr("bob@contoso.test", "release"), want: 2},
		// The hold is in effect (the sweep confirmed it and indexed the
		// case): read, commit.
		{name: "directory userChanged (delete)", before: sweepAfter(2 * time.Hour), events: directory("deleteUser", "ann@contoso.test"), want: 2},
		// A retained leaver's licence: read, commit.
		{name: "directory userChanged (licence removed, retained)", before: func() {
			deliver(t, ctx, st, hr("cy@contoso.test", "retain"))
			sweepAfter(2 * time.Hour)()
		}, events: directory("removeLicense", "cy@contoso.test"), want: 2},
		// No HR decision: the event opens the case and its 30-day clock.
		// Read (none there), the clock's timer, the ExchangeGuid index row
		// (Reconcile's only way back to the case should the user be
		// deleted and purged unannounced), commit.
		{name: "directory userChanged (licence removed, no case)", events: directory("removeLicense", "dee@contoso.test"), want: 4},
	}
	for _, tc := range cases {
		if tc.before != nil {
			tc.before()
		}
		ds, err := tc.events()
		if err != nil {
			t.Fatal(err)
		}
		before := st.Counter.Snapshot()
		total := st.Counter.Total()
		for _, d := range ds {
			out, err := st.Deliver(ctx, d.queue, d.id, d.body)
			if err != nil || out.Result != "applied" {
				t.Fatalf("%s: %+v, %v; want applied", tc.name, out, err)
			}
		}
		n := st.Counter.Total() - total
		got := float64(n) / float64(len(ds))
		after := st.Counter.Snapshot()
		ops := map[string]int64{}
		for k, v := range after {
			if n := v - before[k]; n != 0 {
				ops[k] = n
			}
		}
		t.Logf("%s: %.2f table round trips per event over %d event(s) %v", tc.name, got, len(ds), ops)
		if n > tc.want*int64(len(ds)) || n == 0 {
			t.Errorf("%s: %.2f table round trips per event (%v), want at most %d", tc.name, got, ops, tc.want)
		}
	}
}

type delivery struct {
	queue events.Queue
	id    string
	body  []byte
}

func deliver(t *testing.T, ctx context.Context, st *enginebed.Bed, events func() ([]delivery, error)) {
	t.Helper()
	ds, err := events()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if _, err := st.Deliver(ctx, d.queue, d.id, d.body); err != nil {
			t.Fatal(err)
		}
	}
}

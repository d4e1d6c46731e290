package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/app"
	"github.com/holdfast/holdfast/shared/testbed/azurite"
	"github.com/holdfast/holdfast/shared/testbed/localstack"
	"github.com/holdfast/holdfast/shared/testbed/sim"
)

// TestRoundTripsPerOffboardingEvent counts the table requests one HR event
// costs on a new case (the store's counter sees every request on the wire).
// It guards the figure reported by make bench: load, lease, timer, commit
// for retain; load, lease, ExchangeGuid index, commit for release. It runs
// on Azurite and on the in-memory ledger: the one engine test kept on
// Azurite, so the engine's figure is checked end to end on both stores.
func TestRoundTripsPerOffboardingEvent(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		mem := newMemory()
		roundTripsPerOffboardingEvent(t, localstack.Options{Ledger: mem.store, Counter: mem.counter})
	})
	t.Run("azurite", func(t *testing.T) {
		az := azurite.ForTest(t)
		roundTripsPerOffboardingEvent(t, localstack.Options{AzuriteConnectionString: az.ConnectionString, TablePrefix: "rt"})
	})
}

func roundTripsPerOffboardingEvent(t *testing.T, o localstack.Options) {
	o.Start, o.Log = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), zerolog.Nop()
	ctx := context.Background()
	st, err := localstack.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Sim.Load(sim.TenantSpec{Users: []sim.UserSpec{
		{UPN: "ann@contoso.test", Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 10},
		{UPN: "bob@contoso.test", Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 10},
	}}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		upn, retention string
		want           int64
	}{
		{"ann@contoso.test", "retain", 4},
		{"bob@contoso.test", "release", 4}, // + the ExchangeGuid index row
	}
	for i, tc := range cases {
		body, _ := json.Marshal(map[string]any{"specversion": "1.0", "id": fmt.Sprintf("rt-%d", i), "type": "io.holdfast.hr.offboarding",
			"source": "/hr", "data": map[string]any{"upn": tc.upn, "retention": tc.retention, "lastWorkingDay": "2026-03-02"}})
		before := st.App.Counter.Total()
		resp, err := st.Deliver(ctx, app.FnOnOffboarding, fmt.Sprintf("rt-%d", i), body)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.App.Counter.Total() - before; got != tc.want {
			t.Errorf("%s: %d table round trips (%v), want %d; %v", tc.retention, got, st.App.Counter.Snapshot(), tc.want, resp.Logs)
		}
	}
}

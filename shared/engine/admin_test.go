package engine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/engine"
	"github.com/holdfast/holdfast/shared/retention"
	"github.com/holdfast/holdfast/shared/testbed/enginebed"
	"github.com/holdfast/holdfast/shared/testbed/sim"
)

// TestAdminOperations drives release and restore --to on the engine bed.
func TestAdminOperations(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	mem := newMemory()
	ctx := context.Background()
	st, err := enginebed.Start(ctx, enginebed.Options{Start: start, Ledger: mem.store, Counter: mem.counter,
		Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = st.Sim.Load(sim.TenantSpec{Users: []sim.UserSpec{
		{UPN: "ann@contoso.test", Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 50, Deleted: "softDeleted", DeletedDaysAgo: 3},
		{UPN: "ben@contoso.test", Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 50, Deleted: "softDeleted", DeletedDaysAgo: 3},
		{UPN: "vault@contoso.test", Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	eng := st.Engine
	if _, err := eng.Reconcile(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Release(ctx, "ann@contoso.test", "  ", "tester"); !errors.Is(err, engine.ErrBadRequest) {
		t.Fatalf("release without reason: %v, want ErrBadRequest", err)
	}
	c, err := eng.Release(ctx, "ann@contoso.test", "legal approved deletion, ticket L-1", "tester")
	if err != nil {
		t.Fatal(err)
	}
	if c.State != retention.StateReleased || c.Retention != retention.Release || c.DecisionSource != "admin" {
		t.Fatalf("after release: state %s retention %s source %s", c.State, c.Retention, c.DecisionSource)
	}
	if _, err := eng.RestoreTo(ctx, "ben@contoso.test", "not-a-upn", "tester"); !errors.Is(err, engine.ErrBadRequest) {
		t.Fatalf("restore to a non-UPN: %v, want ErrBadRequest", err)
	}
	c, err = eng.RestoreTo(ctx, "ben@contoso.test", "vault@contoso.test", "tester")
	if err != nil {
		t.Fatal(err)
	}
	if c.State != retention.StateRescuing || len(c.Restores) != 1 || c.Restores[0].Target != "vault@contoso.test" {
		t.Fatalf("after restore: state %s, restores %+v", c.State, c.Restores)
	}
	if _, err := eng.RestoreTo(ctx, "ben@contoso.test", "vault@contoso.test", "tester"); !errors.Is(err, engine.ErrBadRequest) {
		t.Fatalf("second restore while rescuing: %v, want ErrBadRequest", err)
	}
	// The sweep monitors it to completion.
	st.Clock.Set(start.Add(time.Hour))
	if _, err := eng.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	st.Clock.Set(start.Add(2 * time.Hour))
	if _, err := eng.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if got := st.Sim.Mailboxes()["ben@contoso.test"].RestoredTo; len(got) != 1 || got[0] != "vault@contoso.test" {
		t.Fatalf("simulator: ben restored to %v", got)
	}
	if !st.Sim.Mailboxes()["vault@contoso.test"].LitigationHold {
		t.Fatal("target not placed on hold")
	}
}

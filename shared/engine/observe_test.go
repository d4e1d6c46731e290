package engine_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/engine"
	"github.com/holdfast/holdfast/shared/ledger"
	"github.com/holdfast/holdfast/shared/testbed/enginebed"
	"github.com/holdfast/holdfast/shared/testbed/sim"
)

// TestObserveAdminRestore: an admin's restore --to in observe-only mode is
// decided and recorded as planned, and nothing is copied.
func TestObserveAdminRestore(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	mem := newMemory()
	ctx := context.Background()
	st, err := enginebed.Start(ctx, enginebed.Options{Start: start, Ledger: mem.store, Counter: mem.counter,
		Log: zerolog.Nop(), Settings: map[string]string{"HOLDFAST_ACTIONS": "observe"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if err := st.Sim.Load(sim.TenantSpec{Users: []sim.UserSpec{
		{UPN: "ben@contoso.test", Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 50, Deleted: "softDeleted", DeletedDaysAgo: 3},
		{UPN: "vault@contoso.test", Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 1, LitigationHold: true},
	}}); err != nil {
		t.Fatal(err)
	}
	log := &sim.RequestLog{}
	st.Sim.OnRequest(log.Add)
	eng := st.Engine
	if _, err := eng.Reconcile(ctx, nil); err != nil {
		t.Fatal(err)
	}
	c, err := eng.RestoreTo(ctx, "ben@contoso.test", "vault@contoso.test", "tester")
	if err != nil {
		t.Fatalf("restore --to in observe mode: %v", err)
	}
	if c.State == "rescuing" {
		t.Fatalf("case believes the restore started: %s", c.State)
	}
	planned, audit := casePlanned(t, st, eng, "ben@contoso.test")
	// The restore's first write: the X500 address on the target, or the
	// restore request itself.
	if len(planned) != 1 || planned[0].Step != engine.StepAdmin || planned[0].Status != engine.PlannedPending ||
		!strings.HasPrefix(planned[0].Op, "New-MailboxRestoreRequest") && !strings.Contains(planned[0].Op, "X500") {
		t.Fatalf("planned %+v\n%s", planned, audit)
	}
	if w := log.Writes(); len(w) > 0 {
		t.Fatalf("observe mode wrote: %v", w)
	}
	if got := st.Sim.Mailboxes()["ben@contoso.test"].RestoredTo; len(got) > 0 {
		t.Fatalf("content copied to %v in observe mode", got)
	}
}

// casePlanned returns a case's planned actions and its audit trail as text.
func casePlanned(t *testing.T, st *enginebed.Bed, eng *engine.Engine, upn string) ([]engine.PlannedAction, string) {
	t.Helper()
	ctx := context.Background()
	key, err := eng.FindCase(ctx, upn)
	if err != nil {
		t.Fatalf("find %s: %v", upn, err)
	}
	rec, err := st.Store.LoadCase(ctx, key)
	if err != nil {
		t.Fatalf("load %s: %v", upn, err)
	}
	planned, err := engine.PlannedActions(rec.Data)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	_ = st.Store.ListAudit(ctx, key, func(a ledger.AuditRecord) error {
		fmt.Fprintf(&b, "%s %s %s %s %s\n", a.At.Format(time.RFC3339), a.Actor, a.Action, a.Result, a.Detail)
		return nil
	})
	return planned, b.String()
}

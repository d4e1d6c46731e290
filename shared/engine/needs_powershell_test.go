package engine_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/testbed/enginebed"
	"github.com/holdfast/holdfast/shared/testbed/sim"
)

// TestUndoWithoutKeyBlocksWithPowerShell: with no SecureString key
// configured, the rescue of a mailbox removed in Exchange sends no
// Undo-SoftDeletedMailbox (its -Password cannot travel) and blocks with the
// exact command for an admin.
func TestUndoWithoutKeyBlocksWithPowerShell(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	mem := newMemory()
	ctx := context.Background()
	s, err := enginebed.Start(ctx, enginebed.Options{Start: start, Ledger: mem.store, Counter: mem.counter,
		Log: zerolog.Nop(), Settings: map[string]string{"HOLDFAST_EXO_SECURESTRING_KEY": " "}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	const upn = "o'neil@contoso.test"
	if err := s.Sim.Load(sim.TenantSpec{Users: []sim.UserSpec{{UPN: upn, Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 20}}}); err != nil {
		t.Fatal(err)
	}
	guid := s.Sim.Mailboxes()[upn].ExchangeGuid
	if err := s.Sim.Admin(ctx, sim.AdminAction{Action: "removeMailbox", UPN: upn}); err != nil {
		t.Fatal(err)
	}
	s.Clock.Set(start.Add(24 * time.Hour))
	if _, err := s.Engine.Reconcile(ctx, nil); err != nil {
		t.Fatal(err)
	}
	s.Clock.Set(start.Add(28 * 24 * time.Hour))
	if _, err := s.Engine.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	want := "Undo-SoftDeletedMailbox -SoftDeletedObject '" + guid + "' -WindowsLiveID 'o''neil@contoso.test' -Password (Read-Host 'New password' -AsSecureString)"
	found := false
	for _, a := range s.Recorder.Alerts() {
		if a.Kind == "blocker" && strings.Contains(a.Remedy, want) {
			found = true
		}
	}
	if !found {
		t.Fatalf("no blocker with %q; alerts: %+v", want, s.Recorder.Alerts())
	}
	if n := s.Sim.Stats().Requests["exchange:Undo-SoftDeletedMailbox"]; n != 0 {
		t.Errorf("Undo-SoftDeletedMailbox was sent %d times without a key", n)
	}
}

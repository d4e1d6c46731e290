package engine_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/engine"
	"github.com/holdfast/holdfast/shared/events"
	"github.com/holdfast/holdfast/shared/ledger"
	"github.com/holdfast/holdfast/shared/testbed/enginebed"
	"github.com/holdfast/holdfast/shared/testbed/sim"
)

// twoInstances starts two engines (a, b) on one ledger, one simulator and
// one clock, as two Functions instances of one app.
func twoInstances(t *testing.T, start time.Time) (a, b *enginebed.Bed) {
	t.Helper()
	mem := newMemory()
	ctx := context.Background()
	a, err := enginebed.Start(ctx, enginebed.Options{Start: start, Ledger: mem.store, Counter: mem.counter,
		Log: zerolog.Nop(), Instance: "a"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	b, err = enginebed.Start(ctx, enginebed.Options{Start: start, Ledger: mem.store, Counter: mem.counter,
		Log: zerolog.Nop(), Instance: "b", Peer: a})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return a, b
}

// TestLeaseAfterCrash: an instance that dies while it holds an HR-event
// lease must not stall the message's redelivery on another instance, while
// a different message for the same case still waits for the lease. A
// rehire leases its case (it restores or recovers accounts before its
// commit); an offboarding, whose hold is sent after its commit, takes no
// lease of its own but waits for another instance's.
func TestLeaseAfterCrash(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	ctx := context.Background()
	a, b := twoInstances(t, start)
	var err error
	const upn = "ann@contoso.test"
	if err := a.Sim.Load(sim.TenantSpec{Users: []sim.UserSpec{
		{UPN: upn, Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 10},
	}}); err != nil {
		t.Fatal(err)
	}
	body := func(id, typ string) []byte {
		return fmt.Appendf(nil, `{"specversion":"1.0","id":%q,"type":%q,"source":"/hr/test","time":%q,"datacontenttype":"application/json","data":{"upn":%q,"lastWorkingDay":"2026-03-02","retention":"retain","ticket":"HR-7"}}`,
			id, typ, start.Format(time.RFC3339), upn)
	}
	const offboarding, rehire = "io.holdfast.hr.offboarding", "io.holdfast.hr.rehire"
	if out, err := a.Engine.HandleMessage(ctx, engine.Message{Queue: events.QueueHR, Body: body("hr-0", offboarding), MessageID: "m-0", DeliveryCount: 1}); err != nil || out.Result != "applied" {
		t.Fatalf("offboarding: %+v, %v", out, err)
	}
	if !a.Sim.Mailboxes()[upn].LitigationHold {
		t.Fatal("no Litigation Hold after the offboarding")
	}
	a.Clock.Set(start.Add(2 * time.Hour))
	if err := a.Sim.Admin(ctx, sim.AdminAction{Action: "deleteUser", UPN: upn}); err != nil {
		t.Fatal(err)
	}
	a.Sim.DrainEvents()

	// Instance a takes the rehire's lease, then dies inside the restore of
	// the user: its context ends before Graph answers, so it cannot release
	// the lease.
	a.Sim.SetFaults(sim.Faults{Rules: map[string]sim.FaultRule{"restoreDeletedUser": {Latency: "3s"}}})
	dying, cancel := context.WithTimeout(ctx, 400*time.Millisecond)
	out1, err := a.Engine.HandleMessage(dying, engine.Message{Queue: events.QueueHR, Body: body("hr-1", rehire), MessageID: "m-1", DeliveryCount: 1})
	cancel()
	if err == nil {
		t.Fatalf("the dying delivery succeeded (%+v); the test needs it to fail mid-flight", out1)
	}
	a.Sim.SetFaults(sim.Faults{})
	time.Sleep(3 * time.Second) // let the abandoned restore finish, as it would

	// Another message for the same case, an offboarding, waits for the lease.
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err = b.Engine.HandleMessage(short, engine.Message{Queue: events.QueueHR, Body: body("hr-2", offboarding), MessageID: "m-2", DeliveryCount: 1})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a different message during the lease: %v, want it to wait (deadline exceeded)", err)
	}

	// The redelivery of the dead instance's message takes the lease over.
	bounded, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := b.Engine.HandleMessage(bounded, engine.Message{Queue: events.QueueHR, Body: body("hr-1", rehire), MessageID: "m-1", DeliveryCount: 2})
	if err != nil {
		t.Fatalf("redelivery after the crash: %v", err)
	}
	if out.Result != "applied" {
		t.Fatalf("redelivery: %+v, want applied", out)
	}
	if st := a.Sim.Mailboxes()[upn].State; st != "active" {
		t.Fatalf("mailbox %s after the rehire's redelivery, want active", st)
	}
}

// TestRescueCutOff: an instance dies in the middle of a rescue (licence
// re-assigned, hold not yet placed, nothing committed) and the rescue's own
// directory notifications reach another instance before the next sweep.
// The next sweep must still place the hold and record the rescue, with the
// alert a crash-free run sends (same id), once.
func TestRescueCutOff(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	ctx := context.Background()
	a, b := twoInstances(t, start)
	var err error
	const upn = "ann@contoso.test"
	if err := a.Sim.Load(sim.TenantSpec{Users: []sim.UserSpec{{UPN: upn, Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 10}}}); err != nil {
		t.Fatal(err)
	}
	deliver := func(s *enginebed.Bed) {
		t.Helper()
		if err := s.DeliverNotifications(ctx, a.Sim.DrainEvents()); err != nil {
			t.Fatal(err)
		}
	}
	// Licence removed, no hold: a 30-day clock; the rescue is due 72 h
	// before it.
	if err := a.Sim.Admin(ctx, sim.AdminAction{Action: "removeLicense", UPN: upn}); err != nil {
		t.Fatal(err)
	}
	deliver(a)
	deadline := start.Add(30 * 24 * time.Hour)
	a.Clock.Set(deadline.Add(-72 * time.Hour))

	// Instance a rescues: the licence goes back, then it dies inside
	// Set-Mailbox.
	a.Sim.SetFaults(sim.Faults{Rules: map[string]sim.FaultRule{"Set-Mailbox": {Latency: "3s"}}})
	dying, cancel := context.WithTimeout(ctx, 700*time.Millisecond)
	_, _ = a.Engine.Sweep(dying)
	cancel()
	a.Sim.SetFaults(sim.Faults{})
	time.Sleep(3 * time.Second) // let the abandoned Set-Mailbox finish or not, as it would
	if !a.Sim.Mailboxes()[upn].Licensed {
		t.Fatal("the cut-off rescue did not re-assign the licence; the test needs it to")
	}
	// The licence notification reaches instance b first.
	deliver(b)
	// b's next sweeps, after a's lease ran out.
	for i := 1; i <= 3; i++ {
		b.Clock.Set(deadline.Add(-72*time.Hour + time.Duration(i)*5*time.Minute))
		if _, err := b.Engine.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	mb := a.Sim.Mailboxes()[upn]
	if !mb.LitigationHold {
		t.Fatal("no Litigation Hold after the rescue was completed")
	}
	if n := a.Sim.HoldRequests(upn); n != 1 {
		t.Errorf("%d hold requests, want 1", n)
	}
	key, err := b.Engine.FindCase(ctx, upn)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%s:rescued:%d", key, deadline.Unix())
	n := 0
	for _, s := range []*enginebed.Bed{a, b} {
		for _, al := range s.Recorder.Alerts() {
			if al.Kind == "rescued" {
				n++
				if al.ID != want {
					t.Errorf("rescued alert id %q, want %q", al.ID, want)
				}
			}
		}
	}
	if n != 1 {
		t.Errorf("%d rescued alerts, want 1", n)
	}
	rescues := 0
	err = b.Store.ListAudit(ctx, key, func(r ledger.AuditRecord) error {
		if r.Action == "rescue" && r.Result == "ok" {
			rescues++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if rescues != 1 {
		t.Errorf("%d rescue rows in the audit trail, want 1", rescues)
	}
}

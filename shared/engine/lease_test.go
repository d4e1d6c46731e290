package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/app"
	"github.com/holdfast/holdfast/shared/engine"
	"github.com/holdfast/holdfast/shared/events"
	"github.com/holdfast/holdfast/shared/ledger"
	"github.com/holdfast/holdfast/shared/testbed/localstack"
	"github.com/holdfast/holdfast/shared/testbed/sim"
)

// twoInstances starts two engines (a, b) on one ledger, one simulator and
// one clock, as two Functions instances of one app.
func twoInstances(t *testing.T, start time.Time) (a, b *localstack.Stack) {
	t.Helper()
	mem := newMemory()
	ctx := context.Background()
	a, err := localstack.Start(ctx, localstack.Options{Start: start, Ledger: mem.store, Counter: mem.counter,
		Log: zerolog.Nop(), Instance: "a"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	b, err = localstack.Start(ctx, localstack.Options{Start: start, Ledger: mem.store, Counter: mem.counter,
		Log: zerolog.Nop(), Instance: "b", Sim: a.Sim, Clock: a.Clock, SimURL: a.SimURL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return a, b
}

// TestLeaseAfterCrash: an instance that dies while it holds an HR-event
// lease must not stall the message's redelivery on another instance, while
// a different message for the same case still waits for the lease.
func TestLeaseAfterCrash(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	ctx := context.Background()
	a, b := twoInstances(t, start)
	var err error
	if err := a.Sim.Load(sim.TenantSpec{Users: []sim.UserSpec{
		{UPN: "ann@contoso.test", Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 10},
	}}); err != nil {
		t.Fatal(err)
	}
	body := func(id string) []byte {
		return fmt.Appendf(nil, `{"specversion":"1.0","id":%q,"type":"io.holdfast.hr.offboarding","source":"/hr/test","time":%q,"datacontenttype":"application/json","data":{"upn":"ann@contoso.test","lastWorkingDay":"2026-03-02","retention":"retain"}}`,
			id, start.Format(time.RFC3339))
	}
	// Instance a takes the lease, then dies inside Set-Mailbox: its context
	// ends before the hold request answers, so it cannot release the lease.
	a.Sim.SetFaults(sim.Faults{Rules: map[string]sim.FaultRule{"Set-Mailbox": {Latency: "3s"}}})
	dying, cancel := context.WithTimeout(ctx, 400*time.Millisecond)
	_, err = a.App.Engine.HandleMessage(dying, engine.Message{Queue: events.QueueHR, Body: body("hr-1"), MessageID: "m-1", DeliveryCount: 1})
	cancel()
	if err == nil {
		t.Fatal("the dying delivery succeeded; the test needs it to fail mid-flight")
	}
	a.Sim.SetFaults(sim.Faults{})

	// Another message for the same case waits for the lease.
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err = b.App.Engine.HandleMessage(short, engine.Message{Queue: events.QueueHR, Body: body("hr-2"), MessageID: "m-2", DeliveryCount: 1})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a different message during the lease: %v, want it to wait (deadline exceeded)", err)
	}

	// The redelivery of the dead instance's message takes the lease over.
	bounded, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := b.App.Engine.HandleMessage(bounded, engine.Message{Queue: events.QueueHR, Body: body("hr-1"), MessageID: "m-1", DeliveryCount: 2})
	if err != nil {
		t.Fatalf("redelivery after the crash: %v", err)
	}
	if out.Result != "applied" {
		t.Fatalf("redelivery: %+v, want applied", out)
	}
	if !a.Sim.Mailboxes()["ann@contoso.test"].LitigationHold {
		t.Fatal("no Litigation Hold after the redelivery")
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
	deliver := func(s *localstack.Stack) {
		t.Helper()
		for _, ev := range a.Sim.DrainEvents() {
			var head struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal(ev, &head); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Deliver(ctx, app.FnOnDirectoryEvent, head.ID, ev); err != nil {
				t.Fatal(err)
			}
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
	_, _ = a.App.Engine.Sweep(dying)
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
		if _, err := b.App.Engine.Sweep(ctx); err != nil {
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
	key, err := b.App.Engine.FindCase(ctx, upn)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%s:rescued:%d", key, deadline.Unix())
	n := 0
	for _, s := range []*localstack.Stack{a, b} {
		for _, al := range s.App.Recorder.Alerts() {
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
	err = b.App.Store.ListAudit(ctx, key, func(r ledger.AuditRecord) error {
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

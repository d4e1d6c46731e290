package engine_test

import (
	"context"
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

// TestHoldSentAfterCommitFails: an offboarding's hold goes out after its
// commit. When it does not reach Exchange (here the instance's invocation
// ends while Set-Mailbox is in flight, as in a crash), the event is
// recorded (a redelivery is a duplicate) with the hold requested and not
// yet shown, the case is never safe to delete, and the sweep at the end of
// the propagation window places the hold and confirms it.
func TestHoldSentAfterCommitFails(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	mem := newMemory()
	ctx := context.Background()
	st, err := enginebed.Start(ctx, enginebed.Options{Start: start, Ledger: mem.store, Counter: mem.counter, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const upn = "ann@contoso.test"
	if err := st.Sim.Load(sim.TenantSpec{Users: []sim.UserSpec{{UPN: upn, Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 10}}}); err != nil {
		t.Fatal(err)
	}
	body := fmt.Appendf(nil, `{"specversion":"1.0","id":"hr-1","type":"io.holdfast.hr.offboarding","source":"/hr/test","time":%q,"data":{"upn":%q,"lastWorkingDay":"2026-03-02","retention":"retain"}}`,
		start.Format(time.RFC3339), upn)
	msg := engine.Message{Queue: events.QueueHR, Body: body, MessageID: "m-1", DeliveryCount: 1}

	st.Sim.SetFaults(sim.Faults{Rules: map[string]sim.FaultRule{"Set-Mailbox": {Latency: "3s"}}})
	dying, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	_, err = st.Engine.HandleMessage(dying, msg)
	cancel()
	if err == nil {
		t.Fatal("the event succeeded although its hold could not be sent")
	}
	st.Sim.SetFaults(sim.Faults{})
	if st.Sim.Mailboxes()[upn].LitigationHold {
		t.Fatal("a hold was placed; the test needs Exchange to refuse it")
	}
	key, err := st.Engine.FindCase(ctx, upn)
	if err != nil {
		t.Fatal(err)
	}
	state := func() string {
		t.Helper()
		rec, err := st.Store.LoadCase(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return rec.State
	}
	if s := state(); s != "protecting" {
		t.Fatalf("case %s after the failed hold, want protecting (never safe to delete)", s)
	}
	// The trail does not call the hold done before it was sent.
	results := map[string]int{}
	err = st.Store.ListAudit(ctx, key, func(a ledger.AuditRecord) error {
		if a.Action == "placeHold" {
			results[a.Result]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if results["requested"] != 1 || results["ok"] != 0 {
		t.Errorf("placeHold audit rows by result %v, want one requested and none ok", results)
	}
	msg.DeliveryCount = 2
	if out, err := st.Engine.HandleMessage(ctx, msg); err != nil || out.Result != "duplicate" {
		t.Fatalf("redelivery: %+v, %v; want duplicate", out, err)
	}

	// The sweep at the end of the propagation window reads the mailbox,
	// finds no hold, places it; the next one confirms it in effect.
	for _, d := range []time.Duration{time.Hour + time.Minute, 2*time.Hour + 2*time.Minute} {
		st.Clock.Set(start.Add(d))
		if _, err := st.Engine.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if !st.Sim.Mailboxes()[upn].LitigationHold {
		t.Fatal("no Litigation Hold after the confirming sweeps")
	}
	if s := state(); s != "protected" {
		t.Errorf("case %s after the confirming sweeps, want protected", s)
	}
}

package engine_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/engine"
	"github.com/holdfast/holdfast/shared/events"
	"github.com/holdfast/holdfast/shared/ledger"
	"github.com/holdfast/holdfast/shared/retention"
	"github.com/holdfast/holdfast/shared/testbed/enginebed"
	"github.com/holdfast/holdfast/shared/testbed/sim"
)

// offboardingBed starts an engine on the simulator with one licensed user
// and returns it, its start time and an HR retain event for the user.
func offboardingBed(t *testing.T, upn, eventID string) (*enginebed.Bed, time.Time, []byte) {
	t.Helper()
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	mem := newMemory()
	st, err := enginebed.Start(context.Background(), enginebed.Options{Start: start, Ledger: mem.store, Counter: mem.counter, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if err := st.Sim.Load(sim.TenantSpec{Users: []sim.UserSpec{{UPN: upn, Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 10}}}); err != nil {
		t.Fatal(err)
	}
	body := fmt.Appendf(nil, `{"specversion":"1.0","id":%q,"type":"io.holdfast.hr.offboarding","source":"/hr/test","time":%q,"data":{"upn":%q,"lastWorkingDay":"2026-03-02","retention":"retain"}}`,
		eventID, start.Format(time.RFC3339), upn)
	return st, start, body
}

// TestHoldSentAfterCommitFails: an offboarding's hold goes out after its
// commit. When it does not reach Exchange (here the instance's invocation
// ends while Set-Mailbox is in flight, as in a crash), the event is
// recorded (a redelivery is a duplicate) with the hold requested and not
// yet shown, the case is never safe to delete, the sweep after
// retention.HoldResendDelay sends the hold again, and the one a
// propagation window later confirms it.
func TestHoldSentAfterCommitFails(t *testing.T) {
	const upn = "ann@contoso.test"
	st, start, body := offboardingBed(t, upn, "hr-1")
	ctx := context.Background()
	msg := engine.Message{Queue: events.QueueHR, Body: body, MessageID: "m-1", DeliveryCount: 1}

	st.Sim.SetFaults(sim.Faults{Rules: map[string]sim.FaultRule{"Set-Mailbox": {Latency: "3s"}}})
	dying, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	_, err := st.Engine.HandleMessage(dying, msg)
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

	// The case is due again after retention.HoldResendDelay, not at the
	// end of the propagation window: a sweep before then sends nothing;
	// the one after reads the mailbox, finds no hold and sends it again.
	sets := func() int64 { return st.Sim.Stats().Requests["exchange:Set-Mailbox"] }
	sent := sets()
	st.Clock.Set(start.Add(retention.HoldResendDelay - time.Minute))
	if _, err := st.Engine.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if sets() != sent {
		t.Fatal("the hold was sent again before the resend delay")
	}
	st.Clock.Set(start.Add(retention.HoldResendDelay + time.Second))
	if _, err := st.Engine.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if sets() != sent+1 {
		t.Fatalf("Set-Mailbox sent %d times by the resend sweep, want 1", sets()-sent)
	}
	if !st.Sim.Mailboxes()[upn].LitigationHold {
		t.Fatal("no Litigation Hold after the resend")
	}
	if s := state(); s != "protecting" {
		t.Fatalf("case %s right after the resend, want protecting (in effect only a propagation window later)", s)
	}
	// In effect a propagation window after the resend, not after the
	// first request: the sweep at the first request's window leaves the
	// case protecting; the one after the resend's confirms it.
	st.Clock.Set(start.Add(time.Hour + time.Minute))
	if _, err := st.Engine.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if s := state(); s != "protecting" {
		t.Fatalf("case %s an hour after the lost request, want protecting until an hour after the resend", s)
	}
	st.Clock.Set(start.Add(retention.HoldResendDelay + time.Hour + 2*time.Minute))
	if _, err := st.Engine.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if !st.Sim.Mailboxes()[upn].LitigationHold {
		t.Fatal("no Litigation Hold after the confirming sweeps")
	}
	if s := state(); s != "protected" {
		t.Errorf("case %s after the confirming sweeps, want protected", s)
	}
}

// TestOffboardingSpendsTwoExchangeRequests: a retain decision reads the
// user once and the mailbox once, and sends the hold, nothing more. A read after the request
// while it is still deferred could not show it; the sweep at the end of
// the propagation window is the read that counts.
func TestOffboardingSpendsTwoExchangeRequests(t *testing.T) {
	const upn = "bo@contoso.test"
	st, start, body := offboardingBed(t, upn, "hr-2")
	ctx := context.Background()
	exchange := func() map[string]int64 {
		out := map[string]int64{}
		for op, n := range st.Sim.Stats().Requests {
			if strings.HasPrefix(op, "exchange:") {
				out[strings.TrimPrefix(op, "exchange:")] += n
			}
		}
		return out
	}
	before := exchange()
	log := &sim.RequestLog{}
	st.Sim.OnRequest(log.Add)
	if _, err := st.Engine.HandleMessage(ctx, engine.Message{Queue: events.QueueHR, Body: body, MessageID: "m-2", DeliveryCount: 1}); err != nil {
		t.Fatal(err)
	}
	after := exchange()
	for cmdlet, want := range map[string]int64{"Get-Mailbox": 1, "Set-Mailbox": 1} {
		if got := after[cmdlet] - before[cmdlet]; got != want {
			t.Errorf("%s sent %d times, want %d (all: %v)", cmdlet, got, want, after)
		}
	}
	var total int64
	for cmdlet, n := range after {
		total += n - before[cmdlet]
	}
	if total != 2 {
		t.Errorf("%d Exchange requests for one offboarding, want 2 (%v)", total, after)
	}
	// And one Graph read: the reading that found the user by UPN is the
	// decision's reading of the user.
	var graph []string
	for _, ri := range log.All() {
		if ri.API == "graph" {
			graph = append(graph, ri.Method+" "+ri.Path)
		}
	}
	if len(graph) != 1 {
		t.Errorf("Graph requests %q, want one read of the user", graph)
	}
	if !st.Sim.Mailboxes()[upn].LitigationHold {
		t.Fatal("no hold placed")
	}
	// Still protecting, never safe before the confirming read.
	key, err := st.Engine.FindCase(ctx, upn)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := st.Store.LoadCase(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != "protecting" {
		t.Fatalf("state %s, want protecting until the read at the end of the propagation window", rec.State)
	}
	// The audit names the client-request-id the hold was sent with, so
	// Microsoft support can find the request.
	var sent []string
	for _, ri := range log.All() {
		if ri.Op == "Set-Mailbox" {
			sent = append(sent, ri.ClientRequestID)
		}
	}
	var recorded []string
	err = st.Store.ListAudit(ctx, key, func(a ledger.AuditRecord) error {
		if a.Action == "placeHold" {
			_, id, _ := strings.Cut(a.Detail, "client-request-id=")
			id, _, _ = strings.Cut(id, " ")
			recorded = append(recorded, id)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sent) != 1 || len(recorded) != 1 || sent[0] == "" || recorded[0] != sent[0] {
		t.Fatalf("Set-Mailbox sent with client-request-id %q, audit records %q", sent, recorded)
	}
	st.Clock.Set(start.Add(time.Hour + time.Minute))
	if _, err := st.Engine.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if rec, err = st.Store.LoadCase(ctx, key); err != nil {
		t.Fatal(err)
	}
	if rec.State != "protected" {
		t.Fatalf("state %s after the confirming sweep, want protected", rec.State)
	}
}

package engine_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/azurite"
	"github.com/holdfast/holdfast/shared/engine"
	"github.com/holdfast/holdfast/shared/events"
	"github.com/holdfast/holdfast/shared/localstack"
	"github.com/holdfast/holdfast/shared/sim"
)

// TestLeaseAfterCrash: an instance that dies while it holds an HR-event
// lease must not stall the message's redelivery on another instance, while
// a different message for the same case still waits for the lease.
func TestLeaseAfterCrash(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	az := azurite.ForTest(t)
	ctx := context.Background()
	a, err := localstack.Start(ctx, localstack.Options{Start: start, AzuriteConnectionString: az.ConnectionString,
		TablePrefix: "lease", Log: zerolog.Nop(), Instance: "a"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := localstack.Start(ctx, localstack.Options{Start: start, AzuriteConnectionString: az.ConnectionString,
		TablePrefix: "lease", Log: zerolog.Nop(), Instance: "b", Sim: a.Sim, Clock: a.Clock, SimURL: a.SimURL})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
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

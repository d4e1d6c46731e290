package engine_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/contract"
	"github.com/holdfast/holdfast/shared/events"
	"github.com/holdfast/holdfast/shared/ledger"
	"github.com/holdfast/holdfast/shared/testbed/enginebed"
	"github.com/holdfast/holdfast/shared/testbed/sim"
)

// TestDocumentedUserUpdatedOpensCase: the Microsoft.Graph.UserUpdated event
// in its documented form (testdata/events/entra-user-updated.json, after
// azure-docs microsoft-entra-events.md: sequenceNumber a string), delivered
// as a directory-queue message body (the envelope around it is the
// customhandler package's and the scenario runner's concern), opens a case
// for the soft-deleted user with its purge deadline, deletedDateTime + 30
// days. Before the fix the decoder rejected it ("sequenceNumber must be a
// whole number, got string") and the delete waited for Reconcile.
func TestDocumentedUserUpdatedOpensCase(t *testing.T) {
	start := time.Date(2026, 2, 10, 9, 0, 0, 0, time.UTC)
	mem := newMemory()
	ctx := context.Background()
	s, err := enginebed.Start(ctx, enginebed.Options{Start: start, Ledger: mem.store, Counter: mem.counter,
		Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	const upn = "dana.reyes@contoso.test"
	if err := s.Sim.Load(sim.TenantSpec{Users: []sim.UserSpec{{UPN: upn, Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 5}}}); err != nil {
		t.Fatal(err)
	}
	s.Clock.Set(start.Add(40 * time.Minute))
	deletedAt := s.Clock.Now()
	if err := s.Sim.Admin(ctx, sim.AdminAction{Action: "deleteUser", UPN: upn}); err != nil {
		t.Fatal(err)
	}
	// The simulator's own notification only tells the test the user's id.
	userID := ""
	for _, e := range s.Sim.DrainEvents() {
		var own contract.EntraEvent
		if err := json.Unmarshal(e, &own); err == nil && own.Data.ResourceData != nil {
			userID = own.Data.ResourceData.ID
		}
	}
	if userID == "" {
		t.Fatal("no notification for the soft delete")
	}

	raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "events", "entra-user-updated.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev contract.EntraEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Data.ResourceData == nil || ev.Data.ResourceData.SequenceNumber == "" {
		t.Fatal("fixture lost its documented sequenceNumber string")
	}
	// The fixture's own values, pointed at this tenant's user and clock;
	// its shape (and the string sequenceNumber) is left as documented.
	now := s.Clock.Now().Add(2 * time.Minute).Format("2006-01-02T15:04:05.0000000Z")
	ev.Subject, ev.Data.Resource = "Users/"+userID, "Users/"+userID
	ev.Data.ResourceData.ID, ev.Data.ResourceData.ODataID = userID, "Users/"+userID
	ev.Time, ev.Data.ResourceData.EventTime = now, now
	ev.Data.ClientState = s.Sim.ClientState()
	body, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	s.Clock.Set(deletedAt.Add(2 * time.Minute))
	resp, err := s.Deliver(ctx, events.QueueDirectory, ev.ID, body)
	if err != nil {
		t.Fatalf("deliver: %v", err)
	}
	key, err := s.Engine.FindCase(ctx, upn)
	if err != nil {
		t.Fatalf("no case opened (%+v): %v", resp, err)
	}
	rec, err := s.Store.LoadCase(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	want := deletedAt.Add(30 * 24 * time.Hour)
	if d := rec.Deadline.Sub(want); d < -time.Minute || d > time.Minute {
		t.Errorf("deadline %v, want deletedDateTime + 30 days = %v", rec.Deadline, want)
	}
	n := 0
	if err := s.Store.ListRejected(ctx, 10, func(ledger.RejectedEvent) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d rejected events; the documented event must be accepted", n)
	}
}

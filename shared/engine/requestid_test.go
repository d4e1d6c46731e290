package engine_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast/shared/ledger"
	"github.com/holdfast/holdfast/shared/testbed/sim"
)

// Every tenant write a rescue makes is recorded in the audit with the
// client-request-id it was sent with, and that id is the one Graph and
// Exchange received (here: the simulator), so the evidence can be matched
// with Microsoft's logs. A user deleted with no hold in place is restored
// from the recycle bin, kept disabled and put on Litigation Hold.
func TestRescueWritesNameTheirRequests(t *testing.T) {
	const upn = "cy@contoso.test"
	st, start, _ := offboardingBed(t, upn, "unused")
	ctx := context.Background()
	if err := st.Sim.Admin(ctx, sim.AdminAction{Action: "deleteUser", UPN: upn}); err != nil {
		t.Fatal(err)
	}
	if err := st.DeliverNotifications(ctx, st.Sim.DrainEvents()); err != nil {
		t.Fatal(err)
	}
	log := &sim.RequestLog{}
	st.Sim.OnRequest(log.Add)
	st.Clock.Set(start.Add(30*24*time.Hour - 72*time.Hour))
	if _, err := st.Engine.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if !st.Sim.Mailboxes()[upn].LitigationHold {
		t.Fatal("no rescue: the test needs the sweep to restore the user and place the hold")
	}

	sent := map[string]string{} // client-request-id -> operation
	for _, ri := range log.All() {
		write := ri.Method != "GET" && !strings.HasPrefix(ri.Op, "Get-")
		if write {
			if ri.ClientRequestID == "" {
				t.Errorf("%s sent without a client-request-id", ri.Op)
			}
			sent[ri.ClientRequestID] = ri.Op
		}
	}
	key, err := st.Engine.FindCase(ctx, upn)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	err = st.Store.ListAudit(ctx, key, func(a ledger.AuditRecord) error {
		_, id, ok := strings.Cut(a.Detail, "client-request-id=")
		if !ok {
			return nil
		}
		id, _, _ = strings.Cut(id, " ")
		if _, ok := sent[id]; !ok {
			t.Errorf("audit row %s names client-request-id %q, which no write was sent with (sent: %v)", a.Action, id, sent)
		}
		delete(sent, id)
		actions = append(actions, a.Action)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sent) > 0 {
		t.Errorf("writes sent whose id no audit row names: %v", sent)
	}
	for _, want := range []string{"restoreUser", "disableAccount", "placeHold"} {
		if !slices.Contains(actions, want) {
			t.Errorf("no %s row with a client-request-id; rows with one: %v", want, actions)
		}
	}
}

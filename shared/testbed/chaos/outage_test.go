package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/alert"
	"github.com/holdfast/holdfast/shared/app"
	"github.com/holdfast/holdfast/shared/deadletter"
	"github.com/holdfast/holdfast/shared/redelivery"
	"github.com/holdfast/holdfast/shared/testbed/azurite"
	"github.com/holdfast/holdfast/shared/testbed/host"
	"github.com/holdfast/holdfast/shared/testbed/localstack"
	"github.com/holdfast/holdfast/shared/testbed/sim"
)

// outageStack is a local stack with the Service Bus broker model and the
// given retry budget, seeded with n licensed users.
func outageStack(t *testing.T, az *azurite.Instance, prefix, budget string, n int) (*localstack.Stack, []string) {
	t.Helper()
	st, err := localstack.Start(context.Background(), localstack.Options{
		Start: Start, AzuriteConnectionString: az.ConnectionString, TablePrefix: prefix, Log: zerolog.Nop(),
		Broker: true, RetryDelay: time.Millisecond, Settings: map[string]string{"HOLDFAST_RETRY_BUDGET": budget},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	var spec sim.TenantSpec
	var upns []string
	for i := range n {
		upn := fmt.Sprintf("leaver%d@contoso.test", i)
		upns = append(upns, upn)
		spec.Users = append(spec.Users, sim.UserSpec{UPN: upn, Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 100 + i})
	}
	if err := st.Sim.Load(spec); err != nil {
		t.Fatal(err)
	}
	return st, upns
}

func hrRetain(id, upn string, at time.Time) []byte {
	b, _ := json.Marshal(map[string]any{
		"specversion": "1.0", "id": id, "type": "io.holdfast.hr.offboarding", "source": "/hr/outage-test", "time": at.Format(time.RFC3339),
		"datacontenttype": "application/json",
		"data":            map[string]any{"upn": upn, "retention": "retain", "lastWorkingDay": at.Format("2006-01-02")},
	})
	return b
}

// playUntil pumps the broker and moves the virtual clock to each next
// visible message (at most step at a time, so sends and fault changes
// planned by the caller land on time), until end.
func playUntil(t *testing.T, st *localstack.Stack, end time.Time, step time.Duration, total *host.PumpStats) {
	t.Helper()
	ctx := context.Background()
	for {
		ps, err := st.Pump(ctx)
		if err != nil {
			t.Fatal(err)
		}
		total.Deliveries += ps.Deliveries
		total.Completed += ps.Completed
		total.Abandoned += ps.Abandoned
		total.DeadLettered += ps.DeadLettered
		now := st.Clock.Now()
		if !now.Before(end) {
			return
		}
		next := now.Add(step)
		if v, ok := st.Broker.NextVisible(); ok && v.After(now) && v.Before(next) {
			next = v
		}
		if next.After(end) {
			next = end
		}
		st.Clock.Set(next)
	}
}

func deadLetters(t *testing.T, st *localstack.Stack) []deadletter.Letter {
	t.Helper()
	var out []deadletter.Letter
	for _, q := range []string{app.QueueHR, app.QueueDirectory} {
		ls, err := st.Broker.Peek(context.Background(), q, 100)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ls...)
	}
	return out
}

// healthStatus reads GET health through the host protocol.
func healthStatus(t *testing.T, st *localstack.Stack) (int, string) {
	t.Helper()
	resp, err := st.CallAPI(context.Background(), "health")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(resp.Outputs["res"])
	var out struct {
		StatusCode json.Number `json:"statusCode"`
		Body       string      `json:"body"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	n, _ := out.StatusCode.Int64()
	return int(n), out.Body
}

func heldUPNs(st *localstack.Stack, upns []string) []string {
	mb := st.Sim.Mailboxes()
	var held []string
	for _, u := range upns {
		if r, ok := mb[u]; ok && r.LitigationHold {
			held = append(held, u)
		}
	}
	return held
}

// Exchange is unavailable for an hour (virtual clock) while HR decisions
// arrive: every decision ends up applied, nothing is dead-lettered, and
// the retries are a handful of scheduled copies, not a loop.
func TestHourOutageDeadLettersNothing(t *testing.T) {
	az := azurite.ForTest(t)
	st, upns := outageStack(t, az, "outagehour", "6h", 3)
	t0 := st.Clock.Now()
	st.Sim.SetFaults(sim.Faults{Rules: map[string]sim.FaultRule{"exchange": {Unavailable: 1}}})

	var total host.PumpStats
	for i, upn := range upns {
		// Decisions arrive 0, 20 and 40 minutes into the outage.
		playUntil(t, st, t0.Add(time.Duration(i)*20*time.Minute), time.Minute, &total)
		if !st.Broker.Send(app.QueueHR, fmt.Sprintf("hr-outage-%d", i), hrRetain(fmt.Sprintf("hr-outage-%d", i), upn, st.Clock.Now()), "application/cloudevents+json") {
			t.Fatal("send dropped")
		}
	}
	playUntil(t, st, t0.Add(time.Hour), time.Minute, &total)
	if held := heldUPNs(st, upns); len(held) != 0 {
		t.Fatalf("holds placed while Exchange was down: %v (the outage did not bite)", held)
	}
	if st.Broker.Active(app.QueueHR) != len(upns) {
		t.Fatalf("%d messages pending during the outage, want %d (one scheduled copy each)", st.Broker.Active(app.QueueHR), len(upns))
	}
	if code, body := healthStatus(t, st); code != 503 || !strings.Contains(body, "failed transiently") {
		t.Errorf("health during the Exchange outage = %d %s, want 503 with the reason", code, body)
	}
	st.Sim.SetFaults(sim.Faults{})
	playUntil(t, st, t0.Add(2*time.Hour), time.Minute, &total)
	if code, body := healthStatus(t, st); code != 200 {
		t.Errorf("health after the outage = %d %s", code, body)
	}

	if held := heldUPNs(st, upns); len(held) != len(upns) {
		t.Errorf("held after the outage: %v, want all of %v", held, upns)
	}
	if dl := deadLetters(t, st); len(dl) != 0 {
		t.Errorf("dead-lettered: %+v", dl)
	}
	if n := st.Broker.Active(app.QueueHR); n != 0 {
		t.Errorf("%d messages still pending", n)
	}
	for _, a := range st.App.Recorder.Alerts() {
		if a.Kind == alert.KindRetryBudgetSpent {
			t.Errorf("budget alert within the budget: %+v", a)
		}
	}
	// Per message: 3 immediate deliveries per copy, a copy after 30 s,
	// 1, 2, 4, 8, 15 min...: about 8 copies for the first hour.
	if total.Deliveries > len(upns)*40 {
		t.Errorf("%d deliveries for %d messages: retries are not backing off", total.Deliveries, len(upns))
	}
	t.Logf("1h Exchange outage, %d HR decisions: %d deliveries, %d completed (scheduled copies included), %d abandoned, %d dead-lettered",
		len(upns), total.Deliveries, total.Completed, total.Abandoned, total.DeadLettered)
}

// An outage longer than the budget dead-letters the decision with one
// alert; once Exchange is back, `holdfast deadletters --replay` (the same
// code, on the broker model) replays it and it is applied.
func TestOutagePastBudgetDeadLettersAndReplays(t *testing.T) {
	az := azurite.ForTest(t)
	st, upns := outageStack(t, az, "outagebudget", "1h", 1)
	t0 := st.Clock.Now()
	st.Sim.SetFaults(sim.Faults{Rules: map[string]sim.FaultRule{"exchange": {Unavailable: 1}}})
	st.Broker.Send(app.QueueHR, "hr-late-1", hrRetain("hr-late-1", upns[0], t0), "application/cloudevents+json")

	var total host.PumpStats
	playUntil(t, st, t0.Add(3*time.Hour), 5*time.Minute, &total)
	dl := deadLetters(t, st)
	if len(dl) != 1 {
		t.Fatalf("dead letters after 3h of a 1h budget: %d, want 1", len(dl))
	}
	if s := dl[0].State(); s.OriginalID != "hr-late-1" || s.Retries == 0 || dl[0].Reason != "MaxDeliveryCountExceeded" {
		t.Errorf("dead letter = %+v state %+v", dl[0], s)
	}
	var alerts []alert.Alert
	for _, a := range st.App.Recorder.Alerts() {
		if a.Kind == alert.KindRetryBudgetSpent {
			alerts = append(alerts, a)
		}
	}
	if len(alerts) != 1 || !strings.Contains(alerts[0].Remedy, "holdfast deadletters") {
		t.Fatalf("budget alerts = %+v, want one naming holdfast deadletters", alerts)
	}

	// List, then replay with Exchange back.
	var out strings.Builder
	sum, err := deadletter.Run(context.Background(), st.Broker, deadletter.Options{Queues: []string{app.QueueHR}}, &out)
	if err != nil || sum.Listed != 1 || !strings.Contains(out.String(), "hr-late-1") {
		t.Fatalf("list: %+v %v\n%s", sum, err, out.String())
	}
	st.Sim.SetFaults(sim.Faults{})
	out.Reset()
	sum, err = deadletter.Run(context.Background(), st.Broker, deadletter.Options{Queues: []string{app.QueueHR}, Replay: "hr-late-1", Now: st.Clock.Now()}, &out)
	if err != nil || sum.Replayed != 1 {
		t.Fatalf("replay: %+v %v\n%s", sum, err, out.String())
	}
	playUntil(t, st, st.Clock.Now().Add(10*time.Minute), time.Minute, &total)
	if held := heldUPNs(st, upns); len(held) != 1 {
		t.Errorf("not held after the replay")
	}
	if dl := deadLetters(t, st); len(dl) != 0 {
		t.Errorf("dead letters after the replay: %+v", dl)
	}
	t.Logf("3h outage, 1h budget: %d deliveries, %d dead-lettered, then replayed and applied", total.Deliveries, total.DeadLettered)
}

// A scheduled copy that reused the original id would be dropped by
// duplicate detection: the broker models it, so check copies get through.
func TestBrokerDropsDuplicateIDs(t *testing.T) {
	b := host.NewBroker(func() time.Time { return Start })
	if !b.Send(app.QueueHR, "m1", []byte("{}"), "") || b.Send(app.QueueHR, "m1", []byte("{}"), "") {
		t.Fatal("duplicate detection not modelled")
	}
	c := redelivery.NextCopy(redelivery.State{OriginalID: "m1", DeliveryCount: 3}, redelivery.Decision{FirstFailure: Start}, []byte("{}"), "", nil)
	if err := b.Schedule(context.Background(), app.QueueHR, c, Start.Add(time.Minute)); err != nil || b.Active(app.QueueHR) != 2 || b.Dropped != 1 {
		t.Errorf("copy: err %v, active %d, dropped %d", err, b.Active(app.QueueHR), b.Dropped)
	}
}

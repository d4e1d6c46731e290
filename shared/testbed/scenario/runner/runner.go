// Package runner plays scenario files on the local stack: HR events and
// directory notifications delivered to the real handler in the Functions
// host's envelope, timers fired on the virtual clock, expectations checked
// against the simulator.
package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/holdfast/holdfast/shared/app"
	"github.com/holdfast/holdfast/shared/ledger"
	"github.com/holdfast/holdfast/shared/testbed/localstack"
	"github.com/holdfast/holdfast/shared/testbed/scenario"
	"github.com/holdfast/holdfast/shared/testbed/sim"
)

// Report is the JSON report (DESIGN section 6).
type Report struct {
	Scenario     string                `json:"scenario"`
	OK           bool                  `json:"ok"`
	Users        map[string]UserReport `json:"users"`
	Alerts       []AlertRow            `json:"alerts"`
	Actions      []ActionRow           `json:"actions"`
	Expectations []ExpectRow           `json:"expectations"`
	Stats        Stats                 `json:"stats"`
	// Outcomes are the handler's answers to the deliveries, read from its
	// return values (app.MessageResult), in delivery order.
	Outcomes []OutcomeRow `json:"outcomes,omitempty"`
}

// OutcomeRow is what the handler answered to one delivery.
type OutcomeRow struct {
	At        time.Time `json:"at"`
	Function  string    `json:"function"`
	MessageID string    `json:"messageId"`
	Result    string    `json:"result"` // applied, duplicate, rejected, ignored, retryScheduled
	CaseKey   string    `json:"caseKey,omitempty"`
	State     string    `json:"state,omitempty"`
	Reason    string    `json:"reason,omitempty"`
}

// UserReport is one mailbox's outcome, from the simulator.
type UserReport struct {
	Mailbox        string `json:"mailbox"`
	ItemsPreserved int    `json:"itemsPreserved"`
	ItemsLost      int    `json:"itemsLost"`
	CaseState      string `json:"caseState,omitempty"`
}

// AlertRow is one alert sent.
type AlertRow struct {
	At      time.Time `json:"at"`
	UPN     string    `json:"upn"`
	Kind    string    `json:"kind"`
	Channel string    `json:"channel"`
	ID      string    `json:"id"`
}

// ActionRow is one audited action.
type ActionRow struct {
	At     time.Time `json:"at"`
	UPN    string    `json:"upn"`
	Action string    `json:"action"`
	Result string    `json:"result"`
	Detail string    `json:"detail,omitempty"`
}

// ExpectRow is one expectation's verdict.
type ExpectRow struct {
	Step   int    `json:"step"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Stats are figures from the run.
type Stats struct {
	Events           int     `json:"events"`
	Sweeps           int     `json:"sweeps"`
	TableOps         int64   `json:"tableOps"`
	HoldLatencyMaxMs float64 `json:"holdLatencyMaxMs"`
	WallSeconds      float64 `json:"wallSeconds"`
	DeadLettered     int     `json:"deadLettered"`
	// RejectedMessages counts distinct messages rejected (a redelivered
	// one counts once, as the rejected-events table keeps it once).
	RejectedMessages int `json:"rejectedMessages"`
}

// Runner plays a scenario on a local stack.
type Runner struct {
	Stack *localstack.Stack
	Out   io.Writer // readable timeline; io.Discard for none
	// SweepEvery is the ExpirySweep schedule on the virtual clock.
	SweepEvery time.Duration
	// Drain, when set, plays on for this long after the last step, firing
	// the sweeps that fall due (a crash harness lets work that a kill left
	// pending at the end finish, as the next sweeps would in production).
	Drain time.Duration
	// SubscriptionEvery is the SubscriptionRenewal schedule on the virtual
	// clock (default 6h), fired only when the scenario's settings give
	// holdfast a subscription to own (HOLDFAST_GRAPH_NOTIFICATION_URL).
	SubscriptionEvery time.Duration
	// BeforeStep, when set, runs before step i (0-based) is played: fault
	// injection between steps, such as a storage outage.
	BeforeStep func(ctx context.Context, i int) error

	sc          *scenario.Scenario
	rejected    int
	rejectedIDs map[string]bool
	stats       Stats
	outcomes    []OutcomeRow
	// lastSweep is the virtual time of the last ExpirySweep: the host fires
	// it once per tick, so a timer still due after a sweep (its case leased
	// by an instance that died) waits for the next tick, as in Azure.
	lastSweep time.Time
	// lastSub is the virtual time SubscriptionRenewal last fired.
	lastSub time.Time
	// lastHold is the wall time the simulator last received a Set-Mailbox
	// enabling Litigation Hold (for the event-to-hold latency figure).
	lastHold atomic.Int64
}

func (r *Runner) printf(format string, args ...any) {
	fmt.Fprintf(r.Out, "%s  "+format+"\n", append([]any{r.Stack.Clock.Now().Format("2006-01-02 15:04")}, args...)...)
}

// Run plays sc. The stack must be fresh (started at sc.Start).
func (r *Runner) Run(ctx context.Context, sc *scenario.Scenario) (*Report, error) {
	wall := time.Now()
	if r.SweepEvery == 0 {
		r.SweepEvery = 5 * time.Minute
	}
	if r.Out == nil {
		r.Out = io.Discard
	}
	r.sc = sc
	r.Stack.Sim.OnRequest(func(ri sim.RequestInfo) {
		if ri.Op == "Set-Mailbox" && ri.Params["LitigationHoldEnabled"] == true {
			r.lastHold.Store(ri.Wall.UnixNano())
		}
	})
	if err := r.Stack.Sim.Load(sc.Tenant); err != nil {
		return nil, fmt.Errorf("seed tenant: %w", err)
	}
	if sc.Realism != nil {
		r.Stack.Sim.SetRealism(*sc.Realism)
	}
	rep := &Report{Scenario: sc.Name, OK: true, Users: map[string]UserReport{}}
	r.printf("scenario %q: %d users, %d steps", sc.Name, len(sc.Tenant.Users), len(sc.Steps))
	if r.SubscriptionEvery == 0 {
		r.SubscriptionEvery = 6 * time.Hour
	}
	if r.ownsSubscription() {
		// The timer's first run, as at deployment: holdfast creates its
		// subscription.
		if err := r.subscriptionTimer(ctx); err != nil {
			return nil, err
		}
	}
	for i, st := range sc.Steps {
		if r.BeforeStep != nil {
			if err := r.BeforeStep(ctx, i); err != nil {
				return nil, fmt.Errorf("before step %d: %w", i, err)
			}
		}
		if err := r.advance(ctx, sc.Start.Add(st.Offset())); err != nil {
			return nil, err
		}
		if err := r.step(ctx, st, rep); err != nil {
			return nil, fmt.Errorf("step %d (%s): %w", st.Index(), st.At, err)
		}
	}
	if r.Drain > 0 {
		if err := r.advance(ctx, r.Stack.Clock.Now().Add(r.Drain)); err != nil {
			return nil, fmt.Errorf("after the last step: %w", err)
		}
	}
	if err := r.collect(ctx, rep); err != nil {
		return nil, err
	}
	r.stats.TableOps = r.Stack.App.Counter.Total()
	r.stats.WallSeconds = time.Since(wall).Seconds()
	rep.Stats = r.stats
	rep.Outcomes = r.outcomes
	for _, e := range rep.Expectations {
		if !e.OK {
			rep.OK = false
		}
	}
	return rep, nil
}

// advance moves the virtual clock to target, firing ExpirySweep at every
// sweep tick where a timer is due (ticks with nothing due are skipped:
// they would do nothing) and delivering the notifications the simulator
// produces on the way.
func (r *Runner) advance(ctx context.Context, target time.Time) error {
	for {
		now := r.Stack.Clock.Now()
		next, ok, err := r.nextTimer(ctx)
		if err != nil {
			return err
		}
		// A notification still on its way (Realism.Notifications) is
		// delivered at its own time, between sweep ticks (and before a
		// SubscriptionRenewal run due later).
		if ev, evOK := r.Stack.Sim.NextEventAt(); evOK && ev.After(now) && !ev.After(target) {
			tick := next.Truncate(r.SweepEvery)
			if tick.Before(next) {
				tick = tick.Add(r.SweepEvery)
			}
			subFirst := r.ownsSubscription() && r.lastSub.Add(r.SubscriptionEvery).Before(ev)
			if (!ok || ev.Before(tick)) && !subFirst {
				r.Stack.Clock.Set(ev)
				if err := r.deliverDirectory(ctx, nil); err != nil {
					return err
				}
				continue
			}
		}
		if r.ownsSubscription() {
			subTick := r.lastSub.Add(r.SubscriptionEvery)
			if subTick.Before(now) {
				subTick = now
			}
			if !subTick.After(target) && (!ok || !r.sweepTick(now, next).Before(subTick)) {
				r.Stack.Clock.Set(subTick)
				if err := r.deliverDirectory(ctx, nil); err != nil {
					return err
				}
				if err := r.subscriptionTimer(ctx); err != nil {
					return err
				}
				if err := r.deliverDirectory(ctx, nil); err != nil {
					return err
				}
				continue
			}
		}
		if ok {
			// The host fires the sweep on its schedule, not at the due time.
			tick := r.sweepTick(now, next)
			if !tick.After(target) {
				r.Stack.Clock.Set(tick)
				if err := r.deliverDirectory(ctx, nil); err != nil {
					return err
				}
				if err := r.sweep(ctx); err != nil {
					return err
				}
				if err := r.deliverDirectory(ctx, nil); err != nil {
					return err
				}
				continue
			}
		}
		r.Stack.Clock.Set(target)
		return r.deliverDirectory(ctx, nil)
	}
}

// sweepTick is the sweep tick at which a timer due at next fires.
func (r *Runner) sweepTick(now, next time.Time) time.Time {
	tick := next.Truncate(r.SweepEvery)
	if tick.Before(next) {
		tick = tick.Add(r.SweepEvery)
	}
	if tick.Before(now) {
		tick = now
	}
	if !r.lastSweep.IsZero() && !tick.After(r.lastSweep) {
		tick = r.lastSweep.Add(r.SweepEvery)
	}
	return tick
}

func (r *Runner) ownsSubscription() bool {
	return r.Stack.App.Subscription != nil && r.Stack.App.Subscription.Configured()
}

// subscriptionTimer fires SubscriptionRenewal as the host would.
func (r *Runner) subscriptionTimer(ctx context.Context) error {
	r.lastSub = r.Stack.Clock.Now()
	resp, err := r.Stack.FireTimer(ctx, app.FnSubscription)
	if err != nil {
		// The function failed (recorded and alerted by holdfast); the host
		// would run it again on schedule, and so does the runner.
		r.printf("SubscriptionRenewal  failed: %v", err)
		return nil
	}
	// A run that found nothing to do stays out of the timeline; what it did
	// is its return value (subscription.Report), the logs are for reading.
	var did struct{ Action string }
	if err := resp.DecodeReturnValue(&did); err == nil && did.Action == "none" {
		return nil
	}
	for _, l := range resp.Logs {
		r.printf("SubscriptionRenewal  %s", l)
	}
	return nil
}

func (r *Runner) nextTimer(ctx context.Context) (time.Time, bool, error) {
	var next time.Time
	found := false
	far := r.Stack.Clock.Now().Add(5 * 365 * 24 * time.Hour)
	err := r.Stack.App.Store.DueTimers(ctx, far, 1, func(t ledger.Timer) error {
		if !found || t.DueAt.Before(next) {
			next, found = t.DueAt, true
		}
		return nil
	})
	return next, found, err
}

func (r *Runner) sweep(ctx context.Context) error {
	r.lastSweep = r.Stack.Clock.Now()
	resp, err := r.Stack.FireTimer(ctx, app.FnExpirySweep)
	if err != nil {
		return fmt.Errorf("ExpirySweep: %w", err)
	}
	r.stats.Sweeps++
	// A sweep with nothing due stays out of the timeline (its return value
	// is engine.SweepResult).
	var did struct{ Due *int }
	if err := resp.DecodeReturnValue(&did); err == nil && did.Due != nil && *did.Due == 0 {
		return nil
	}
	for _, l := range resp.Logs {
		r.printf("ExpirySweep  %s", l)
	}
	return nil
}

func (r *Runner) eventID(parts ...string) string {
	h := sha256.Sum256([]byte(r.sc.Name + "|" + strings.Join(parts, "|")))
	b := hex.EncodeToString(h[:16])
	return b[:8] + "-" + b[8:12] + "-" + b[12:16] + "-" + b[16:20] + "-" + b[20:32]
}

func (r *Runner) deliver(ctx context.Context, function, id string, body []byte) error {
	r.stats.Events++
	resp, err := r.Stack.Deliver(ctx, function, id, body)
	if err != nil {
		if errors.Is(err, localstack.ErrDeadLettered) {
			r.stats.DeadLettered++
			r.printf("%-16s message %s DEAD-LETTERED: %v", function, id, err)
			return nil
		}
		return err
	}
	// The logs are for the readable timeline only; the outcome is the
	// handler's return value.
	for _, l := range resp.Logs {
		r.printf("%-16s %s", function, l)
	}
	var res app.MessageResult
	if err := resp.DecodeReturnValue(&res); err != nil || res.Result == "" {
		return fmt.Errorf("%s message %s: the handler's answer carries no outcome (ReturnValue %v): %v", function, id, resp.ReturnValue, err)
	}
	r.outcomes = append(r.outcomes, OutcomeRow{At: r.Stack.Clock.Now(), Function: function, MessageID: res.MessageID,
		Result: res.Result, CaseKey: res.CaseKey, State: res.State, Reason: res.Reason})
	if res.Result == app.ResultRejected {
		r.rejected++
		if r.rejectedIDs == nil {
			r.rejectedIDs = map[string]bool{}
		}
		if !r.rejectedIDs[id] {
			r.rejectedIDs[id] = true
			r.stats.RejectedMessages++
		}
	}
	return nil
}

// deliverDirectory hands the simulator's notifications to OnDirectoryEvent.
// drop/reorder apply to the notifications of one admin step.
func (r *Runner) deliverDirectory(ctx context.Context, a *scenario.Admin) error {
	if a != nil && a.DropEvents {
		if n := r.Stack.Sim.DiscardEmitted(); n > 0 {
			r.printf("(%d directory notification(s) lost upstream)", n)
		}
	}
	evs := r.Stack.Sim.DrainEvents()
	if a != nil && a.Reorder {
		var re []json.RawMessage
		for i := len(evs) - 1; i >= 0; i-- {
			re = append(re, evs[i], evs[i])
		}
		evs = re
	}
	for _, ev := range evs {
		var head struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(ev, &head)
		if err := r.deliver(ctx, app.FnOnDirectoryEvent, head.ID, ev); err != nil {
			return err
		}
	}
	return nil
}

func (r *Runner) step(ctx context.Context, st scenario.Step, rep *Report) error {
	switch {
	case st.HR != nil:
		h := st.HR
		id := h.ID
		if id == "" {
			id = r.eventID("hr", fmt.Sprint(st.Index()))
		}
		typ := map[string]string{"offboarding": "io.holdfast.hr.offboarding", "offboardingCancelled": "io.holdfast.hr.offboardingCancelled", "rehire": "io.holdfast.hr.rehire"}[h.Type]
		data := map[string]any{}
		if h.UPN != "" {
			data["upn"] = h.UPN
		}
		if h.EmployeeID != "" {
			data["employeeId"] = h.EmployeeID
		}
		for k, v := range map[string]string{"lastWorkingDay": h.LastWorkingDay, "retention": h.Retention, "archiveTarget": h.ArchiveTarget, "ticket": h.Ticket} {
			if v != "" {
				data[k] = v
			}
		}
		if h.HoldDurationDays != nil {
			data["holdDurationDays"] = *h.HoldDurationDays
		}
		if h.Type == "offboarding" && data["retention"] == nil {
			data["retention"] = "retain"
		}
		if h.Type == "offboarding" && data["lastWorkingDay"] == nil {
			data["lastWorkingDay"] = r.Stack.Clock.Now().Format("2006-01-02")
		}
		body, _ := json.Marshal(map[string]any{
			"specversion": "1.0", "id": id, "type": typ, "source": "/hr/scenario", "time": r.Stack.Clock.Now().Format(time.RFC3339),
			"datacontenttype": "application/json", "data": data,
		})
		n := h.Deliveries
		if n < 1 {
			n = 1
		}
		r.printf("HR %s for %s (retention %v)", h.Type, h.UPN, data["retention"])
		for i := 0; i < n; i++ {
			sent := time.Now()
			if err := r.deliver(ctx, app.FnOnOffboarding, id, body); err != nil {
				return err
			}
			if h := r.lastHold.Load(); h > sent.UnixNano() {
				ms := float64(h-sent.UnixNano()) / 1e6
				if ms > r.stats.HoldLatencyMaxMs {
					r.stats.HoldLatencyMaxMs = ms
				}
			}
		}
		return nil
	case st.Admin != nil:
		r.printf("admin %s %s", st.Admin.Action, st.Admin.UPN)
		if err := r.Stack.Sim.Admin(ctx, sim.AdminAction{Action: st.Admin.Action, UPN: st.Admin.UPN, SKU: st.Admin.SKU}); err != nil {
			r.printf("  simulator refused: %v", err)
		}
		return r.deliverDirectory(ctx, st.Admin)
	case st.Raw != nil:
		body := []byte(st.Raw.Body)
		if len(st.Raw.JSON) > 0 {
			body = st.Raw.JSON
		}
		id := st.Raw.MessageID
		if id == "" {
			id = r.eventID("raw", fmt.Sprint(st.Index()))
		}
		fn := app.FnOnOffboarding
		if st.Raw.Queue == "directory-events" {
			fn = app.FnOnDirectoryEvent
		}
		r.printf("raw message on %s (%d bytes)", st.Raw.Queue, len(body))
		return r.deliver(ctx, fn, id, body)
	case st.Sweep:
		return r.sweep(ctx)
	case st.Faults != nil:
		r.printf("simulator faults set")
		r.Stack.Sim.SetFaults(*st.Faults)
		return nil
	case st.Reconcile:
		resp, err := r.Stack.FireTimer(ctx, app.FnReconcile)
		if err != nil {
			return fmt.Errorf("Reconcile: %w", err)
		}
		for _, l := range resp.Logs {
			r.printf("Reconcile  %s", l)
		}
		return r.deliverDirectory(ctx, nil)
	case st.Expect != nil:
		row := r.check(ctx, st)
		rep.Expectations = append(rep.Expectations, row)
		mark := "ok  "
		if !row.OK {
			mark = "FAIL"
		}
		r.printf("expect %s %s", mark, row.Detail)
	}
	return nil
}

func (r *Runner) check(ctx context.Context, st scenario.Step) ExpectRow {
	e := st.Expect
	row := ExpectRow{Step: st.Index(), OK: true}
	var notes []string
	fail := func(format string, args ...any) {
		row.OK = false
		notes = append(notes, fmt.Sprintf(format, args...))
	}
	mbs := r.Stack.Sim.Mailboxes()
	mb, known := mbs[e.UPN]
	if e.UPN != "" && !known && (e.MailboxPreserved != nil || e.Mailbox != "" || e.ItemsLost != nil || e.RestoredTo != "" || e.Kept != nil || e.HoldDuration != "") {
		fail("no mailbox for %s in the simulator", e.UPN)
	}
	if e.MailboxPreserved != nil && known {
		preserved := mb.State != "purged" && mb.ItemsLost == 0
		if preserved != *e.MailboxPreserved {
			fail("mailboxPreserved=%v, want %v (state %s, %d items lost)", preserved, *e.MailboxPreserved, mb.State, mb.ItemsLost)
		}
	}
	if e.Kept != nil && known {
		kept := mb.ItemsLost == 0 && (mb.State != "purged" || len(mb.RestoredTo) > 0)
		if kept != *e.Kept {
			fail("kept=%v, want %v (state %s, %d items lost, restored to %v)", kept, *e.Kept, mb.State, mb.ItemsLost, mb.RestoredTo)
		}
	}
	if e.HoldDuration != "" && known && mb.HoldDuration != e.HoldDuration {
		fail("LitigationHoldDuration %q, want %q", mb.HoldDuration, e.HoldDuration)
	}
	if e.Mailbox != "" && known && mb.State != e.Mailbox {
		fail("mailbox %s, want %s", mb.State, e.Mailbox)
	}
	if e.ItemsLost != nil && known && mb.ItemsLost != *e.ItemsLost {
		fail("itemsLost %d, want %d", mb.ItemsLost, *e.ItemsLost)
	}
	if e.RestoredTo != "" && known {
		found := false
		for _, t := range mb.RestoredTo {
			found = found || strings.EqualFold(t, e.RestoredTo)
		}
		if !found {
			fail("content not restored to %s (restoredTo %v)", e.RestoredTo, mb.RestoredTo)
		}
	}
	if e.CaseState != "" {
		got := r.caseState(ctx, e.UPN)
		if got != e.CaseState {
			fail("case state %q, want %q", got, e.CaseState)
		}
	}
	count := func(kind string) int {
		n := 0
		for _, a := range r.Stack.App.Recorder.Alerts() {
			if a.Kind == kind && (e.UPN == "" || strings.EqualFold(a.UPN, e.UPN)) {
				n++
			}
		}
		return n
	}
	if e.Alert != "" {
		switch n := count(e.Alert); {
		case e.AlertCount != nil && n != *e.AlertCount:
			fail("%d %s alert(s), want %d", n, e.Alert, *e.AlertCount)
		case n == 0:
			fail("no %s alert", e.Alert)
		}
	}
	if e.NoAlert != "" {
		if n := count(e.NoAlert); n > 0 {
			fail("%d unexpected %s alert(s)", n, e.NoAlert)
		}
	}
	if e.Rejected != nil && r.rejected != *e.Rejected {
		fail("%d rejected event(s), want %d", r.rejected, *e.Rejected)
	}
	if e.Action != "" {
		n := 0
		for _, a := range r.actions(ctx) {
			if a.Action == e.Action && (e.UPN == "" || strings.EqualFold(a.UPN, e.UPN)) && a.Result == "ok" {
				n++
			}
		}
		switch {
		case e.ActionCount != nil && n != *e.ActionCount:
			fail("%d %s action(s), want %d", n, e.Action, *e.ActionCount)
		case e.ActionCount == nil && n == 0:
			fail("no %s action", e.Action)
		}
	}
	if e.LiveSubscriptions != nil {
		if n := len(r.Stack.Sim.Subscriptions()); n != *e.LiveSubscriptions {
			fail("%d live Graph subscription(s) in the simulator, want %d", n, *e.LiveSubscriptions)
		}
	}
	if e.SubscriptionRenewals != nil || e.SubscriptionRecreations != nil || e.SubscriptionState != "" {
		st, err := r.Stack.App.Subscription.Status(ctx)
		switch {
		case err != nil:
			fail("subscription status: %v", err)
		default:
			if e.SubscriptionRenewals != nil && st.Renewals < *e.SubscriptionRenewals {
				fail("%d subscription renewal(s), want at least %d", st.Renewals, *e.SubscriptionRenewals)
			}
			if e.SubscriptionRecreations != nil && st.Recreations != *e.SubscriptionRecreations {
				fail("%d subscription recreation(s), want %d", st.Recreations, *e.SubscriptionRecreations)
			}
			if e.SubscriptionState != "" && st.State != e.SubscriptionState {
				fail("subscription %s, want %s", st.State, e.SubscriptionState)
			}
		}
	}
	if e.HoldRequests != nil {
		n := r.Stack.Sim.HoldRequests(e.UPN)
		if n != *e.HoldRequests {
			fail("%d hold request(s) reached Exchange, want %d", n, *e.HoldRequests)
		}
	}
	if row.OK {
		row.Detail = describe(e, mb, known)
	} else {
		row.Detail = e.UPN + ": " + strings.Join(notes, "; ")
	}
	return row
}

func describe(e *scenario.Expect, mb sim.MailboxReport, known bool) string {
	s := e.UPN
	if known {
		s += fmt.Sprintf(": mailbox %s, %d items preserved, %d lost", mb.State, mb.ItemsPreserved, mb.ItemsLost)
	}
	if e.CaseState != "" {
		s += ", case " + e.CaseState
	}
	if e.Alert != "" {
		s += ", " + e.Alert + " alert sent"
	}
	if e.Action != "" {
		s += ", " + e.Action + " done"
	}
	if e.RestoredTo != "" {
		s += ", content restored to " + e.RestoredTo
	}
	if e.Rejected != nil {
		s += fmt.Sprintf(", %d rejected event(s)", *e.Rejected)
	}
	return strings.TrimPrefix(s, ": ")
}

// cases returns case records by UPN (lower case).
func (r *Runner) cases(ctx context.Context) map[string]ledger.CaseRecord {
	out := map[string]ledger.CaseRecord{}
	_ = r.Stack.App.Store.ListCases(ctx, func(c ledger.CaseRecord) error {
		out[strings.ToLower(c.UPN)] = c
		return nil
	})
	return out
}

func (r *Runner) caseState(ctx context.Context, upn string) string {
	if c, ok := r.cases(ctx)[strings.ToLower(upn)]; ok {
		return c.State
	}
	return "none"
}

func (r *Runner) actions(ctx context.Context) []ActionRow {
	var out []ActionRow
	for upn, c := range r.cases(ctx) {
		_ = r.Stack.App.Store.ListAudit(ctx, c.Key, func(a ledger.AuditRecord) error {
			switch a.Action {
			case "observe", "clock", "transition", "decide", "alertsDelivered", "sweep":
				// Failures, and write-offs (checked against the
				// simulator's truth by the chaos invariants).
				if a.Result != "failed" && (a.Action != "observe" || a.Result != "lost") {
					return nil
				}
			}
			out = append(out, ActionRow{At: a.At, UPN: upn, Action: a.Action, Result: a.Result, Detail: a.Detail})
			return nil
		})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

func (r *Runner) collect(ctx context.Context, rep *Report) error {
	cases := r.cases(ctx)
	for upn, mb := range r.Stack.Sim.Mailboxes() {
		state := mb.State
		if len(mb.RestoredTo) > 0 && state == "purged" {
			state = "restoredTo:" + strings.Join(mb.RestoredTo, ",")
		}
		ur := UserReport{Mailbox: state, ItemsPreserved: mb.ItemsPreserved, ItemsLost: mb.ItemsLost}
		if c, ok := cases[strings.ToLower(upn)]; ok {
			ur.CaseState = c.State
		}
		rep.Users[upn] = ur
	}
	for _, a := range r.Stack.App.Recorder.Alerts() {
		rep.Alerts = append(rep.Alerts, AlertRow{At: a.At, UPN: a.UPN, Kind: a.Kind, Channel: "recorder", ID: a.ID})
	}
	rep.Actions = r.actions(ctx)
	return nil
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/alert"
	"github.com/holdfast/holdfast/shared/engine"
	"github.com/holdfast/holdfast/shared/events"
	"github.com/holdfast/holdfast/shared/ledger"
	"github.com/holdfast/holdfast/shared/ledger/memledger"
	"github.com/holdfast/holdfast/shared/observe"
	"github.com/holdfast/holdfast/shared/testbed/localstack"
	"github.com/holdfast/holdfast/shared/testbed/sim"
)

// TestObserveThenAct (moved from shared/engine: it needs the served
// binary's wiring, the Api function and alert mail through Graph sendMail)
// plays leavers in observe-only mode until their
// rescues are due, checks every retained leaver's hold and rescue were
// planned and recorded and that no write reached the tenant, then
// continues the same cases with an acting instance, which saves every
// mailbox before its deadline.
func TestObserveThenAct(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	// One in-memory ledger for both instances (memledger; ledgertest
	// holds it to Table Storage's semantics).
	counter := &ledger.Counter{}
	mem := struct {
		store   ledger.Store
		counter *ledger.Counter
	}{memledger.New(memledger.Options{Counter: counter}), counter}
	ctx := context.Background()
	mail := map[string]string{"HOLDFAST_ALERT_MAIL_FROM": "alerts@contoso.test", "HOLDFAST_ALERT_MAIL_TO": "admins@contoso.test"}
	obsSettings := map[string]string{"HOLDFAST_ACTIONS": "observe"}
	for k, v := range mail {
		obsSettings[k] = v
	}
	obs, err := localstack.Start(ctx, localstack.Options{Start: start, Ledger: mem.store, Counter: mem.counter,
		Log: zerolog.Nop(), Instance: "observer", Settings: obsSettings})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(obs.Close)
	log := &sim.RequestLog{}
	obs.Sim.OnRequest(log.Add)
	retained := []string{"ann@contoso.test", "ben@contoso.test", "cat@contoso.test", "eve@contoso.test"}
	err = obs.Sim.Load(sim.TenantSpec{Users: []sim.UserSpec{
		{UPN: "ann@contoso.test", Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 40},
		{UPN: "ben@contoso.test", Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 40},
		{UPN: "cat@contoso.test", Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 40},
		{UPN: "dan@contoso.test", Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 40},
		{UPN: "eve@contoso.test", Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 40},
		{UPN: "alerts@contoso.test", Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	eng := obs.App.Engine
	hr := func(upn, retention string, n int) {
		t.Helper()
		body := fmt.Appendf(nil, `{"specversion":"1.0","id":"hr-%d","type":"io.holdfast.hr.offboarding","source":"/hr/test","time":%q,"datacontenttype":"application/json","data":{"upn":%q,"lastWorkingDay":"2026-03-02","retention":%q}}`,
			n, obs.Clock.Now().Format(time.RFC3339), upn, retention)
		out, err := eng.HandleMessage(ctx, engine.Message{Queue: events.QueueHR, Body: body, MessageID: fmt.Sprintf("m-hr-%d", n), DeliveryCount: 1})
		if err != nil || out.Result != "applied" {
			t.Fatalf("offboarding %s: %+v %v", upn, out, err)
		}
	}
	directory := func(e *engine.Engine) {
		t.Helper()
		for _, ev := range obs.Sim.DrainEvents() {
			var head struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(ev, &head)
			if _, err := e.HandleMessage(ctx, engine.Message{Queue: events.QueueDirectory, Body: ev, MessageID: head.ID, DeliveryCount: 1}); err != nil {
				t.Fatalf("directory event: %v", err)
			}
		}
	}
	admin := func(action, upn string) {
		t.Helper()
		if err := obs.Sim.Admin(ctx, sim.AdminAction{Action: action, UPN: upn}); err != nil {
			t.Fatal(err)
		}
	}
	sweepUntil := func(e *engine.Engine, until time.Time, step time.Duration) {
		t.Helper()
		for now := obs.Clock.Now(); !now.After(until); now = now.Add(step) {
			obs.Clock.Set(now)
			if res, err := e.Sweep(ctx); err != nil || res.Failed > 0 {
				t.Fatalf("sweep at %s: %+v %v", now, res, err)
			}
		}
	}

	// Day 0: HR offboards four retained leavers and one released one.
	for i, upn := range retained {
		hr(upn, "retain", i)
	}
	hr("dan@contoso.test", "release", 9)
	// Day 1: ann and ben are deleted, cat loses her licence, eve is
	// removed in Exchange (no notification), dan is deleted.
	obs.Clock.Set(start.Add(24 * time.Hour))
	admin("deleteUser", "ann@contoso.test")
	admin("deleteUser", "ben@contoso.test")
	admin("removeLicense", "cat@contoso.test")
	admin("removeMailbox", "eve@contoso.test")
	admin("deleteUser", "dan@contoso.test")
	directory(eng)
	if _, err := eng.Reconcile(ctx, nil); err != nil { // finds eve's removal
		t.Fatal(err)
	}
	// Observe until past every rescue time (deadline 30 d after day 1,
	// rescue 72 h before), sweeping every 3 hours.
	observeEnd := start.Add(24*time.Hour + 28*24*time.Hour)
	sweepUntil(eng, observeEnd, 3*time.Hour)

	if w := log.Writes(); len(w) > 0 {
		t.Fatalf("observe mode wrote to the tenant:\n%s", strings.Join(w, "\n"))
	}
	if log.Count() == 0 {
		t.Fatal("the request log is empty: the test would prove nothing")
	}
	if m := obs.Sim.Mail(); len(m) > 0 {
		t.Fatalf("observe mode sent %d alert mail(s) through sendMail", len(m))
	}
	reports := obs.Sim.Mailboxes()
	for _, upn := range retained {
		rep := reports[upn]
		if rep.LitigationHold || rep.UserState == "active" && rep.Licensed && upn != "cat@contoso.test" {
			t.Errorf("%s: the tenant changed in observe mode: %+v", upn, rep)
		}
		planned, audit := casePlanned(t, obs, eng, upn)
		steps := map[string]engine.PlannedAction{}
		for _, p := range planned {
			steps[p.Step] = p
		}
		if _, ok := steps[engine.StepHold]; !ok {
			t.Errorf("%s: no planned hold; planned %+v", upn, planned)
		}
		if p, ok := steps[engine.StepRescue]; !ok || p.Status != engine.PlannedPending {
			t.Errorf("%s: no pending planned rescue; planned %+v", upn, planned)
		}
		if testing.Verbose() {
			t.Logf("%s planned: %+v\n%s", upn, planned, audit)
		}
		if !strings.Contains(audit, "wouldDo") {
			t.Errorf("%s: no wouldDo audit row:\n%s", upn, audit)
		}
		if p, ok := steps[engine.StepRescue]; ok {
			// Looked at again every hour since: nothing new to audit.
			quiet := p.PlannedAt.Add(time.Hour)
			for _, line := range strings.Split(strings.TrimSpace(audit), "\n") {
				at, _ := time.Parse(time.RFC3339, strings.Fields(line)[0])
				if at.After(quiet) && !strings.Contains(line, "alertsDelivered") {
					t.Errorf("%s: audit grows while the planned rescue waits: %s", upn, line)
				}
			}
			if !p.LastAt.After(p.PlannedAt) {
				t.Errorf("%s: planned rescue never looked at again (LastAt %s)", upn, p.LastAt)
			}
		}
		if strings.Count(audit, "wouldDo") > 3 {
			t.Errorf("%s: planned actions audited again on every look:\n%s", upn, audit)
		}
	}
	if planned, _ := casePlanned(t, obs, eng, "dan@contoso.test"); len(planned) > 0 {
		t.Errorf("dan (released): planned %+v, want none", planned)
	}
	var sawPlanned bool
	for _, a := range obs.App.Recorder.Alerts() {
		if !strings.HasPrefix(a.Action, observe.Prefix) {
			t.Errorf("alert %s does not say observe mode: %q", a.ID, a.Action)
		}
		sawPlanned = sawPlanned || a.Kind == "planned"
	}
	if !sawPlanned {
		t.Error("no planned-action alert in observe mode")
	}
	if n := countKind(obs.App.Recorder.Alerts(), "planned"); n != len(retained) {
		t.Errorf("%d planned-action alerts, want one per retained leaver (%d)", n, len(retained))
	}

	// The Api's case list shows each retained leaver's pending rescue.
	resp, err := obs.CallAPI(ctx, "cases")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(resp.Outputs["res"])
	var res struct {
		StatusCode int    `json:"statusCode"`
		Body       string `json:"body"`
	}
	_ = json.Unmarshal(b, &res)
	var list struct {
		Cases []struct {
			UPN     string   `json:"upn"`
			Planned []string `json:"planned"`
		} `json:"cases"`
	}
	if err := json.Unmarshal([]byte(res.Body), &list); err != nil || res.StatusCode != 200 {
		t.Fatalf("Api cases: %d %v", res.StatusCode, err)
	}
	withPlan := map[string]bool{}
	for _, c := range list.Cases {
		for _, p := range c.Planned {
			if strings.HasPrefix(p, engine.StepRescue+": ") {
				withPlan[c.UPN] = true
			}
		}
	}
	for _, upn := range retained {
		if !withPlan[upn] {
			t.Errorf("Api cases: %s shows no planned rescue: %s", upn, res.Body)
		}
	}

	// The dashboard's case page lists them too.
	annKey, err := eng.FindCase(ctx, "ann@contoso.test")
	if err != nil {
		t.Fatal(err)
	}
	page, err := obs.CallAPI(ctx, "ui/case/"+annKey)
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := json.Marshal(page.Outputs["res"])
	var html struct {
		StatusCode int    `json:"statusCode"`
		Body       string `json:"body"`
	}
	_ = json.Unmarshal(pb, &html)
	if html.StatusCode != 200 || !strings.Contains(html.Body, "Planned actions") || !strings.Contains(html.Body, "[pending] rescue: would restore the deleted user") {
		t.Errorf("dashboard case page: %d, planned rescue not shown", html.StatusCode)
	}

	// Switch to acting mode: a new instance on the same storage and tenant.
	act, err := localstack.Start(ctx, localstack.Options{Start: start, Ledger: mem.store, Counter: mem.counter,
		Log: zerolog.Nop(), Instance: "actor", Sim: obs.Sim, Clock: obs.Clock, SimURL: obs.SimURL, Settings: mail})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(act.Close)
	// Within the observe recheck interval the sweeps perform what is due.
	sweepUntil(act.App.Engine, observeEnd.Add(2*time.Hour), 30*time.Minute)
	directory(act.App.Engine)
	if w := log.Writes(); len(w) == 0 {
		t.Fatal("acting mode made no write")
	}
	// Past every original deadline: nothing retained is lost.
	sweepUntil(act.App.Engine, start.Add(40*24*time.Hour), 6*time.Hour)
	reports = obs.Sim.Mailboxes()
	for _, upn := range retained {
		rep := reports[upn]
		if rep.State == "purged" || rep.ItemsLost > 0 || !rep.LitigationHold {
			t.Errorf("%s not saved after switching to act: %+v", upn, rep)
		}
		planned, _ := casePlanned(t, act, act.App.Engine, upn)
		for _, p := range planned {
			if p.Status == engine.PlannedPending {
				t.Errorf("%s: planned action still pending after acting: %+v", upn, p)
			}
		}
	}
	if reports["dan@contoso.test"].UserState == "active" {
		t.Error("dan (released) was restored")
	}
	if len(obs.Sim.Mail()) == 0 {
		t.Error("acting mode sent no alert mail")
	}
}

func countKind(as []alert.Alert, kind string) int {
	n := 0
	for _, a := range as {
		if a.Kind == kind {
			n++
		}
	}
	return n
}

// casePlanned returns a case's planned actions and its audit trail as text.
func casePlanned(t *testing.T, st *localstack.Stack, eng *engine.Engine, upn string) ([]engine.PlannedAction, string) {
	t.Helper()
	ctx := context.Background()
	key, err := eng.FindCase(ctx, upn)
	if err != nil {
		t.Fatalf("find %s: %v", upn, err)
	}
	rec, err := st.App.Store.LoadCase(ctx, key)
	if err != nil {
		t.Fatalf("load %s: %v", upn, err)
	}
	planned, err := engine.PlannedActions(rec.Data)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	_ = st.App.Store.ListAudit(ctx, key, func(a ledger.AuditRecord) error {
		fmt.Fprintf(&b, "%s %s %s %s %s\n", a.At.Format(time.RFC3339), a.Actor, a.Action, a.Result, a.Detail)
		return nil
	})
	return planned, b.String()
}

package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/holdfast/holdfast/shared/app"
	"github.com/holdfast/holdfast/shared/ledger"
	"github.com/holdfast/holdfast/shared/testbed/azurite"
	"github.com/holdfast/holdfast/shared/testbed/localstack"
	"github.com/holdfast/holdfast/shared/testbed/sim"
)

// twoInstances is two handler stacks sharing one Azurite (same tables),
// one simulator and one virtual clock, like two Functions instances.
type twoInstances struct {
	t      *testing.T
	a, b   *localstack.Stack
	events int
}

func (p *twoInstances) both(fn func(s *localstack.Stack) error) {
	p.t.Helper()
	var g errgroup.Group
	for _, s := range []*localstack.Stack{p.a, p.b} {
		g.Go(func() error { return fn(s) })
	}
	if err := g.Wait(); err != nil {
		p.t.Fatal(err)
	}
}

// deliverBoth hands one message to both instances at the same time (a
// redelivery racing the first delivery).
func (p *twoInstances) deliverBoth(fn, id string, body []byte) {
	p.events++
	p.both(func(s *localstack.Stack) error {
		_, err := s.Deliver(context.Background(), fn, id, body)
		return err
	})
}

// notifications delivers the simulator's directory notifications: each to
// both instances, alternately in order and reversed.
func (p *twoInstances) notifications() {
	evs := p.a.Sim.DrainEvents()
	for i, ev := range evs {
		var head struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(ev, &head)
		if i%2 == 1 && i > 0 {
			// Interleave: the previous message again, now on both.
			prev := evs[i-1]
			_ = json.Unmarshal(prev, &head)
			p.deliverBoth(app.FnOnDirectoryEvent, head.ID, prev)
			_ = json.Unmarshal(ev, &head)
		}
		p.deliverBoth(app.FnOnDirectoryEvent, head.ID, ev)
	}
}

func hrEvent(id, upn string, at time.Time) []byte {
	return fmt.Appendf(nil, `{"specversion":"1.0","id":%q,"type":"io.holdfast.hr.offboarding","source":"/hr/test","time":%q,"datacontenttype":"application/json","data":{"upn":%q,"lastWorkingDay":%q,"retention":"retain"}}`,
		id, at.Format(time.RFC3339), upn, at.Format("2006-01-02"))
}

// advance moves the shared clock to target, sweeping on both instances at
// once at every tick where a timer is due.
func (p *twoInstances) advance(target time.Time) {
	ctx := context.Background()
	for {
		var next time.Time
		found := false
		err := p.a.App.Store.DueTimers(ctx, target, 1, func(t ledger.Timer) error {
			if !found || t.DueAt.Before(next) {
				next, found = t.DueAt, true
			}
			return nil
		})
		if err != nil {
			p.t.Fatal(err)
		}
		if !found {
			p.a.Clock.Set(target)
			p.notifications()
			return
		}
		tick := next.Truncate(SweepInterval)
		if tick.Before(next) {
			tick = tick.Add(SweepInterval)
		}
		if now := p.a.Clock.Now(); tick.Before(now) {
			tick = now
		}
		if tick.After(target) {
			p.a.Clock.Set(target)
			p.notifications()
			return
		}
		p.a.Clock.Set(tick)
		p.notifications()
		p.both(func(s *localstack.Stack) error {
			_, err := s.FireTimer(ctx, app.FnExpirySweep)
			return err
		})
		p.notifications()
	}
}

// TestTwoInstances: the same and interleaved events and simultaneous
// sweeps on two instances give one hold per leaver, one rescue, and one
// alert per threshold.
func TestTwoInstances(t *testing.T) {
	ctx := context.Background()
	az := azurite.ForTest(t)
	a, err := localstack.Start(ctx, localstack.Options{Start: Start, AzuriteConnectionString: az.ConnectionString, TablePrefix: "twin", Log: zerolog.Nop(), Instance: "a"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := localstack.Start(ctx, localstack.Options{Start: Start, AzuriteConnectionString: az.ConnectionString, TablePrefix: "twin", Log: zerolog.Nop(), Instance: "b",
		Sim: a.Sim, Clock: a.Clock, SimURL: a.SimURL})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	p := &twoInstances{t: t, a: a, b: b}
	users := []string{"held@contoso.test", "rescued@contoso.test", "unlicensed@contoso.test"}
	var spec sim.TenantSpec
	for _, u := range users {
		spec.Users = append(spec.Users, sim.UserSpec{UPN: u, Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 900})
	}
	if err := a.Sim.Load(spec); err != nil {
		t.Fatal(err)
	}
	admin := func(action, upn string) {
		if err := a.Sim.Admin(ctx, sim.AdminAction{Action: action, UPN: upn}); err != nil {
			t.Fatal(err)
		}
		p.notifications()
	}

	// The same HR event for every leaver on both instances at once, twice.
	for i, u := range users {
		body := hrEvent(fmt.Sprintf("0d1b2c3a-0000-4000-8000-%012d", i), u, Start)
		p.deliverBoth(app.FnOnOffboarding, fmt.Sprintf("hr-%d", i), body)
		p.deliverBoth(app.FnOnOffboarding, fmt.Sprintf("hr-%d", i), body)
	}
	// Deleted inside the propagation window: must be rescued later.
	p.advance(Start.Add(10 * time.Minute))
	admin("deleteUser", "rescued@contoso.test")
	p.advance(Start.Add(3 * time.Hour))
	admin("removeLicense", "unlicensed@contoso.test")
	admin("removeLicense", "held@contoso.test")
	admin("deleteUser", "held@contoso.test")
	p.advance(Start.Add(45 * 24 * time.Hour))

	mbs := a.Sim.Mailboxes()
	for _, u := range users {
		if mb := mbs[u]; mb.State == "purged" || mb.ItemsLost > 0 {
			t.Errorf("%s: mailbox %s, %d items lost", u, mb.State, mb.ItemsLost)
		}
	}
	rescues := map[string]int{}
	err = a.App.Store.ListCases(ctx, func(c ledger.CaseRecord) error {
		return a.App.Store.ListAudit(ctx, c.Key, func(r ledger.AuditRecord) error {
			if r.Action == "rescue" && r.Result == "ok" {
				rescues[strings.ToLower(c.UPN)]++
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := rescues["rescued@contoso.test"]; n != 1 {
		t.Errorf("%d rescues of rescued@, want 1", n)
	}
	for _, u := range users {
		// One hold per intent: the HR decision; a rescued mailbox is held
		// again once after its restore.
		want := 1 + rescues[u]
		if n := a.Sim.HoldRequests(u); n != want {
			t.Errorf("%s: %d hold requests reached Exchange, want %d", u, n, want)
		}
	}
	ids := map[string]int{}
	kinds := map[string]int{}
	for _, s := range []*localstack.Stack{a, b} {
		for _, al := range s.App.Recorder.Alerts() {
			ids[al.ID]++
			kinds[al.Kind+" "+strings.ToLower(al.UPN)]++
		}
	}
	for id, n := range ids {
		if n > 1 {
			t.Errorf("alert %s sent %d times across the two instances", id, n)
		}
	}
	if kinds["rescued rescued@contoso.test"] != 1 {
		t.Errorf("rescued alerts: %v", kinds)
	}
	t.Logf("%d events delivered to both instances; alerts %v; rescues %v", p.events, kinds, rescues)
}

// Package chaos generates randomized leaver lifecycles from a seed, plays
// them on the local stack with fault injection, checks holdfast's
// invariants against the simulator (the ground truth) and shrinks any
// violating scenario to a small reproduction file. docs/reliability.md
// defines the invariants.
package chaos

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/holdfast/holdfast/shared/testbed/scenario"
	"github.com/holdfast/holdfast/shared/testbed/sim"
)

// Start is every generated scenario's start on the virtual clock.
var Start = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

const (
	// horizon is how long a scenario runs: every 30-day clock started in
	// the first days has run out by then.
	horizon = 45 * 24 * time.Hour
	// reconcileEvery is the cadence of the generated Reconcile steps
	// (production: 6 h); well inside the default 72 h rescue margin.
	reconcileEvery = 48 * time.Hour
	// reconcileUntil: no reconcile steps after this (the last is at the
	// horizon); lost notifications only happen before.
	reconcileUntil = 20 * 24 * time.Hour
)

// GenOptions shape generated scenarios.
type GenOptions struct {
	// MaxUsers bounds the tenant size (default 12); a tenant has 1 to
	// MaxUsers users.
	MaxUsers int
	// Faults adds a random simulator fault configuration.
	Faults bool
	// AzuriteRestarts gives one scenario in ten one to three restarts of
	// its storage between steps (drawn last: the other scenarios of a seed
	// stay the same).
	AzuriteRestarts bool
	// Realistic plays three scenarios in four with the simulator's realism
	// profile (sim.Profile: late, duplicated, reordered notifications,
	// Exchange lagging behind the directory, holds shown late, throttling
	// that tightens under load); drawn after everything else, so the
	// scenarios of a seed are the same with and without it.
	Realistic bool
}

// Case is a generated scenario and what the generator knows about it, for
// the invariant checks.
type Case struct {
	Seed     uint64
	Scenario *scenario.Scenario
	Faults   *sim.Faults
	// Users is the generator's model of each user's story, by UPN.
	Users map[string]*UserModel
	// AzuriteRestarts lists the steps before which the scenario's Azurite
	// is restarted (an outage of the storage service, data kept).
	AzuriteRestarts []int
}

// UserModel is what the generator decided for one user.
type UserModel struct {
	UPN   string
	Story string
	// Retain: holdfast's policy says keep this mailbox at the end of the
	// story (retain decision, or no decision and the default retain).
	Retain bool
	// Savable is false when the tenant makes the mailbox unsavable without
	// a human (licence without Litigation Hold, auto-expanding archive) or
	// an admin destroyed it outside holdfast's reach (purge from the
	// recycle bin, hold removed from an inactive mailbox).
	Savable bool
	// Unsavable says why Savable is false.
	Unsavable string
	// HREventIDs are the distinct HR event ids sent for the user.
	HREventIDs []string
	// Learned is when holdfast could first know the mailbox is at risk:
	// the first risk action (licence removal, deletion, Exchange-side
	// removal) delivered, or the first reconcile after it when its
	// notifications were lost.
	Learned *time.Duration
	// Risks counts risk episodes (licence removals, deletions, removals):
	// each may need one rescue.
	Risks int
	// HoldIntents bounds the hold requests that may reach Exchange.
	HoldIntents int
}

type gen struct {
	rng   *rand.Rand
	steps []scenario.Step
	seed  uint64
	n     int
}

func (g *gen) id() string {
	g.n++
	return fmt.Sprintf("c%08x-%04x-4000-8000-%012x", uint32(g.seed), g.n, g.rng.Uint64()&0xffffffffffff)
}

func at(d time.Duration) string {
	d = d.Round(time.Minute)
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	h := d / time.Hour
	d -= h * time.Hour
	return fmt.Sprintf("%dd%dh%dm", days, h, d/time.Minute)
}

func (g *gen) add(t time.Duration, st scenario.Step) {
	st.At = at(t)
	g.steps = append(g.steps, st)
}

// randTime returns a time in [lo, hi).
func (g *gen) randTime(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(g.rng.Int64N(int64(hi-lo)))
}

// short returns minutes to days, skewed short: deletion minutes after a
// hold is the dangerous case.
func (g *gen) short() time.Duration {
	switch g.rng.IntN(4) {
	case 0:
		return time.Duration(1+g.rng.IntN(59)) * time.Minute
	case 1:
		return time.Duration(1+g.rng.IntN(23)) * time.Hour
	default:
		return time.Duration(1+g.rng.IntN(5*24)) * time.Hour
	}
}

// nextReconcile is the first generated reconcile step at or after t.
func nextReconcile(t time.Duration) time.Duration {
	r := (t + reconcileEvery - 1) / reconcileEvery * reconcileEvery
	if r > reconcileUntil {
		return horizon
	}
	return r
}

var stories = []string{"retain", "retain", "retain", "release", "cancelled", "rehire", "noHR", "noHR", "bystander", "purged", "removeHold", "removeMailbox"}

// Generate builds scenario number i of a run with seed seed. The same
// (seed, i) always gives the same scenario.
func Generate(seed uint64, i int, o GenOptions) *Case {
	if o.MaxUsers <= 0 {
		o.MaxUsers = 12
	}
	s := seed*1_000_003 + uint64(i)
	g := &gen{rng: rand.New(rand.NewPCG(s, 0x6368616f73)), seed: s}
	c := &Case{Seed: s, Users: map[string]*UserModel{}}
	sc := &scenario.Scenario{Name: fmt.Sprintf("chaos-%d-%d", seed, i), Start: Start}
	n := 1 + g.rng.IntN(o.MaxUsers)
	for u := 0; u < n; u++ {
		upn := fmt.Sprintf("u%03d@contoso.test", u)
		spec := sim.UserSpec{UPN: upn, Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 100 + g.rng.IntN(5000)}
		m := &UserModel{UPN: upn, Retain: true, Savable: true}
		switch x := g.rng.IntN(20); {
		case x == 0:
			spec.Licenses = []string{"EXCHANGESTANDARD"}
			m.Savable, m.Unsavable = false, "licence without Litigation Hold"
		case x == 1:
			spec.Archive, spec.AutoExpandingArchive = true, true
			m.Savable, m.Unsavable = false, "auto-expanding archive"
		case x < 5:
			spec.Licenses = []string{"SPE_E5"}
		case x < 7:
			spec.Archive = true
		}
		sc.Tenant.Users = append(sc.Tenant.Users, spec)
		m.Story = stories[g.rng.IntN(len(stories))]
		g.story(m)
		c.Users[upn] = m
	}
	for t := reconcileEvery; t <= reconcileUntil; t += reconcileEvery {
		g.add(t, scenario.Step{Reconcile: true})
	}
	g.add(horizon, scenario.Step{Reconcile: true})
	sort.SliceStable(g.steps, func(a, b int) bool { return mustOffset(g.steps[a].At) < mustOffset(g.steps[b].At) })
	sc.Steps = g.steps
	if o.Faults {
		c.Faults = g.faults()
	}
	c.Scenario = normalize(sc)
	if o.AzuriteRestarts && g.rng.IntN(10) == 0 {
		for range 1 + g.rng.IntN(3) {
			c.AzuriteRestarts = append(c.AzuriteRestarts, 1+g.rng.IntN(len(c.Scenario.Steps)-1))
		}
		sort.Ints(c.AzuriteRestarts)
	}
	if o.Realistic && g.rng.IntN(4) != 0 {
		r := sim.Profile()
		c.Scenario.Realism = &r
	}
	return c
}

func mustOffset(s string) time.Duration {
	d, err := scenario.ParseOffset(s)
	if err != nil {
		panic(err)
	}
	return d
}

// normalize round-trips sc through its file form so that offsets and step
// indexes are set as Parse sets them.
func normalize(sc *scenario.Scenario) *scenario.Scenario {
	b, err := json.Marshal(sc)
	if err != nil {
		panic(err)
	}
	out, err := scenario.Parse(b)
	if err != nil {
		panic(fmt.Sprintf("chaos: generated an invalid scenario: %v\n%s", err, b))
	}
	return out
}

func (g *gen) faults() *sim.Faults {
	f := &sim.Faults{Rules: map[string]sim.FaultRule{}}
	if g.rng.IntN(4) == 0 {
		return f // a quarter of the runs are fault-free
	}
	rule := sim.FaultRule{
		Throttle:    float64(g.rng.IntN(4)) / 100, // up to 3 %; each costs a 1 s Retry-After
		Unavailable: float64(g.rng.IntN(11)) / 100,
	}
	key := []string{"*", "graph", "exchange", "Set-Mailbox", "getUser", "Get-Mailbox"}[g.rng.IntN(6)]
	f.Rules[key] = rule
	if g.rng.IntN(8) == 0 {
		f.Rules["*"] = sim.FaultRule{Latency: "2ms", Unavailable: rule.Unavailable}
	}
	return f
}

// hr adds an HR event for m at t, possibly delivered several times and
// replayed later with the same id.
func (g *gen) hr(m *UserModel, t time.Duration, typ, retention string) {
	id := g.id()
	m.HREventIDs = append(m.HREventIDs, id)
	ev := &scenario.HREvent{Type: typ, UPN: m.UPN, ID: id, Deliveries: 1 + g.rng.IntN(3)}
	if typ != "offboarding" {
		ev.Ticket = fmt.Sprintf("HR-%d", 1000+g.rng.IntN(9000))
	}
	if typ == "offboarding" {
		ev.Retention = retention
		ev.LastWorkingDay = Start.Add(t + time.Duration(g.rng.IntN(5))*24*time.Hour).Format("2006-01-02")
	}
	g.add(t, scenario.Step{HR: ev})
	if g.rng.IntN(5) == 0 { // a late redelivery of the same message
		dup := *ev
		dup.Deliveries = 1
		g.add(t+g.short(), scenario.Step{HR: &dup})
	}
}

// admin adds an admin action; risk actions record when holdfast learns.
func (g *gen) admin(m *UserModel, t time.Duration, action string, risk bool) {
	a := &scenario.Admin{Action: action, UPN: m.UPN}
	switch g.rng.IntN(6) {
	case 0:
		a.DropEvents = true
	case 1:
		a.Reorder = true
	}
	if action == "removeMailbox" {
		a.DropEvents = true // Exchange-side removal announces nothing
	}
	g.add(t, scenario.Step{Admin: a})
	if !risk {
		return
	}
	m.Risks++
	learned := t
	if a.DropEvents {
		learned = nextReconcile(t)
	}
	if m.Learned == nil || learned < *m.Learned {
		m.Learned = &learned
	}
}

func (g *gen) story(m *UserModel) {
	t0 := g.randTime(0, 8*24*time.Hour)
	// Risk actions around the HR event: before it, minutes or days after.
	after := false // risk actions only after the base time
	risk := func(base time.Duration) time.Duration {
		if !after && g.rng.IntN(5) == 0 {
			return max(0, base-g.short())
		}
		return base + g.short()
	}
	leave := func(t time.Duration) {
		switch g.rng.IntN(3) {
		case 0:
			g.admin(m, risk(t), "removeLicense", true)
		case 1:
			g.admin(m, risk(t), "deleteUser", true)
		default:
			tl := risk(t)
			g.admin(m, tl, "removeLicense", true)
			g.admin(m, tl+g.short(), "deleteUser", true)
		}
	}
	switch m.Story {
	case "retain":
		g.hr(m, t0, "offboarding", "retain")
		m.HoldIntents++
		leave(t0)
	case "release":
		m.Retain = false
		g.hr(m, t0, "offboarding", "release")
		leave(t0)
	case "cancelled":
		g.hr(m, t0, "offboarding", "retain")
		m.HoldIntents++
		g.hr(m, t0+g.short(), "offboardingCancelled", "")
	case "rehire":
		g.hr(m, t0, "offboarding", "retain")
		m.HoldIntents++
		t1 := t0 + g.short()
		g.admin(m, t1, "removeLicense", true)
		t2 := t1 + g.short()
		g.hr(m, t2, "rehire", "")
		g.admin(m, t2+time.Duration(1+g.rng.IntN(30))*time.Minute, "assignLicense", false)
	case "noHR":
		m.HoldIntents++ // default retain: holdfast protects on its own
		leave(t0)
	case "bystander":
	case "purged":
		g.hr(m, t0, "offboarding", "retain")
		m.HoldIntents++
		td := t0 + g.short()
		g.admin(m, td, "deleteUser", true)
		g.admin(m, td+g.short(), "purgeUser", false)
		// Only a content restore can save it once the hold-less user is
		// hard-deleted; excluded from the purge invariant (see docs).
		m.Savable, m.Unsavable = false, "purged from the recycle bin by an admin"
	case "removeHold":
		g.hr(m, t0, "offboarding", "retain")
		m.HoldIntents++
		if g.rng.IntN(2) == 0 {
			// Hold removed while the mailbox is active: holdfast must
			// notice at its next look and put it back.
			th := t0 + time.Duration(2+g.rng.IntN(48))*time.Hour
			g.add(th, scenario.Step{Admin: &scenario.Admin{Action: "removeHold", UPN: m.UPN}})
			m.HoldIntents++
			after = true
			leave(th)
		} else {
			td := t0 + time.Duration(2+g.rng.IntN(48))*time.Hour
			g.admin(m, td, "deleteUser", true)
			g.add(td+g.short(), scenario.Step{Admin: &scenario.Admin{Action: "removeHold", UPN: m.UPN}})
			m.HoldIntents += 2
			m.Savable, m.Unsavable = false, "hold removed from the inactive mailbox by an admin"
		}
	case "removeMailbox":
		g.hr(m, t0, "offboarding", "retain")
		m.HoldIntents++
		g.admin(m, t0+g.short(), "removeMailbox", true)
	}
}

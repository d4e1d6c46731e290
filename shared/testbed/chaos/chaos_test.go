package chaos

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast/shared/testbed/scenario"
	"github.com/holdfast/holdfast/shared/testbed/scenario/runner"
	"github.com/holdfast/holdfast/shared/testbed/sim"
)

func TestGenerateIsDeterministic(t *testing.T) {
	for i := 0; i < 50; i++ {
		a, b := Generate(7, i, GenOptions{Faults: true}), Generate(7, i, GenOptions{Faults: true})
		if !reflect.DeepEqual(Repro(a, nil), Repro(b, nil)) {
			t.Fatalf("scenario %d differs between two generations", i)
		}
		if _, err := scenario.Parse(Repro(a, nil)); err != nil {
			t.Fatalf("scenario %d: repro does not parse: %v", i, err)
		}
	}
	if reflect.DeepEqual(Repro(Generate(7, 0, GenOptions{}), nil), Repro(Generate(8, 0, GenOptions{}), nil)) {
		t.Fatal("different seeds gave the same scenario")
	}
}

func TestStateMismatch(t *testing.T) {
	tests := []struct {
		caseState, mailbox string
		lost               int
		bad                bool
	}{
		{"inactive", "inactive", 0, false},
		{"inactive", "softDeleted", 0, true},
		{"protected", "inactive", 0, true},
		{"purged", "purged", 10, false},
		{"purged", "active", 0, true},
		{"atRisk", "purged", 10, true},
		{"released", "purged", 10, false},
		{"tracking", "active", 0, false},
	}
	for _, tt := range tests {
		got := stateMismatch(tt.caseState, sim.MailboxReport{State: tt.mailbox, ItemsLost: tt.lost}) != ""
		if got != tt.bad {
			t.Errorf("case %s / mailbox %s: mismatch=%v, want %v", tt.caseState, tt.mailbox, got, tt.bad)
		}
	}
}

func TestCountOutcomes(t *testing.T) {
	rows := []runner.OutcomeRow{
		{MessageID: "a1", Result: "applied", CaseKey: "k", State: "protecting"},
		{MessageID: "a1", Result: "duplicate", CaseKey: "k"},
		{MessageID: "b2", Result: "ignored"},
		{MessageID: "envelope-1", Result: "rejected", Reason: "bad envelope"},
		{MessageID: "a1", Result: "applied"},
	}
	o := countOutcomes(rows)
	if o.Total != 5 || o.AppliedBy["a1"] != 2 || o.AppliedBy["b2"] != 0 || o.ByResult["rejected"] != 1 || o.ByResult["duplicate"] != 1 {
		t.Fatalf("outcomes %+v", o)
	}
}

// TestChaosShort plays 10 generated scenarios with faults on the real
// stack and requires zero violations.
func TestChaosShort(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out strings.Builder
	var repros []string
	sum, err := Run(ctx, Options{Scenarios: 10, Seed: 20260302, Gen: GenOptions{MaxUsers: 5, Faults: true}, Workers: 2,
		Out: &out, Repro: func(c *Case, vs []Violation) { repros = append(repros, string(Repro(c, vs))) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", *sum)
	if sum.Errors > 0 || sum.Scenarios != 10 {
		t.Fatalf("%d scenarios played, %d errors:\n%s", sum.Scenarios, sum.Errors, out.String())
	}
	if sum.Violations > 0 {
		t.Fatalf("%d violations:\n%s\n%s", sum.Violations, out.String(), strings.Join(repros, "\n"))
	}
	if sum.Deliveries == 0 {
		t.Fatal("no events delivered")
	}
	fmt.Fprint(&out, "")
}

// TestPurgedTooEarly: invariant 5 flags a write-off before the
// simulator lost the mailbox, or of a mailbox it still holds.
func TestPurgedTooEarly(t *testing.T) {
	t1 := Start.Add(time.Hour)
	lost := Start.Add(2 * time.Hour)
	mbs := map[string]sim.MailboxReport{
		"a@contoso.test": {State: "purged", LostAt: &lost},
		"b@contoso.test": {State: "softDeleted"},
	}
	tests := []struct {
		upn  string
		at   time.Time
		want int
	}{
		{"a@contoso.test", lost, 0},
		{"a@contoso.test", lost.Add(time.Hour), 0},
		{"a@contoso.test", t1, 1},
		{"b@contoso.test", t1, 1},
		{"c@contoso.test", t1, 1},
	}
	for _, tt := range tests {
		got := purgedTooEarly([]runner.ActionRow{{At: tt.at, UPN: tt.upn, Action: "observe", Result: "lost"}, {At: tt.at, UPN: tt.upn, Action: "rescue", Result: "ok"}}, mbs)
		if len(got) != tt.want {
			t.Errorf("%s declared purged at %s: %v, want %d violation(s)", tt.upn, tt.at, got, tt.want)
		}
	}
}

// TestChaosRealisticShort plays 10 generated scenarios with faults and
// the realism profile, crash-free, and requires zero violations.
func TestChaosRealisticShort(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out strings.Builder
	var repros []string
	sum, err := Run(ctx, Options{Scenarios: 10, Seed: 20261130, Gen: GenOptions{MaxUsers: 5, Faults: true, Realistic: true}, Workers: 2,
		Out: &out, Repro: func(c *Case, vs []Violation) { repros = append(repros, string(Repro(c, vs))) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", *sum)
	if sum.Errors > 0 || sum.Scenarios != 10 {
		t.Fatalf("%d scenarios played, %d errors:\n%s", sum.Scenarios, sum.Errors, out.String())
	}
	if sum.Violations > 0 {
		t.Fatalf("%d violations:\n%s\n%s", sum.Violations, out.String(), strings.Join(repros, "\n"))
	}
	realistic := 0
	for i := range 10 {
		if Generate(20261130, i, GenOptions{MaxUsers: 5, Faults: true, Realistic: true}).Scenario.Realism != nil {
			realistic++
		}
	}
	if realistic == 0 {
		t.Fatal("no scenario played with the realism profile")
	}
}

// TestAzuriteRestartMidRun: a scenario whose storage restarts between
// steps (an outage; the data is kept) still keeps every invariant.
func TestAzuriteRestartMidRun(t *testing.T) {
	o := GenOptions{MaxUsers: 5, Faults: true, AzuriteRestarts: true}
	var c *Case
	for i := 0; c == nil; i++ {
		if g := Generate(20261121, i, o); len(g.AzuriteRestarts) >= 2 && len(g.Scenario.Tenant.Users) >= 3 {
			c = g
		}
	}
	res, err := Play(context.Background(), c, "", "restart")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(res.Timeline, "Azurite restarted"); n != len(c.AzuriteRestarts) {
		t.Fatalf("%d restarts in the timeline, want %d", n, len(c.AzuriteRestarts))
	}
	for _, v := range res.Violations {
		t.Errorf("%s: %s", res.Name, v)
	}
	t.Logf("%s: %d users, %d deliveries, %d faults, %d Azurite restarts", res.Name, res.Users, res.Deliveries, res.Faults, res.Restarts)
}

package matrix

import (
	"strings"
	"testing"
)

func rule(name string) Rule {
	for _, r := range Rules {
		if r.Name == name {
			return r
		}
	}
	panic(name)
}

// TestExpect pins the compliance expectations of the orders the issue
// names, so a change to the oracle is a visible change.
func TestExpect(t *testing.T) {
	for _, tc := range []struct {
		rule, dec string
		pos       int
		target    string
		want      string
	}{
		{"remove-mailbox", Retain, 1, TargetNone, Kept},                  // Remove-Mailbox a day earlier
		{"deleted-then-purged", Retain, 2, TargetEvent, Kept},            // purged, archiveTarget in the event
		{"deleted-then-purged", Retain, 2, TargetNone, Warned},           // purged, no target anywhere
		{"licence-deleted-purged", Retain, 3, TargetEvent, Lost},         // gone at the purge, before HR spoke
		{"licence-deleted-purged", Retain, 2, TargetNone, Kept},          // HR before the purge: rescued first
		{"licence-deleted-purged", Cancelled, 0, TargetSetting, Lost},    // default decision, purge beats the margin
		{"remove-mailbox-then-purged", Rehire, 0, TargetSetting, Kept},   // default decision copies at the purge
		{"remove-mailbox-then-purged", Cancelled, 0, TargetNone, Warned}, // ... and warns without a target
		{"deleted-then-restored", Release, 1, TargetNone, Released},      // released: the tenant's own fate
		{"licence-deleted-restored", Rehire, 3, TargetNone, Kept},        // rehired after the restore: re-licensed
		{"licence-removed", Retain, 0, TargetNone, Kept},                 // hold in effect before anything
	} {
		if got := Expect(rule(tc.rule), tc.dec, tc.pos, tc.target); got != tc.want {
			t.Errorf("%s/%s/%d/%s: %s, want %s", tc.rule, tc.dec, tc.pos, tc.target, got, tc.want)
		}
	}
	if got := finalMailbox(rule("deleted-then-restored")); got != "active" {
		t.Errorf("deleted-then-restored ends %s, want active", got)
	}
	if got := finalMailbox(rule("licence-deleted-restored")); got != "purged" {
		t.Errorf("licence-deleted-restored ends %s, want purged (the grace runs on)", got)
	}
}

func TestGenerate(t *testing.T) {
	cases, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	positions := 0
	for _, r := range Rules {
		positions += len(r.Actions) + 1
	}
	// retain: 3 target modes; release, cancelled, rehire: 2.
	if want := positions * (3 + 2 + 2 + 2); len(cases) != want {
		t.Fatalf("%d scenarios, want %d", len(cases), want)
	}
	names := map[string]bool{}
	for _, c := range cases {
		if names[c.Name] {
			t.Fatalf("duplicate scenario %s", c.Name)
		}
		names[c.Name] = true
		last := c.Scenario.Steps[len(c.Scenario.Steps)-1]
		if last.Expect == nil || last.Offset() != checkAt {
			t.Fatalf("%s: the last step must check the outcome at day 40", c.Name)
		}
		hr := 0
		for _, st := range c.Scenario.Steps {
			if st.HR != nil {
				hr++
				if c.Target == TargetEvent && st.HR.Type == "offboarding" && st.HR.ArchiveTarget == "" {
					t.Fatalf("%s: HR event without its archiveTarget", c.Name)
				}
			}
		}
		if want := map[bool]int{true: 2, false: 1}[c.Decision == Cancelled || c.Decision == Rehire]; hr != want {
			t.Fatalf("%s: %d HR events, want %d", c.Name, hr, want)
		}
		if c.Target == TargetSetting && c.Scenario.Settings["HOLDFAST_ARCHIVE_TARGET"] == "" || !strings.Contains(c.Name, c.Target) {
			t.Fatalf("%s: target mode not applied", c.Name)
		}
	}
}

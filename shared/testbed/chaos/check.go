package chaos

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/holdfast/holdfast/shared/app"
	"github.com/holdfast/holdfast/shared/retention"
	"github.com/holdfast/holdfast/shared/testbed/localstack"
	"github.com/holdfast/holdfast/shared/testbed/scenario"
	"github.com/holdfast/holdfast/shared/testbed/scenario/runner"
	"github.com/holdfast/holdfast/shared/testbed/sim"
)

// Violation is one broken invariant.
type Violation struct {
	Invariant int    `json:"invariant"` // 1–5, as in docs/reliability.md
	UPN       string `json:"upn,omitempty"`
	Detail    string `json:"detail"`
}

func (v Violation) String() string {
	return fmt.Sprintf("invariant %d %s: %s", v.Invariant, v.UPN, v.Detail)
}

// DefaultMargin is HOLDFAST_RESCUE_MARGIN's default; generated scenarios
// do not override it.
const DefaultMargin = 72 * time.Hour

// SweepInterval is the ExpirySweep schedule the runner plays.
const SweepInterval = 5 * time.Minute

// Outcomes counts the handler's answers per message id.
type Outcomes struct {
	Total     int
	ByResult  map[string]int
	AppliedBy map[string]int // message id -> applied outcomes
}

// countOutcomes tallies the outcomes the runner read from the handler's
// return values.
func countOutcomes(rows []runner.OutcomeRow) Outcomes {
	o := Outcomes{ByResult: map[string]int{}, AppliedBy: map[string]int{}}
	for _, r := range rows {
		o.Total++
		o.ByResult[r.Result]++
		if r.Result == app.ResultApplied {
			o.AppliedBy[r.MessageID]++
		}
	}
	return o
}

// Check evaluates the five invariants after a run.
func Check(ctx context.Context, c *Case, st *localstack.Stack, rep *runner.Report) []Violation {
	var vs []Violation
	add := func(inv int, upn, format string, args ...any) {
		vs = append(vs, Violation{Invariant: inv, UPN: upn, Detail: fmt.Sprintf(format, args...)})
	}
	mbs := st.Sim.Mailboxes()
	start := c.Scenario.Start

	// (1) No retained, savable mailbox lost while holdfast had time.
	for upn, m := range c.Users {
		mb, ok := mbs[upn]
		if !ok || !m.Retain || !m.Savable || m.Learned == nil || mb.ItemsLost == 0 {
			continue
		}
		learned := start.Add(*m.Learned)
		if mb.LostAt == nil {
			add(1, upn, "%d items lost (%s), loss time unknown; holdfast knew at %s", mb.ItemsLost, mb.LostReason, learned.Format(time.RFC3339))
			continue
		}
		tolerance := DefaultMargin + SweepInterval
		if n := c.Scenario.Realism; n != nil && n.Notifications != nil {
			// A notification may arrive up to its maximum delay late.
			if d, err := scenario.ParseOffset(n.Notifications.Max); err == nil {
				tolerance += d
			}
		}
		if window := mb.LostAt.Sub(learned); window >= tolerance {
			add(1, upn, "story %s: %d items lost at %s (%s); holdfast could know at %s, %s before",
				m.Story, mb.ItemsLost, mb.LostAt.Format(time.RFC3339), mb.LostReason, learned.Format(time.RFC3339), window)
		}
	}

	// (2) Every delivery answered: applied at most once per message id,
	// nothing dead-lettered.
	out := countOutcomes(rep.Outcomes)
	if rep.Stats.DeadLettered > 0 {
		add(2, "", "%d message(s) dead-lettered", rep.Stats.DeadLettered)
	}
	if out.Total != rep.Stats.Events {
		add(2, "", "%d deliveries but %d handler outcomes", rep.Stats.Events, out.Total)
	}
	for id, n := range out.AppliedBy {
		if n > 1 {
			add(2, "", "message %s applied %d times", id, n)
		}
	}

	// (3) At most one side effect per intent.
	rescues := map[string]int{}
	for _, a := range rep.Actions {
		if a.Action == "rescue" && a.Result == "ok" {
			rescues[strings.ToLower(a.UPN)]++
		}
	}
	for upn, m := range c.Users {
		allowed := max(1, m.HoldIntents) + rescues[strings.ToLower(upn)]
		if n := st.Sim.HoldRequests(upn); n > allowed {
			add(3, upn, "%d hold requests reached Exchange, at most %d intents (%d rescues)", n, allowed, rescues[strings.ToLower(upn)])
		}
		if r := rescues[strings.ToLower(upn)]; r > max(1, m.Risks) {
			add(3, upn, "%d rescues for %d risk episodes", r, m.Risks)
		}
	}
	vs = append(vs, alertDuplicates(rep.Alerts)...)

	// (4) Every case agrees with the simulator's truth.
	end := st.Clock.Now()
	for upn, u := range rep.Users {
		if u.CaseState == "" {
			continue
		}
		mb := mbs[upn]
		if u.CaseState == string(retention.StateUnconfirmed) && mb.State == "purged" && mb.LostAt != nil &&
			end.Sub(*mb.LostAt) <= retention.DefaultExchangeLag+time.Hour {
			continue // purged too recently for consistent readings: still gathering them
		}
		if msg := stateMismatch(u.CaseState, mb); msg != "" {
			add(4, upn, "%s", msg)
		}
	}
	// (5) No case was declared purged while the simulator still held the
	// mailbox.
	vs = append(vs, purgedTooEarly(rep.Actions, mbs)...)
	sort.SliceStable(vs, func(i, j int) bool {
		if vs[i].Invariant != vs[j].Invariant {
			return vs[i].Invariant < vs[j].Invariant
		}
		return vs[i].UPN < vs[j].UPN
	})
	return vs
}

// alertDuplicates: an alert id (case + kind + threshold) is sent once.
func alertDuplicates(alerts []runner.AlertRow) []Violation {
	seen := map[string]int{}
	for _, a := range alerts {
		seen[a.ID]++
	}
	var vs []Violation
	for id, n := range seen {
		if n > 1 {
			vs = append(vs, Violation{Invariant: 3, Detail: fmt.Sprintf("alert %s sent %d times", id, n)})
		}
	}
	return vs
}

// stateMismatch compares a case's final state with the mailbox's truth.
func stateMismatch(caseState string, mb sim.MailboxReport) string {
	switch {
	case caseState == "inactive" && mb.State != "inactive":
		return fmt.Sprintf("case inactive but mailbox %s", mb.State)
	case mb.State == "inactive" && caseState != "inactive":
		return fmt.Sprintf("mailbox inactive but case %s", caseState)
	case caseState == "purged" && mb.State != "purged" && mb.ItemsLost == 0:
		return fmt.Sprintf("case purged but mailbox %s", mb.State)
	case mb.State == "purged" && mb.ItemsLost > 0 && caseState != "purged" && caseState != "released" && caseState != "blocked":
		return fmt.Sprintf("mailbox purged (%d items lost) but case %s", mb.ItemsLost, caseState)
	}
	return ""
}

// purgedTooEarly: every write-off ("observe"/"lost" in the audit) came
// at or after the simulator lost the mailbox.
func purgedTooEarly(actions []runner.ActionRow, mbs map[string]sim.MailboxReport) []Violation {
	var vs []Violation
	for _, a := range actions {
		if a.Action != "observe" || a.Result != "lost" {
			continue
		}
		mb, ok := mbs[a.UPN]
		if !ok {
			mb, ok = mbs[strings.ToLower(a.UPN)]
		}
		switch {
		case !ok:
			vs = append(vs, Violation{Invariant: 5, UPN: a.UPN, Detail: fmt.Sprintf("declared purged at %s, but the simulator has no such mailbox", a.At.Format(time.RFC3339))})
		case mb.LostAt == nil || mb.LostAt.After(a.At):
			vs = append(vs, Violation{Invariant: 5, UPN: a.UPN, Detail: fmt.Sprintf("declared purged at %s while the simulator held the mailbox (%s)", a.At.Format(time.RFC3339), mb.State)})
		}
	}
	return vs
}

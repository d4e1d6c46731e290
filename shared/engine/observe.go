package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/holdfast/holdfast/shared/alert"
	"github.com/holdfast/holdfast/shared/events"
	"github.com/holdfast/holdfast/shared/retention"
	"github.com/holdfast/holdfast/shared/tenant"
)

// Observe-only mode (package observe) answers every tenant write with a
// *tenant.PlannedWrite. The engine records it on the case as a planned
// action, once, instead of failing or believing the write happened; the
// case keeps its state, deadlines and wake-ups, and a pending hold or
// rescue is looked at again every observeRecheck, so that after a switch
// to acting mode the next sweep performs what is due.

// Steps a planned action belongs to.
const (
	StepHold    = "hold"    // Litigation Hold for a retained leaver
	StepRescue  = "rescue"  // restore user / undo soft delete / licence / restore request
	StepRehire  = "rehire"  // a rehire event's restore or recovery
	StepAdmin   = "admin"   // an admin operation (restore --to, recover)
	StepUnknown = "unknown" // any other write
)

// Planned action statuses.
const (
	PlannedPending = "pending" // not done; performed once holdfast acts
	PlannedDone    = "done"    // the need was met (by holdfast in acting mode, or by someone)
	PlannedMoot    = "moot"    // the need went away without it (released, deleted first, purged, cancelled)
)

// observeRecheck is how often a case with a pending hold or rescue is
// looked at again: often enough that switching to acting mode performs it
// well inside the rescue margin, rarely enough not to spin.
const observeRecheck = time.Hour

// maxPlanned bounds the planned actions a case keeps (oldest closed first).
const maxPlanned = 16

// PlannedAction is a tenant write holdfast decided on but did not perform
// because it runs in observe-only mode. It is kept in the case data
// ("planned") for `holdfast case`, `holdfast cases` and the dashboard, and
// audited as "wouldDo".
type PlannedAction struct {
	Step      string     `json:"step"`
	Op        string     `json:"op"`
	Target    string     `json:"target,omitempty"`
	Detail    string     `json:"detail,omitempty"`
	PlannedAt time.Time  `json:"plannedAt"`
	LastAt    time.Time  `json:"lastAt"`
	Status    string     `json:"status"`
	ClosedAt  *time.Time `json:"closedAt,omitempty"`
	Note      string     `json:"note,omitempty"`
}

// PlannedActions decodes the planned actions from a case's stored data
// (ledger.CaseRecord.Data).
func PlannedActions(data []byte) ([]PlannedAction, error) {
	var r struct {
		Planned []PlannedAction `json:"planned"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("decode case data: %w", err)
	}
	return r.Planned, nil
}

func (r *record) pending(step string) bool {
	for _, p := range r.Planned {
		if p.Status == PlannedPending && (step == "" || p.Step == step) {
			return true
		}
	}
	return false
}

// needsRecheck reports whether the case has a pending action that a later
// pass performs by itself (a hold or a rescue).
func (r *record) needsRecheck() bool {
	return !r.Case.State.Terminal() && (r.pending(StepHold) || r.pending(StepRescue))
}

// observed records err as a planned action of step when it is an
// observe-only write, and reports whether it was one (planned) and whether
// that action was pending already (repeat). A repeat only moves LastAt: no
// audit row, no alert.
func (e *Engine) observed(r *record, t *tx, step string, err error) (planned, repeat bool) {
	var pw *tenant.PlannedWrite
	if err == nil || !errors.As(err, &pw) {
		return false, false
	}
	for i := range r.Planned {
		p := &r.Planned[i]
		if p.Status == PlannedPending && p.Step == step && p.Op == pw.Op && p.Target == pw.Target {
			p.LastAt, p.Detail = t.now, pw.Detail
			return true, true
		}
	}
	r.Planned = append(r.Planned, PlannedAction{Step: step, Op: pw.Op, Target: pw.Target, Detail: pw.Detail,
		PlannedAt: t.now, LastAt: t.now, Status: PlannedPending})
	if len(r.Planned) > maxPlanned {
		for i, p := range r.Planned {
			if p.Status != PlannedPending {
				r.Planned = append(r.Planned[:i], r.Planned[i+1:]...)
				break
			}
		}
	}
	t.log("wouldDo", "observe", step+": "+pw.Error())
	c := &r.Case
	if step != StepHold {
		// Acting mode would alert on the rescue or recovery; observe mode
		// says what it would do, once per planned action.
		action := "holdfast would " + pw.Op
		if pw.Target != "" {
			action += " on " + pw.Target
		}
		remedy := "review the planned action (holdfast case " + c.Key + "); switch HOLDFAST_ACTIONS to act to let holdfast do it"
		if c.Deadline != nil {
			remedy += ", or act by hand, before " + c.Deadline.Format(time.RFC3339)
		}
		e.alert(r, alert.Alert{ID: fmt.Sprintf("%s:planned:%s:%d", c.Key, step, t.now.Unix()), Kind: "planned", Severity: "warning",
			Action: action, Remedy: remedy, At: t.now, Details: map[string]string{"step": step}})
	}
	return true, false
}

// snapshot is a case as it was before a sweep's actions.
type snapshot struct {
	c      retention.Case
	audit  int
	outbox int
}

func (r *record) snapshot(t *tx) snapshot {
	return snapshot{c: r.Case.Clone(), audit: len(t.audit), outbox: len(r.Outbox)}
}

// rollback undoes what a pass did to the case before it reached a write
// observe-only mode had planned already: the steps leading to it (a
// cleared and re-derived clock, an attempt counter) are the same every
// hour and would otherwise fill the audit trail.
func (r *record) rollback(s snapshot, t *tx) {
	r.Case = s.c
	t.audit = t.audit[:s.audit]
	r.Outbox = r.Outbox[:s.outbox]
}

// reviewPlanned closes pending planned actions whose need was met or went
// away, judged from the case's facts.
func (e *Engine) reviewPlanned(r *record, t *tx) {
	c := &r.Case
	for i := range r.Planned {
		p := &r.Planned[i]
		if p.Status != PlannedPending {
			continue
		}
		status, note := "", ""
		switch p.Step {
		case StepHold:
			switch {
			case c.HoldEnabled:
				status, note = PlannedDone, "Litigation Hold is on the mailbox"
			case !c.Retained() || c.State == retention.StateReleased:
				status, note = PlannedMoot, "policy releases the mailbox"
			case c.DeletedAt != nil || c.MailboxPurgedAt != nil || c.MailboxInactive:
				status, note = PlannedMoot, "the user was deleted before the hold was placed: the rescue takes over"
			case c.State == retention.StateBlocked || c.State.Terminal():
				status, note = PlannedMoot, "case is "+string(c.State)+": "+c.Reason
			case !c.Licensed && c.LicenceRemovedAt != nil:
				status, note = PlannedMoot, "the licence was removed before the hold was placed: the rescue takes over"
			}
		case StepRescue:
			switch {
			case c.RescuedAt != nil && !c.RescuedAt.Before(p.PlannedAt), c.State == retention.StateRestored, restoreSince(c, p.PlannedAt):
				status, note = PlannedDone, "rescued ("+string(c.State)+")"
			case !retention.NeedsRescue(c):
				status, note = PlannedMoot, "no rescue needed any more: "+string(c.State)+": "+c.Reason
			}
		default:
			switch {
			case c.RecoveredAt != nil && !c.RecoveredAt.Before(p.PlannedAt), c.State == retention.StateRestored, restoreSince(c, p.PlannedAt),
				c.DeletedAt == nil && c.MailboxPurgedAt == nil && !c.MailboxInactive:
				status, note = PlannedDone, "the account is back"
			case c.MailboxPurgedAt != nil || c.State.Terminal():
				status, note = PlannedMoot, "case is "+string(c.State)
			}
		}
		if status == "" {
			continue
		}
		now := t.now
		p.Status, p.ClosedAt, p.Note = status, &now, note
		t.log("planned", status, p.Step+": "+p.Op+": "+note)
	}
}

// eventStep names the step an event's writes belong to.
func eventStep(k events.Kind) string {
	switch k {
	case events.KindOffboarding:
		return StepHold
	case events.KindRehire:
		return StepRehire
	}
	return StepUnknown
}

// restoreSince reports whether a restore request was submitted at or after t.
func restoreSince(c *retention.Case, t time.Time) bool {
	for _, j := range c.Restores {
		if !j.StartedAt.Before(t) {
			return true
		}
	}
	return false
}

// stepOf names the step an engine action's writes belong to.
func stepOf(k retention.ActionKind) string {
	switch k {
	case retention.ActConfirmHold:
		return StepHold
	case retention.ActRescue, retention.ActMonitorRestore:
		return StepRescue
	}
	return StepUnknown
}

package retention

import (
	"strconv"
	"time"
)

// ActionKind names something the engine must do for a case.
type ActionKind string

const (
	// ActConfirmHold: the propagation window has passed (or a read found
	// the hold gone); re-read the mailbox and, if the hold is still on,
	// the case is protected, else place it again.
	ActConfirmHold ActionKind = "confirmHold"
	// ActWarn: send the warning for Threshold.
	ActWarn ActionKind = "warn"
	// ActRescue: start (or retry) the rescue.
	ActRescue ActionKind = "rescue"
	// ActCheckDeadline: the deadline passed; learn whether the mailbox
	// survived.
	ActCheckDeadline ActionKind = "checkDeadline"
	// ActMonitorRestore: read the statistics of the running restore
	// requests, retry failures, alert on stalls.
	ActMonitorRestore ActionKind = "monitorRestore"
	// ActFlushAlerts: alerts whose delivery failed are waiting.
	ActFlushAlerts ActionKind = "flushAlerts"
	// ActRecheck: the last reading found the mailbox out of place (see
	// ObserveOutOfPlace); read every scope again.
	ActRecheck ActionKind = "recheck"
)

// Action is one planned step.
type Action struct {
	Kind      ActionKind
	Threshold time.Duration // for ActWarn
	AlertID   string        // for ActWarn: the id to record once sent
	Covers    []string      // for ActWarn: earlier thresholds this warning supersedes
}

// Plan is what is due now, and when the case next needs attention.
type Plan struct {
	Actions []Action
	// Wake lists future instants at which something becomes due. The
	// engine turns them into timers; a timer that fires when nothing is
	// due is harmless because the plan is recomputed from the case.
	Wake []time.Time
}

// RetryInterval is how soon a failed rescue or alert is tried again.
const RetryInterval = 15 * time.Minute

// HoldResendDelay is how soon a hold request that failed after its
// decision was committed is sent again (FactHoldSendFailed): past the
// client's own retries, a short outage or a throttled minute.
const HoldResendDelay = 5 * time.Minute

// WarnID is the id of the warning for threshold t on the case's current
// deadline: a moved deadline gets fresh warnings.
func WarnID(c *Case, t time.Duration) string {
	dl := int64(0)
	if c.Deadline != nil {
		dl = c.Deadline.Unix()
	}
	return c.Key + ":warn:" + ThresholdLabel(t) + ":" + strconv.FormatInt(dl, 10)
}

// RescueAt is when the rescue starts: the deadline minus the margin.
func RescueAt(c *Case, p Policy) (time.Time, bool) {
	if c.Deadline == nil {
		return time.Time{}, false
	}
	if c.UserPurgedAt != nil {
		// Nothing but a content copy can save it, and waiting only
		// shortens the time left for the copy and its retries.
		return *c.UserPurgedAt, true
	}
	if c.RescueNowFor != nil && c.RescueNowFor.Equal(*c.Deadline) {
		return c.Deadline.Add(-Window), true
	}
	return c.Deadline.Add(-p.RescueMargin), true
}

// NeedsRescue reports whether policy says keep and a clock runs on a
// mailbox that nothing else preserves.
func NeedsRescue(c *Case) bool {
	if !c.Retained() || c.Deadline == nil || c.MailboxPurgedAt != nil || c.MailboxInactive || c.RestoredAt != nil ||
		c.DeadlineKind == ClockRecoveredLicence { // licensing a new account needs a human (usage location, seat)
		return false
	}
	switch c.State {
	case StateBlocked, StatePurged, StateCancelled, StateRestored:
		return false
	}
	return true
}

// PlanCase computes what is due for c at now.
func PlanCase(c *Case, p Policy, now time.Time, outboxLen int) Plan {
	var pl Plan
	if c.State.Terminal() {
		return pl
	}
	if outboxLen > 0 {
		pl.Actions = append(pl.Actions, Action{Kind: ActFlushAlerts})
	}
	switch {
	case c.State == StateProtecting && c.HoldEffectiveAt != nil:
		// A request lost after its commit is sent again sooner: the read
		// that confirms a hold also places a missing one.
		due := *c.HoldEffectiveAt
		if c.HoldResendAt != nil && c.HoldResendAt.Before(due) {
			due = *c.HoldResendAt
		}
		if !now.Before(due) {
			pl.Actions = append(pl.Actions, Action{Kind: ActConfirmHold})
		} else {
			pl.Wake = append(pl.Wake, due)
		}
	case c.State == StateProtecting && !c.HoldEnabled:
		// The hold was found gone (settle): read again and place it.
		pl.Actions = append(pl.Actions, Action{Kind: ActConfirmHold})
	}
	if c.State == StateRescuing && len(c.Restores) > 0 && !RestoresDone(c) && c.MailboxPurgedAt == nil {
		if at, ok := NextRestoreCheck(c); ok {
			if !now.Before(at) {
				pl.Actions = append(pl.Actions, Action{Kind: ActMonitorRestore})
			} else {
				pl.Wake = append(pl.Wake, at)
			}
		}
	}
	if c.UnconfirmedSince != nil && c.RecheckAt != nil && c.MailboxPurgedAt == nil {
		if !now.Before(*c.RecheckAt) {
			pl.Actions = append(pl.Actions, Action{Kind: ActRecheck})
		} else {
			pl.Wake = append(pl.Wake, *c.RecheckAt)
		}
	}
	if c.Deadline != nil && c.MailboxPurgedAt == nil && !c.MailboxInactive {
		dl := *c.Deadline
		if !now.Before(dl) {
			pl.Actions = append(pl.Actions, Action{Kind: ActCheckDeadline})
		} else {
			pl.Wake = append(pl.Wake, dl)
			// Warnings: send only the most urgent due threshold; it covers
			// the earlier ones so a late start does not spam.
			var due []time.Duration
			for _, t := range p.WarnThresholds {
				at := dl.Add(-t)
				if !now.Before(at) {
					due = append(due, t)
				} else {
					pl.Wake = append(pl.Wake, at)
				}
			}
			if len(due) > 0 && (c.Retained() || c.Retention == Release) {
				urgent := due[0]
				for _, t := range due {
					if t < urgent {
						urgent = t
					}
				}
				id := WarnID(c, urgent)
				if !c.AlertSent(id) {
					var covers []string
					for _, t := range due {
						if t != urgent {
							covers = append(covers, WarnID(c, t))
						}
					}
					pl.Actions = append(pl.Actions, Action{Kind: ActWarn, Threshold: urgent, AlertID: id, Covers: covers})
				}
			}
			if NeedsRescue(c) && c.State != StateRescuing {
				at, _ := RescueAt(c, p)
				if !now.Before(at) {
					pl.Actions = append(pl.Actions, Action{Kind: ActRescue})
				} else {
					pl.Wake = append(pl.Wake, at)
				}
			}
		}
	}
	pl.Wake = SortTimes(pl.Wake)
	return pl
}

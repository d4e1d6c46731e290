// Package alert is the alert record holdfast raises, keeps in a case's
// outbox until every channel has it, and sends: vocabulary shared by the
// engine, the channels (package notify, which renders and delivers) and
// the dashboard, so the stored shape is not an adapter's. Standard library
// only.
package alert

import "time"

// Kinds the engine raises. Kind is an open set: channels render an
// unknown kind with a generic title.
const (
	KindWarning       = "warning"       // a purge deadline is approaching (one per threshold)
	KindBlocker       = "blocker"       // holdfast cannot protect the mailbox by itself
	KindRescued       = "rescued"       // a rescue succeeded
	KindRescueFailed  = "rescueFailed"  // a rescue failed; a human is needed
	KindPurged        = "purged"        // the mailbox is gone
	KindRejectedEvent = "rejectedEvent" // an event was refused and kept for an admin
	KindCaseFailing   = "caseFailing"   // a case keeps failing in the sweep
	// KindNotificationGap: Reconcile opened a case no event announced
	// (the Graph notification pipe lost it, or holdfast was just installed).
	KindNotificationGap = "notificationGap"
	// KindRetryBudgetSpent: a message failed transiently for the whole
	// retry budget and goes to the dead-letter queue.
	KindRetryBudgetSpent = "retryBudgetSpent"
)

// Severities, in increasing order of urgency.
const (
	SeverityInfo     = "info"
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Alert is one thing an administrator should know about.
type Alert struct {
	// ID is deterministic (case key + kind + threshold, or similar), so a
	// repeat of the same alert is recognisable downstream.
	ID       string `json:"id"`
	Kind     string `json:"kind"`
	Severity string `json:"severity"`
	CaseKey  string `json:"caseKey,omitempty"`
	UPN      string `json:"upn,omitempty"`
	// State is the case state in words.
	State string `json:"state,omitempty"`
	// Deadline is the purge deadline; zero if none.
	Deadline time.Time `json:"deadline,omitzero"`
	// Action is what holdfast will do, or did.
	Action string `json:"action,omitempty"`
	// Remedy is what an administrator should do, when a human is needed.
	Remedy  string            `json:"remedy,omitempty"`
	At      time.Time         `json:"at"`
	Details map[string]string `json:"details,omitempty"`
}

// Package notify delivers holdfast's alerts to administrators: a Teams
// Adaptive Card, an e-mail through Graph sendMail, and a message on the
// Service Bus alerts topic. The Dispatcher sends each alert to every
// channel, retries the ones that fail, and reports what still failed so the
// caller keeps the alert pending instead of losing it.
//
// Alerts carry a deterministic id. The engine records each delivered id on
// its case, so a warning is sent once per threshold; topic subscribers (and
// Service Bus duplicate detection) use the same id to drop repeats.
package notify

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// Alert kinds the engine raises. Kind is an open set: channels render an
// unknown kind with a generic title.
const (
	KindWarning       = "warning"       // a purge deadline is approaching (one per threshold)
	KindBlocker       = "blocker"       // holdfast cannot protect the mailbox by itself
	KindRescued       = "rescued"       // a rescue succeeded
	KindRescueFailed  = "rescueFailed"  // a rescue failed; a human is needed
	KindPurged        = "purged"        // the mailbox is gone
	KindRejectedEvent = "rejectedEvent" // an event was refused and kept for an admin
	KindCaseFailing   = "caseFailing"   // a case keeps failing in the sweep
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

// Channel delivers alerts somewhere. Send must be safe for concurrent use.
// An error wrapped with Permanent is not retried by the Dispatcher within
// one delivery round.
type Channel interface {
	Name() string
	Send(ctx context.Context, a Alert) error
}

// Permanent marks err as one that retrying soon will not fix (a 4xx from the
// webhook, a missing mail recipient). The Dispatcher still reports it, so
// the alert stays pending and the next sweep tries again, after an
// administrator may have fixed the configuration.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// IsPermanent reports whether err, or an error it wraps, was marked with
// Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// noRemedy is shown when an alert needs no human.
const noRemedy = "none needed: holdfast handles this"

// retryAfter is implemented by errors that carry the service's Retry-After.
type retryAfter interface{ RetryAfter() time.Duration }

// title is the one-line headline of an alert kind.
func title(kind string) string {
	switch kind {
	case KindWarning:
		return "Mailbox purge deadline approaching"
	case KindBlocker:
		return "Mailbox cannot be protected automatically"
	case KindRescued:
		return "Mailbox rescued"
	case KindRescueFailed:
		return "Mailbox rescue failed"
	case KindPurged:
		return "Mailbox purged"
	case KindRejectedEvent:
		return "Event rejected"
	case KindCaseFailing:
		return "Case failing repeatedly"
	case "":
		return "holdfast alert"
	}
	return "holdfast alert: " + kind
}

// deadlineText renders the deadline in UTC with the time left as seen when
// the alert was raised (a.At), so the text is the same on every channel and
// on every retry.
func deadlineText(a Alert) string {
	if a.Deadline.IsZero() {
		return ""
	}
	s := a.Deadline.UTC().Format("2006-01-02 15:04 UTC")
	if a.At.IsZero() {
		return s
	}
	return s + " (" + timeLeft(a.Deadline.Sub(a.At)) + ")"
}

func timeLeft(d time.Duration) string {
	suffix := " left"
	if d < 0 {
		d, suffix = -d, " overdue"
	}
	d = d.Truncate(time.Hour)
	days, hours := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	switch {
	case days == 0 && hours == 0:
		if suffix == " left" {
			return "less than 1 hour left"
		}
		return "less than 1 hour overdue"
	case days == 0:
		return plural(hours, "hour") + suffix
	case hours == 0:
		return plural(days, "day") + suffix
	}
	return plural(days, "day") + " " + plural(hours, "hour") + suffix
}

func plural(n int, unit string) string {
	s := strconv.Itoa(n) + " " + unit
	if n != 1 {
		s += "s"
	}
	return s
}

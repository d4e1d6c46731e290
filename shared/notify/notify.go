// Package notify delivers holdfast's alerts to administrators: a Teams
// Adaptive Card, an e-mail through Graph sendMail, and a message on the
// Service Bus alerts topic. The Dispatcher sends each alert to every
// channel, retries the ones that fail, and reports what still failed so the
// caller keeps the alert pending instead of losing it.
//
// Alerts carry a deterministic id. The engine records each delivered id on
// its case, so a warning is sent once per threshold; topic subscribers (and
// Service Bus duplicate detection) use the same id to drop repeats.
//
// The alert record and its kinds are holdfast's vocabulary (package alert),
// kept on a case until sent; notify renders and delivers them.
package notify

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/holdfast/holdfast/shared/alert"
)

// Channel delivers alerts somewhere. Send must be safe for concurrent use.
// An error wrapped with Permanent is not retried by the Dispatcher within
// one delivery round.
type Channel interface {
	Name() string
	Send(ctx context.Context, a alert.Alert) error
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
	case alert.KindWarning:
		return "Mailbox purge deadline approaching"
	case alert.KindBlocker:
		return "Mailbox cannot be protected automatically"
	case alert.KindRescued:
		return "Mailbox rescued"
	case alert.KindRescueFailed:
		return "Mailbox rescue failed"
	case alert.KindPurged:
		return "Mailbox purged"
	case alert.KindRejectedEvent:
		return "Event rejected"
	case alert.KindCaseFailing:
		return "Case failing repeatedly"
	case "":
		return "holdfast alert"
	}
	return "holdfast alert: " + kind
}

// deadlineText renders the deadline in UTC with the time left as seen when
// the alert was raised (a.At), so the text is the same on every channel and
// on every retry.
func deadlineText(a alert.Alert) string {
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

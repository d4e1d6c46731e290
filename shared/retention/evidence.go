package retention

import "time"

// Sighting is where one reading of every mailbox scope found a mailbox.
type Sighting string

const (
	SightActive      Sighting = "active"      // Get-Mailbox
	SightSoftDeleted Sighting = "softDeleted" // Get-Mailbox -SoftDeletedMailbox
	SightInactive    Sighting = "inactive"    // Get-Mailbox -InactiveMailboxOnly
	SightNone        Sighting = "none"        // in no scope
)

// DefaultExchangeLag is how long holdfast assumes Exchange may take to
// show a user deletion, restore or licence change. Microsoft publishes no
// bound; a day is pessimistic on purpose: waiting only delays a "lost"
// alert for a mailbox that is gone anyway, while believing one early
// reading switches the rescue off for a mailbox that still exists.
const DefaultExchangeLag = 24 * time.Hour

// RecheckInterval is how often an unconfirmed case is read again.
const RecheckInterval = time.Hour

// Lag returns the policy's Exchange lag bound.
func (p Policy) Lag() time.Duration {
	if p.ExchangeLag > 0 {
		return p.ExchangeLag
	}
	return DefaultExchangeLag
}

// Verdict is what the evidence so far supports.
type Verdict int

const (
	// VerdictUnconfirmed: keep re-reading; nothing is written off.
	VerdictUnconfirmed Verdict = iota
	// VerdictGone: consistent readings say the mailbox no longer exists.
	VerdictGone
)

// ObserveOutOfPlace records a reading of every mailbox scope that did not
// agree with the directory (s is what it found) and says whether the
// evidence now supports writing the mailbox off. Only readings that found
// it in no scope can: a write-off needs at least two of them, and either
// they span more than the lag bound or the purge deadline has passed
// since the first. A reading that found the mailbox anywhere restarts the
// count.
func ObserveOutOfPlace(c *Case, s Sighting, now time.Time, p Policy) Verdict {
	if c.UnconfirmedSince == nil || c.LastSighting != s && (s == SightNone || c.LastSighting == SightNone) {
		at := now
		c.UnconfirmedSince = &at
	}
	c.LastSighting = s
	next := now.Add(RecheckInterval)
	if bound := c.UnconfirmedSince.Add(p.Lag() + time.Minute); bound.After(now) && bound.Before(next) {
		next = bound
	}
	c.RecheckAt = &next
	if s != SightNone {
		return VerdictUnconfirmed
	}
	since := *c.UnconfirmedSince
	if !now.After(since) {
		return VerdictUnconfirmed // one reading is never enough
	}
	if now.Sub(since) > p.Lag() {
		return VerdictGone
	}
	if c.Deadline != nil && !since.Before(*c.Deadline) {
		return VerdictGone // absent since the deadline: purged on schedule
	}
	return VerdictUnconfirmed
}

// ObserveInPlace records a reading that agrees with the directory: the
// evidence of an earlier out-of-place reading no longer counts.
func ObserveInPlace(c *Case) {
	c.UnconfirmedSince, c.LastSighting, c.RecheckAt = nil, "", nil
}

package retention

import (
	"fmt"
	"time"
)

// MailboxReading is what one Get-Mailbox read said about the case's
// mailbox, in holdfast's words (the engine converts the adapter's type).
type MailboxReading struct {
	ExchangeGUID, ArchiveGUID           string
	DistinguishedName, LegacyExchangeDN string
	AutoExpandingArchive                bool
	LitigationHoldEnabled               bool
	LitigationHoldDate                  *time.Time // when the hold was placed, if Exchange says
	Inactive                            bool       // IsInactiveMailbox
}

// LearnMailbox records a reading of the mailbox on the case: its identity,
// and the hold as Exchange shows it.
func (c *Case) LearnMailbox(m MailboxReading, now time.Time, p Policy) {
	c.ExchangeGUID, c.ArchiveGUID = m.ExchangeGUID, m.ArchiveGUID
	c.DistinguishedName, c.LegacyExchangeDN = m.DistinguishedName, m.LegacyExchangeDN
	c.AutoExpandingArchive = m.AutoExpandingArchive
	if m.LitigationHoldEnabled && !c.HoldEnabled {
		c.HoldEnabled = true
		// A hold found already on counts from when it was placed.
		eff := now
		if m.LitigationHoldDate != nil {
			eff = *m.LitigationHoldDate
		}
		eff = eff.Add(p.HoldPropagation)
		if c.HoldEffectiveAt == nil {
			c.HoldEffectiveAt = &eff
		}
	}
	requested := c.HoldRequestedAt != nil && c.HoldVerifiedAt == nil && c.HoldEffectiveAt != nil && now.Before(*c.HoldEffectiveAt)
	if !m.LitigationHoldEnabled && c.HoldEnabled && !m.Inactive && !requested {
		// (A hold just requested and not yet shown is judged by the read
		// at the end of its propagation window, not by this one.)
		c.HoldEnabled, c.HoldEffectiveAt = false, nil
	}
	if m.Inactive {
		c.MailboxInactive = true
	}
}

// UserReading is what a read of the active user said.
type UserReading struct {
	UPN, EmployeeID, Department string
	SKUs                        []string // licences assigned
}

// UnannouncedLookback is how far back holdfast dates a licence removal it
// finds by reconciliation rather than by event: longer than the Reconcile
// interval (6 h).
const UnannouncedLookback = 7 * time.Hour

// seeActiveUser records that the user is in the directory (FactUserActive).
func seeActiveUser(c *Case, u UserReading, o *Outcome) {
	c.UPN, c.EmployeeID, c.Department = u.UPN, u.EmployeeID, u.Department
	if c.DeletedAt != nil {
		o.log("observe", "ok", "user is back in the directory (restored)")
		c.DeletedAt, c.DeletionSource = nil, ""
		if c.DeadlineKind == ClockSoftDelete {
			c.ClearDeadline()
		}
	}
}

// seeLicences records the active user's licences and its mailbox in the
// active scope (nil: not there), and starts or stops the licence grace
// (FactUserLicences). inventory: found by Reconcile, not announced.
func seeLicences(c *Case, f Fact, p Policy, now time.Time, o *Outcome) {
	hasMailbox := f.Mailbox != nil
	if hasMailbox {
		c.LearnMailbox(*f.Mailbox, now, p)
		ObserveInPlace(c)
		// Found active: restoring the user reconnects an inactive
		// mailbox, which is no longer preserved by being inactive.
		c.MailboxInactive = false
	}
	if len(f.User.SKUs) > 0 {
		c.Licensed, c.SKUs = true, append([]string(nil), f.User.SKUs...)
		recoveredLicensed(c, o)
		if c.LicenceRemovedAt != nil {
			c.LicenceRemovedAt = nil
			if c.DeadlineKind == ClockLicenceGrace {
				c.ClearDeadline()
				o.log("clock", "stopped", "licence assigned again")
			}
		}
		return
	}
	// An unlicensed user whose mailbox still exists is in the licence
	// grace period, whether or not holdfast saw the licence go.
	if c.LicenceRemovedAt == nil && (c.Licensed || hasMailbox) {
		at := now
		if f.Inventory && !c.Licensed {
			// Found by the inventory, not announced: the removal happened
			// some time since the last run. Count the grace from then, so
			// the rescue is early, never late.
			at = now.Add(-UnannouncedLookback)
		}
		c.LicenceRemovedAt = &at
		c.RemovedSKUs = append([]string(nil), c.SKUs...)
		o.log("observe", "ok", fmt.Sprintf("licences removed (%d known)", len(c.RemovedSKUs)))
	}
	c.Licensed = false
	if !hasMailbox && c.ExchangeGUID != "" && c.LicenceRemovedAt != nil && c.MailboxPurgedAt == nil {
		// The account may have outlived its mailbox (the licence grace
		// ended without a hold), or Exchange may not show it yet (a
		// restore or licence change it has not caught up with): only
		// consistent readings write it off.
		o.Next = NextConfirmGone
		return
	}
	if c.LicenceRemovedAt != nil && hasMailbox && !c.SafeToDelete(now) && c.Deadline == nil {
		c.SetDeadline(ClockLicenceGrace, *c.LicenceRemovedAt)
		o.log("clock", "started", "licence grace: mailbox data purged at "+c.Deadline.Format(time.RFC3339))
	}
}

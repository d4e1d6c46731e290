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
	// Soft-deleted scope only: removed with Remove-Mailbox, and when.
	SoftDeletedByRemove bool
	WhenSoftDeleted     *time.Time
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

// seeDeletedUser records a read of the recycle bin (FactUserDeleted: the
// user is there, deleted at f.At if known; FactUserPurged: it is not).
func seeDeletedUser(c *Case, f Fact, now time.Time, o *Outcome) {
	if f.Kind == FactUserPurged {
		if c.UserPurgedAt == nil {
			at := now
			c.UserPurgedAt = &at
			if c.DeletedAt == nil {
				c.DeletedAt, c.DeletionSource = &at, DeletedInEntra
			}
			o.log("observe", "ok", "user purged from the recycle bin: it can no longer be restored")
		}
		return
	}
	if c.DeletedAt == nil {
		at := now
		if !f.At.IsZero() {
			at = f.At
		}
		c.DeletedAt, c.DeletionSource = &at, DeletedInEntra
		o.log("observe", "ok", "user deleted (in the recycle bin) at "+at.Format(time.RFC3339))
	}
	if c.UPN == "" {
		c.UPN = OriginalUPN(c.ObjectID, f.User.UPN)
	}
}

// seeDeletedMailbox records where a deleted user's mailbox was found:
// inactive (preserved), soft-deleted (its clock runs) or in neither scope
// (Next == NextConfirmGone: the evidence rule decides).
func seeDeletedMailbox(c *Case, f Fact, p Policy, now time.Time, o *Outcome) {
	switch f.Kind {
	case FactMailboxInactive:
		c.LearnMailbox(*f.Mailbox, now, p)
		ObserveInPlace(c)
		if !c.MailboxInactive {
			o.log("observe", "ok", "mailbox is inactive under hold: preserved")
		}
		c.MailboxInactive = true
		c.ClearDeadline()
	case FactMailboxSoftDeleted:
		m := *f.Mailbox
		c.LearnMailbox(m, now, p)
		ObserveInPlace(c)
		if m.SoftDeletedByRemove && c.DeletionSource != DeletedInExchange {
			// Remove-Mailbox sends no directory notification and deletes
			// the account too: only the mailbox says where it happened,
			// and the same-source rule needs it.
			c.DeletionSource = DeletedInExchange
			o.log("observe", "ok", "mailbox was removed in Exchange (Remove-Mailbox): it comes back with Undo-SoftDeletedMailbox")
		}
		start := *c.DeletedAt
		if c.UserPurgedAt != nil {
			start = *c.UserPurgedAt
		}
		if m.WhenSoftDeleted != nil {
			start = *m.WhenSoftDeleted
		}
		if c.RestoredAt == nil && (c.Deadline == nil || c.DeadlineKind != ClockSoftDelete || start.Add(Window).Before(*c.Deadline)) {
			// (A restored case's content is safe elsewhere: no clock.)
			// SetDeadline keeps an earlier clock, such as a licence grace
			// that started before the deletion: the first purge loses mail.
			// A clock already running only ever moves earlier.
			c.SetDeadline(ClockSoftDelete, start)
			o.log("clock", "started", "soft-deleted mailbox: purge deadline "+c.Deadline.Format(time.RFC3339)+" ("+c.DeadlineKind+")")
		}
	case FactMailboxMissing:
		if c.MailboxPurgedAt == nil && c.ExchangeGUID != "" {
			o.Next = NextConfirmGone
		}
	}
}

// notConfirmedGone: the mailbox is not where the directory says and the
// evidence does not (yet) say it is gone; its clock runs meanwhile.
func notConfirmedGone(c *Case, now time.Time, o *Outcome) {
	if c.DeletedAt == nil {
		// The unlicensed active user's mailbox: the licence grace.
		if c.Deadline == nil && c.LicenceRemovedAt != nil && !c.SafeToDelete(now) {
			c.SetDeadline(ClockLicenceGrace, *c.LicenceRemovedAt)
		}
		return
	}
	if c.UnconfirmedSince != nil && c.RestoredAt == nil && c.Deadline == nil {
		// Exchange has not caught up with the deletion yet: the
		// soft-delete clock started with it, whatever Exchange shows.
		c.SetDeadline(ClockSoftDelete, *c.DeletedAt)
		o.log("clock", "started", "user deleted, mailbox not yet shown as deleted: purge deadline at the latest "+c.Deadline.Format(time.RFC3339))
	}
}

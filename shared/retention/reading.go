package retention

import "time"

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

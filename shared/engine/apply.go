package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/holdfast/holdfast/shared/events"
	"github.com/holdfast/holdfast/shared/notify"
	"github.com/holdfast/holdfast/shared/retention"
	"github.com/holdfast/holdfast/shared/tenant"
)

// apply changes the case for one event. It reports whether the case should
// exist at all: a directory change for a user with nothing at risk and no
// open case opens none.
func (e *Engine) apply(ctx context.Context, r *record, ev events.Event, t *tx) (bool, error) {
	c := &r.Case
	switch ev.Kind {
	case events.KindOffboarding:
		d := retention.Decision{Source: "hr"}
		if ev.HR != nil {
			d.Retention, d.HoldDurationDays, d.ArchiveTarget = ev.HR.Retention, ev.HR.HoldDurationDays, ev.HR.ArchiveTarget
			d.Ticket, d.LastWorkingDay = ev.HR.Ticket, ev.HR.LastWorkingDay
		}
		if err := retention.Decide(c, d, e.d.Policy); err != nil {
			t.log("decide", "warning", err.Error())
		}
		t.log("decide", "ok", fmt.Sprintf("retention=%s source=hr ticket=%s lastWorkingDay=%s", c.Retention, c.Ticket, c.LastWorkingDay))
		if c.State == retention.StateCancelled || c.State == retention.StateTracking {
			c.State = retention.StateTracking
		}
		e.unblock(r, t)
		if err := e.refresh(ctx, r, t); err != nil {
			return false, err
		}
		return true, e.decided(ctx, r, t)

	case events.KindOffboardingCancelled:
		if r.isNew {
			return false, nil
		}
		// The employee stays: HR's decision is withdrawn and the tenant
		// default applies. A mailbox already at risk (an admin went ahead)
		// is rescued at once; otherwise the case rests.
		if err := retention.Decide(c, retention.Decision{Source: "hr"}, e.d.Policy); err != nil {
			t.log("decide", "warning", err.Error())
		}
		e.unblock(r, t)
		if err := e.refresh(ctx, r, t); err != nil {
			return false, err
		}
		if c.MailboxPurgedAt != nil {
			// The record that the mailbox is gone stays: cancelling cannot
			// bring it back, and must not make it look settled.
			t.log("cancel", "ok", "offboarding cancelled, but the mailbox was already purged")
			return true, nil
		}
		if atRisk(c) {
			c.State = retention.StateTracking
			t.log("cancel", "ok", "offboarding cancelled, but the mailbox is already at risk: the default decision applies (retention="+c.Retention+")")
			return true, e.decided(ctx, r, t)
		}
		c.State = retention.StateCancelled
		c.Explain(retention.ReasonUnspecified, "offboarding cancelled by HR")
		c.ClearDeadline()
		t.log("cancel", "ok", "offboarding cancelled; any Litigation Hold placed stays on the mailbox until an admin removes it")
		return true, nil

	case events.KindRehire:
		return true, e.rehire(ctx, r, ev, t)

	default: // directory events: re-read the source of truth
		if c.Retention == "" {
			if err := retention.Decide(c, retention.Decision{Source: "default"}, e.d.Policy); err != nil {
				t.log("decide", "warning", err.Error())
			}
		}
		before := *c
		if err := e.refresh(ctx, r, t); err != nil {
			return false, err
		}
		if ev.Kind == events.KindLicenseRemoved && len(ev.SKUIDs) > 0 && c.LicenceRemovedAt != nil {
			c.RemovedSKUs = append([]string(nil), ev.SKUIDs...)
			if !ev.OccurredAt.IsZero() && ev.OccurredAt.Before(*c.LicenceRemovedAt) {
				at := ev.OccurredAt
				c.LicenceRemovedAt = &at
				if c.DeadlineKind == retention.ClockLicenceGrace {
					c.ClearDeadline()
					c.SetDeadline(retention.ClockLicenceGrace, at)
				}
			}
		}
		atRisk := c.Deadline != nil || c.DeletedAt != nil || c.MailboxPurgedAt != nil || c.MailboxInactive
		if r.isNew && !atRisk {
			return false, nil
		}
		if r.isNew {
			t.log("decide", "ok", fmt.Sprintf("no HR decision: default retention=%s", c.Retention))
		}
		e.settle(r, &before, t)
		return true, nil
	}
}

// unannouncedLookback is how far back holdfast dates a licence removal it
// finds by reconciliation rather than by event: longer than the Reconcile
// interval (6 h).
const unannouncedLookback = 7 * time.Hour

// refresh re-reads the user and mailbox and updates the case's facts and
// clocks. Events only say that something changed; this says what.
func (e *Engine) refresh(ctx context.Context, r *record, t *tx) error {
	c := &r.Case
	now := t.now
	u, err := e.d.Directory.GetUser(ctx, c.ObjectID)
	switch {
	case err == nil:
		c.UPN, c.EmployeeID, c.Department = u.UserPrincipalName, u.EmployeeID, u.Department
		if c.DeletedAt != nil {
			t.log("observe", "ok", "user is back in the directory (restored)")
			c.DeletedAt, c.DeletionSource = nil, ""
			if c.DeadlineKind == retention.ClockSoftDelete {
				c.ClearDeadline()
			}
		}
		mb, err := e.d.Exchange.GetMailbox(ctx, u.UserPrincipalName, tenant.ScopeActive)
		hasMailbox := err == nil
		if hasMailbox {
			e.learnMailbox(c, mb, now)
			retention.ObserveInPlace(c)
		} else if !errors.Is(err, tenant.ErrNotFound) {
			return fmt.Errorf("read mailbox: %w", err)
		}
		if len(u.AssignedSKUs) == 0 {
			// An unlicensed user whose mailbox still exists is in the licence
			// grace period, whether or not holdfast saw the licence go.
			if c.LicenceRemovedAt == nil && (c.Licensed || hasMailbox) {
				at := now
				if t.actor == "reconcile" && !c.Licensed {
					// Found by the inventory, not announced: the removal
					// happened some time since the last run. Count the
					// grace from then, so the rescue is early, never late.
					at = now.Add(-unannouncedLookback)
				}
				c.LicenceRemovedAt = &at
				c.RemovedSKUs = append([]string(nil), c.SKUs...)
				t.log("observe", "ok", fmt.Sprintf("licences removed (%d known)", len(c.RemovedSKUs)))
			}
			c.Licensed = false
			if !hasMailbox && c.ExchangeGUID != "" && c.LicenceRemovedAt != nil && c.MailboxPurgedAt == nil {
				// The account may have outlived its mailbox (the licence
				// grace ended without a hold), or Exchange may not show it
				// yet (a restore or licence change it has not caught up
				// with): only consistent readings write it off.
				gone, err := e.confirmGone(ctx, r, t, retention.SightActive)
				if err != nil || gone {
					return err
				}
				if c.Deadline == nil && !c.SafeToDelete(now) {
					c.SetDeadline(retention.ClockLicenceGrace, *c.LicenceRemovedAt)
				}
				return nil
			}
			if c.LicenceRemovedAt != nil && hasMailbox && !c.SafeToDelete(now) && c.Deadline == nil {
				c.SetDeadline(retention.ClockLicenceGrace, *c.LicenceRemovedAt)
				t.log("clock", "started", "licence grace: mailbox data purged at "+c.Deadline.Format(time.RFC3339))
			}
		} else {
			c.Licensed, c.SKUs = true, append([]string(nil), u.AssignedSKUs...)
			if c.DeadlineKind == retention.ClockRecoveredLicence {
				c.ClearDeadline()
				c.State = retention.StateCancelled
				c.Explain(retention.ReasonUnspecified, "rehired: recovered mailbox licensed")
				t.log("clock", "stopped", "recovered account licensed")
			}
			if c.LicenceRemovedAt != nil {
				c.LicenceRemovedAt = nil
				if c.DeadlineKind == retention.ClockLicenceGrace {
					c.ClearDeadline()
					t.log("clock", "stopped", "licence assigned again")
				}
			}
		}
		return nil
	case !errors.Is(err, tenant.ErrNotFound):
		return fmt.Errorf("read user: %w", err)
	}

	// Not an active user: in the recycle bin, or gone for good.
	du, err := e.d.Directory.GetDeletedUser(ctx, c.ObjectID)
	switch {
	case err == nil:
		if c.DeletedAt == nil {
			at := now
			if du.DeletedAt != nil {
				at = *du.DeletedAt
			}
			c.DeletedAt, c.DeletionSource = &at, retention.DeletedInEntra
			t.log("observe", "ok", "user deleted (in the recycle bin) at "+at.Format(time.RFC3339))
		}
		if c.UPN == "" {
			c.UPN = retention.OriginalUPN(c.ObjectID, du.UserPrincipalName)
		}
	case errors.Is(err, tenant.ErrNotFound):
		if c.UserPurgedAt == nil {
			c.UserPurgedAt = &now
			if c.DeletedAt == nil {
				c.DeletedAt, c.DeletionSource = &now, retention.DeletedInEntra
			}
			t.log("observe", "ok", "user purged from the recycle bin: it can no longer be restored")
		}
	default:
		return fmt.Errorf("read deleted user: %w", err)
	}
	return e.observeDeletedMailbox(ctx, r, t)
}

// observeDeletedMailbox learns whether a deleted user's mailbox is
// inactive (preserved), soft-deleted (clock running) or gone.
func (e *Engine) observeDeletedMailbox(ctx context.Context, r *record, t *tx) error {
	c := &r.Case
	// Deleted users' UPNs are rewritten in the recycle bin: find the
	// mailbox by ExchangeGuid, or by the Entra object id it carries.
	id := c.ExchangeGUID
	if id == "" {
		id = c.ObjectID
	}
	mb, err := e.d.Exchange.GetMailbox(ctx, id, tenant.ScopeInactiveOnly)
	if err == nil {
		e.learnMailbox(c, mb, t.now)
		retention.ObserveInPlace(c)
		if !c.MailboxInactive {
			t.log("observe", "ok", "mailbox is inactive under hold: preserved")
		}
		c.MailboxInactive = true
		c.ClearDeadline()
		return nil
	}
	if !errors.Is(err, tenant.ErrNotFound) {
		return fmt.Errorf("read inactive mailbox: %w", err)
	}
	mb, err = e.d.Exchange.GetMailbox(ctx, id, tenant.ScopeSoftDeleted)
	if err == nil {
		e.learnMailbox(c, mb, t.now)
		retention.ObserveInPlace(c)
		if mb.IsSoftDeletedByRemove && c.DeletionSource != retention.DeletedInExchange {
			// Remove-Mailbox sends no directory notification and deletes
			// the account too: only the mailbox says where it happened,
			// and the same-source rule needs it.
			c.DeletionSource = retention.DeletedInExchange
			t.log("observe", "ok", "mailbox was removed in Exchange (Remove-Mailbox): it comes back with Undo-SoftDeletedMailbox")
		}
		start := *c.DeletedAt
		if c.UserPurgedAt != nil {
			start = *c.UserPurgedAt
		}
		if mb.WhenSoftDeleted != nil {
			start = *mb.WhenSoftDeleted
		}
		if c.RestoredAt == nil && (c.Deadline == nil || c.DeadlineKind != retention.ClockSoftDelete ||
			start.Add(retention.Window).Before(*c.Deadline)) {
			// (A restored case's content is safe elsewhere: no clock.)
			// SetDeadline keeps an earlier clock, such as a licence grace
			// that started before the deletion: the first purge loses mail.
			// A clock already running only ever moves earlier.
			c.SetDeadline(retention.ClockSoftDelete, start)
			t.log("clock", "started", "soft-deleted mailbox: purge deadline "+c.Deadline.Format(time.RFC3339)+" ("+c.DeadlineKind+")")
		}
		return nil
	}
	if !errors.Is(err, tenant.ErrNotFound) {
		return fmt.Errorf("read soft-deleted mailbox: %w", err)
	}
	if c.MailboxPurgedAt == nil && c.ExchangeGUID != "" {
		gone, err := e.confirmGone(ctx, r, t, retention.SightSoftDeleted, retention.SightInactive)
		if err != nil || gone {
			return err
		}
		if c.UnconfirmedSince != nil && c.RestoredAt == nil && c.Deadline == nil {
			// Exchange has not caught up with the deletion yet: the
			// soft-delete clock started with it, whatever Exchange shows.
			c.SetDeadline(retention.ClockSoftDelete, *c.DeletedAt)
			t.log("clock", "started", "user deleted, mailbox not yet shown as deleted: purge deadline at the latest "+c.Deadline.Format(time.RFC3339))
		}
	}
	return nil
}

// confirmGone reads every mailbox scope for a mailbox that is not where
// the directory says it is, and writes it off only when the readings so
// far are consistent (retention.ObserveOutOfPlace). Until then the case is
// unconfirmed, a re-check is planned and the rescue stays armed. inPlace
// lists the scopes that agree with the directory.
func (e *Engine) confirmGone(ctx context.Context, r *record, t *tx, inPlace ...retention.Sighting) (bool, error) {
	c := &r.Case
	sight, conflict := retention.SightNone, ""
	for _, sc := range []struct {
		scope tenant.MailboxScope
		sight retention.Sighting
	}{{tenant.ScopeActive, retention.SightActive}, {tenant.ScopeSoftDeleted, retention.SightSoftDeleted}, {tenant.ScopeInactiveOnly, retention.SightInactive}} {
		mb, err := e.d.Exchange.GetMailbox(ctx, c.ExchangeGUID, sc.scope)
		if errors.Is(err, tenant.ErrNotFound) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("confirm mailbox: %w", err)
		}
		if mb.ExternalDirectoryObjectID != "" && !strings.EqualFold(mb.ExternalDirectoryObjectID, c.ObjectID) {
			// Another account holds this ExchangeGuid: it is not ours.
			conflict = mb.UserPrincipalName
			continue
		}
		sight = sc.sight
		break
	}
	if slices.Contains(inPlace, sight) {
		retention.ObserveInPlace(c)
		return false, nil
	}
	before := c.UnconfirmedSince
	if retention.ObserveOutOfPlace(c, sight, t.now, e.d.Policy) == retention.VerdictUnconfirmed {
		if before == nil || !before.Equal(*c.UnconfirmedSince) {
			t.log("observe", "unconfirmed", "mailbox found in scope "+string(sight)+", not where the directory says: Exchange may lag; re-reading at "+c.RecheckAt.Format(time.RFC3339)+", rescue stays armed")
		}
		return false, nil
	}
	now := t.now
	c.MailboxPurgedAt = &now
	c.ClearDeadline()
	t.log("observe", "lost", "mailbox in no scope (active, soft-deleted, inactive) since "+c.UnconfirmedSince.Format(time.RFC3339)+": it no longer exists in Exchange")
	if conflict != "" {
		// A synced account that came back with the same ExchangeGuid and
		// got a licence hard-deletes the original: say so, the remedy is
		// upstream (directory sync), not in Exchange.
		c.Explain(retention.ReasonExchangeGUIDConflict, retention.ExchangeGUIDConflictReason(conflict))
		t.log("exchangeGuidConflict", "ok", c.Reason)
	}
	return true, nil
}

func (e *Engine) learnMailbox(c *retention.Case, mb tenant.Mailbox, now time.Time) {
	c.ExchangeGUID, c.ArchiveGUID = mb.ExchangeGUID, mb.ArchiveGUID
	c.DistinguishedName, c.LegacyExchangeDN = mb.DistinguishedName, mb.LegacyExchangeDN
	c.AutoExpandingArchive = mb.AutoExpandingArchive
	if mb.LitigationHoldEnabled && !c.HoldEnabled {
		c.HoldEnabled = true
		// A hold found already on counts from when it was placed.
		eff := now
		if mb.LitigationHoldDate != nil {
			eff = *mb.LitigationHoldDate
		}
		eff = eff.Add(e.d.Policy.HoldPropagation)
		if c.HoldEffectiveAt == nil {
			c.HoldEffectiveAt = &eff
		}
	}
	requested := c.HoldRequestedAt != nil && c.HoldVerifiedAt == nil && c.HoldEffectiveAt != nil && now.Before(*c.HoldEffectiveAt)
	if !mb.LitigationHoldEnabled && c.HoldEnabled && !mb.IsInactiveMailbox && !requested {
		// (A hold just requested and not yet shown is judged by the read
		// at the end of its propagation window, not by this one.)
		c.HoldEnabled, c.HoldEffectiveAt = false, nil
	}
	if mb.IsInactiveMailbox {
		c.MailboxInactive = true
	}
}

// settle derives the case's state from its facts after a directory change.
func (e *Engine) settle(r *record, before *retention.Case, t *tx) {
	c := &r.Case
	prev := c.State
	switch {
	case c.State == retention.StateCancelled && !atRisk(c):
		// A cancelled offboarding rests while nothing is at risk; a later
		// licence removal or deletion of the staying employee is handled
		// under the default decision like any other.
	case c.State == retention.StateBlocked && c.MailboxPurgedAt == nil || c.State == retention.StateRestored:
		// Stays until a human or HR acts (or, restored, for good: the
		// content is safe in the archive target); facts are still tracked.
	case c.MailboxPurgedAt != nil:
		kind, reason := retention.ReasonUnspecified, "the mailbox was purged"
		if c.ReasonKind == retention.ReasonExchangeGUIDConflict {
			kind, reason = c.ReasonKind, c.Reason
		}
		c.State = retention.StatePurged
		c.Explain(kind, reason)
	case c.UnconfirmedSince != nil && c.Retention != retention.Release && c.State != retention.StateRescuing:
		c.State = retention.StateUnconfirmed
		c.Explain(retention.ReasonUnspecified, "Exchange shows the mailbox in scope "+string(c.LastSighting)+
			", not where the directory says; re-reading at "+c.RecheckAt.Format(time.RFC3339)+" before writing anything off (rescue stays armed)")
	case c.MailboxInactive:
		c.State = retention.StateInactive
		c.Explain(retention.ReasonUnspecified, "user deleted; mailbox inactive under Litigation Hold")
	case c.Retention == retention.Release:
		c.State = retention.StateReleased
		c.Explain(retention.ReasonUnspecified, "policy releases this mailbox")
	case c.Deadline != nil:
		switch {
		case c.State == retention.StateRescuing:
		case c.DeadlineKind == retention.ClockRecoveredLicence:
			c.State = retention.StateAtRisk
			c.Explain(retention.ReasonUnspecified, "rehired: recovered account "+c.UPN+" is disabled at "+c.Deadline.Format(time.RFC3339)+" unless licensed")
		default:
			c.State = retention.StateAtRisk
			c.Explain(retention.ReasonUnspecified, "mailbox will be purged at "+c.Deadline.Format(time.RFC3339)+" unless rescued")
		}
	case c.HoldEnabled && c.SafeToDelete(t.now):
		c.State = retention.StateProtected
		c.Explain(retention.ReasonUnspecified, "Litigation Hold in effect: safe to delete")
	case c.HoldEnabled:
		c.State = retention.StateProtecting
		c.Explain(retention.ReasonUnspecified, "Litigation Hold placed, not yet in effect: not yet safe to delete")
	case c.State == retention.StateUnconfirmed:
		// The readings agree with the directory again and nothing else
		// applies.
		c.State = retention.StateTracking
		c.Explain(retention.ReasonUnspecified, "Exchange shows the mailbox where the directory says")
	}
	if c.State != prev {
		t.log("transition", "ok", fmt.Sprintf("%s -> %s: %s", prev, c.State, c.Reason))
	}
	if c.State == retention.StatePurged && prev != retention.StatePurged {
		sev, remedy := "warning", ""
		if c.Retained() {
			sev, remedy = "critical", "the mailbox policy said to keep is gone; check for a content search export or backups"
		}
		details := map[string]string{}
		if c.ReasonKind == retention.ReasonExchangeGUIDConflict {
			details["conflict"] = "exchangeGuid"
			remedy = c.Reason + ". Check backups for the lost content; to stop it happening again, restore a leaver's user from the recycle bin instead of re-syncing a new account for them, or clear the on-premises mailbox GUID (msExchMailboxGuid) before the account is synced again"
		}
		e.alert(r, notify.Alert{ID: c.Key + ":purged", Kind: notify.KindPurged, Severity: sev, Action: "none: mailbox purged", Remedy: remedy, At: t.now, Details: details})
	}
	_ = before
}

func (e *Engine) release(r *record, t *tx) {
	c := &r.Case
	c.State = retention.StateReleased
	c.Explain(retention.ReasonUnspecified, "policy releases this mailbox: no hold, purged on schedule")
	t.log("transition", "ok", "released: clocks are watched and warned, nothing is rescued")
}

// protect places and verifies Litigation Hold, or says why it cannot.
func (e *Engine) protect(ctx context.Context, r *record, t *tx) error {
	c := &r.Case
	now := t.now
	if c.DeletedAt != nil || c.MailboxPurgedAt != nil {
		e.settle(r, nil, t)
		return nil
	}
	if c.AutoExpandingArchive {
		e.block(r, t, "autoExpandingArchive",
			"the mailbox has an auto-expanding archive: an inactive mailbox with one cannot be recovered or restored",
			"before deleting the user, export the mailbox with a Purview content search (eDiscovery export), then release the case")
		return nil
	}
	if c.UPN == "" && c.ExchangeGUID == "" {
		return fmt.Errorf("case %s has no mailbox identity", c.Key)
	}
	if c.HoldEnabled && c.HoldEffectiveAt != nil {
		e.settle(r, nil, t)
		return nil
	}
	if !c.Licensed && c.LicenceRemovedAt != nil {
		// Exchange refuses a hold without a licence that includes it; the
		// rescue re-assigns the licence first, then places the hold.
		e.settle(r, nil, t)
		return nil
	}
	id := c.ExchangeGUID
	if id == "" {
		id = c.UPN
	}
	err := e.d.Exchange.SetLitigationHold(ctx, tenant.HoldRequest{
		Identity: id, Enabled: true, DurationDays: c.HoldDurationDays, Comment: c.RetentionComment(),
	})
	switch {
	case errors.Is(err, tenant.ErrHoldNotAllowed):
		e.block(r, t, "holdNotAllowed",
			"the mailbox's licence does not include Litigation Hold",
			"assign Exchange Online Plan 2 (or Plan 1 with Exchange Online Archiving) before the user is deleted; holdfast retries when the licence changes")
		return nil
	case errors.Is(err, tenant.ErrNotFound):
		e.block(r, t, "noMailbox", "no mailbox found for the user", "check that the user has an Exchange Online mailbox")
		return nil
	case err != nil:
		return fmt.Errorf("place hold: %w", err)
	}
	c.HoldRequestedAt = &now
	t.log("placeHold", "ok", fmt.Sprintf("Set-Mailbox -LitigationHoldEnabled $true duration=%s comment=%q", durationLabel(c.HoldDurationDays), c.RetentionComment()))
	mb, err := e.d.Exchange.GetMailbox(ctx, id, tenant.ScopeActive)
	if err != nil && !errors.Is(err, tenant.ErrNotFound) {
		return fmt.Errorf("verify hold: %w", err)
	}
	eff := now.Add(e.d.Policy.HoldPropagation)
	if err != nil || !mb.LitigationHoldEnabled {
		// Exchange may show a new hold, or a mailbox it has just brought
		// back (restore, new licence), only after a while: the read at the
		// end of the propagation window confirms the hold, or places it
		// again. Nothing counts as safe before that read.
		c.HoldEnabled, c.HoldVerifiedAt, c.HoldEffectiveAt = true, nil, &eff
		t.log("verifyHold", "pending", "Get-Mailbox does not show the hold yet; reading again at "+eff.Format(time.RFC3339))
		prev := c.State
		c.State = retention.StateProtecting
		c.Explain(retention.ReasonUnspecified, "Litigation Hold requested, not yet shown by Exchange; not safe to delete")
		if prev != c.State {
			t.log("transition", "ok", fmt.Sprintf("%s -> %s", prev, c.State))
		}
		return nil
	}
	e.learnMailbox(c, mb, now)
	c.HoldEnabled, c.HoldVerifiedAt, c.HoldEffectiveAt = true, &now, &eff
	t.log("verifyHold", "ok", "Get-Mailbox confirms LitigationHoldEnabled; in effect at "+eff.Format(time.RFC3339))
	prev := c.State
	c.State = retention.StateProtecting
	c.Explain(retention.ReasonUnspecified, "Litigation Hold placed; not yet safe to delete until "+eff.Format(time.RFC3339))
	if c.Deadline != nil && c.DeadlineKind == retention.ClockLicenceGrace {
		c.ClearDeadline()
	}
	t.log("transition", "ok", fmt.Sprintf("%s -> %s", prev, c.State))
	return nil
}

func (e *Engine) block(r *record, t *tx, code, why, remedy string) {
	c := &r.Case
	prev := c.State
	c.State = retention.StateBlocked
	c.Explain(retention.ReasonUnspecified, why)
	t.log("block", code, why)
	if prev != c.State {
		t.log("transition", "ok", fmt.Sprintf("%s -> %s", prev, c.State))
	}
	e.alert(r, notify.Alert{ID: c.Key + ":blocked:" + code, Kind: notify.KindBlocker, Severity: "critical",
		Action: "holdfast cannot protect this mailbox by itself", Remedy: remedy, At: t.now,
		Details: map[string]string{"blocker": code}})
}

func durationLabel(days int) string {
	if days <= 0 {
		return "Unlimited"
	}
	return fmt.Sprintf("%dd", days)
}

// rehire brings a leaver back: restore the user while still in the
// recycle bin (from the same source it was deleted in); an inactive mailbox
// needs recovery into a new account; a mailbox still at risk otherwise (in
// its licence grace, or soft-deleted after its user was purged) is kept as
// for a retain decision, rescued at once.
func (e *Engine) rehire(ctx context.Context, r *record, ev events.Event, t *tx) error {
	c := &r.Case
	// The leaving decision no longer holds: the tenant default applies to
	// whatever happens to the returning employee's mailbox from now on.
	if err := retention.Decide(c, retention.Decision{Source: "hr"}, e.d.Policy); err != nil {
		t.log("decide", "warning", err.Error())
	}
	e.unblock(r, t)
	if err := e.refresh(ctx, r, t); err != nil {
		return err
	}
	switch {
	case c.DeletedAt != nil && c.UserPurgedAt == nil && c.DeletionSource == retention.DeletedInExchange && c.ExchangeGUID != "":
		err := tenant.ErrNoSecureStringKey
		if c.UPN != "" { // the WindowsLiveID
			err = e.d.Exchange.UndoSoftDeletedMailbox(ctx, c.ExchangeGUID, c.UPN)
		}
		if errors.Is(err, tenant.ErrNoSecureStringKey) {
			e.block(r, t, "needsPowerShell", "rehired: the mailbox was removed in Exchange and only Undo-SoftDeletedMailbox brings it back; it "+noKeyWhy,
				"run in Exchange Online PowerShell: "+undoCommand(c.ExchangeGUID, c.UPN)+" ; then reset the account's password in Entra")
			return nil
		}
		if err != nil && !errors.Is(err, tenant.ErrNotFound) {
			return fmt.Errorf("rehire: Undo-SoftDeletedMailbox: %w", err)
		}
		t.log("undoSoftDelete", "ok", "rehire: mailbox removed in Exchange brought back there (Undo-SoftDeletedMailbox)")
		return e.rehired(ctx, r, t)
	case c.DeletedAt != nil && c.UserPurgedAt == nil:
		if _, err := e.d.Directory.RestoreDeletedUser(ctx, c.ObjectID); err != nil && !errors.Is(err, tenant.ErrNotFound) {
			return fmt.Errorf("restore rehired user: %w", err)
		}
		t.log("restoreUser", "ok", "rehire: user restored from the recycle bin")
		return e.rehired(ctx, r, t)
	case c.MailboxInactive && c.MailboxPurgedAt == nil:
		upn := ev.User.UPN
		if upn == "" {
			upn = c.UPN
		}
		return e.recoverInactive(ctx, r, upn, t)
	case atRisk(c):
		return e.keepForRehire(ctx, r, t)
	case c.MailboxPurgedAt != nil:
		t.log("rehire", "ok", "rehired, but the mailbox was already purged: nothing to recover")
		return nil
	default:
		c.State = retention.StateCancelled
		c.Explain(retention.ReasonUnspecified, "rehired")
		c.ClearDeadline()
	}
	t.log("rehire", "ok", c.Reason)
	return nil
}

// rehired settles a rehire whose account is back: done, unless a clock
// still runs (a licence removed before the deletion keeps its grace).
func (e *Engine) rehired(ctx context.Context, r *record, t *tx) error {
	c := &r.Case
	c.DeletedAt, c.DeletionSource = nil, ""
	c.ClearDeadline()
	if err := e.refresh(ctx, r, t); err != nil {
		return err
	}
	if atRisk(c) {
		return e.keepForRehire(ctx, r, t)
	}
	c.State = retention.StateCancelled
	c.Explain(retention.ReasonUnspecified, "rehired: user restored")
	t.log("rehire", "ok", c.Reason)
	return nil
}

// keepForRehire keeps a rehired employee's mailbox that is still at risk
// as a retain decision would, with the rescue due at once.
func (e *Engine) keepForRehire(ctx context.Context, r *record, t *tx) error {
	c := &r.Case
	c.Retention, c.DecisionSource = retention.Retain, "hr"
	c.State = retention.StateTracking
	t.log("rehire", "ok", "rehired, and the mailbox is still at risk: kept as for a retain decision")
	return e.decided(ctx, r, t)
}

// atRisk reports whether a clock runs on a mailbox that still exists.
func atRisk(c *retention.Case) bool {
	return c.Deadline != nil && c.MailboxPurgedAt == nil && !c.MailboxInactive
}

// unblock lets a new HR decision try again on a blocked case: the blocker
// may be what the decision supplies (an archive target, a hold duration),
// and if it is not, acting again blocks again (the alert is not repeated).
func (e *Engine) unblock(r *record, t *tx) {
	c := &r.Case
	if c.State != retention.StateBlocked {
		return
	}
	t.log("unblock", "ok", "new HR decision: trying again (was blocked: "+c.Reason+")")
	c.State = retention.StateTracking
}

// decided acts on an HR decision with the facts just refreshed: protect
// what is kept, release what is not. A decision that finds a clock already
// running (it arrived after the licence removal or deletion) asks for the
// rescue at once: waiting for the margin leaves days in which an admin
// purge loses everything.
func (e *Engine) decided(ctx context.Context, r *record, t *tx) error {
	c := &r.Case
	if !c.Retained() {
		e.release(r, t)
		return nil
	}
	if err := e.protect(ctx, r, t); err != nil {
		return err
	}
	if retention.NeedsRescue(c) && c.UserPurgedAt == nil {
		dl := *c.Deadline
		c.RescueNowFor = &dl
		t.log("decide", "ok", "late decision: the mailbox is already at risk (deadline "+dl.Format(time.RFC3339)+"): rescue now")
	}
	return nil
}

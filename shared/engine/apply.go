package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/holdfast/holdfast/shared/alert"
	"github.com/holdfast/holdfast/shared/events"
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
		e.step(r, t, retention.Fact{Kind: retention.FactOffboarding, Decision: d})
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
		e.step(r, t, retention.Fact{Kind: retention.FactWithdrawn})
		if err := e.refresh(ctx, r, t); err != nil {
			return false, err
		}
		if e.step(r, t, retention.Fact{Kind: retention.FactCancelled}).Next == retention.NextDecide {
			return true, e.decided(ctx, r, t)
		}
		return true, nil

	case events.KindRehire:
		return true, e.rehire(ctx, r, ev, t)

	default: // directory events: re-read the source of truth
		e.step(r, t, retention.Fact{Kind: retention.FactUndecided})
		if err := e.refresh(ctx, r, t); err != nil {
			return false, err
		}
		if ev.Kind == events.KindLicenseRemoved {
			e.step(r, t, retention.Fact{Kind: retention.FactLicenceRemoved, SKUs: ev.SKUIDs, At: ev.OccurredAt})
		}
		atRisk := c.Deadline != nil || c.DeletedAt != nil || c.MailboxPurgedAt != nil || c.MailboxInactive
		if r.isNew && !atRisk {
			return false, nil
		}
		if r.isNew {
			t.log("decide", "ok", fmt.Sprintf("no HR decision: default retention=%s", c.Retention))
		}
		e.step(r, t, retention.Fact{Kind: retention.FactSettle})
		return true, nil
	}
}

// step hands one fact to the case machine (retention.Step), then records
// what it decided: audit rows and alerts. The outcome says what follows.
func (e *Engine) step(r *record, t *tx, f retention.Fact) retention.Outcome {
	out := retention.Step(&r.Case, f, e.d.Policy, t.now)
	for _, a := range out.Audit {
		t.log(a.Action, a.Result, a.Detail)
	}
	for _, a := range out.Alerts {
		e.alert(r, alert.Alert{ID: a.ID, Kind: string(a.Kind), Severity: string(a.Severity), Action: a.Action,
			Remedy: a.Remedy, At: t.now, Details: a.Details})
	}
	return out
}

// settle derives the case's state from its refreshed facts.
func (e *Engine) settle(r *record, t *tx) { e.step(r, t, retention.Fact{Kind: retention.FactSettle}) }

// block records a blocker: only a human can go on.
func (e *Engine) block(r *record, t *tx, kind retention.BlockerKind, why, remedy string) {
	e.step(r, t, retention.Fact{Kind: retention.FactBlocked, Blocker: retention.Blocker{Kind: kind, Why: why, Remedy: remedy}})
}

// refresh re-reads the user and mailbox and updates the case's facts and
// clocks. Events only say that something changed; this says what.
func (e *Engine) refresh(ctx context.Context, r *record, t *tx) error {
	c := &r.Case
	var (
		u   tenant.User
		err error
	)
	if pre := t.takeUser(c.ObjectID); pre != nil {
		u = *pre
	} else {
		u, err = e.d.Directory.GetUser(ctx, c.ObjectID)
	}
	switch {
	case err == nil:
		seen := retention.UserReading{UPN: u.UserPrincipalName, EmployeeID: u.EmployeeID, Department: u.Department, SKUs: u.AssignedSKUs}
		e.step(r, t, retention.Fact{Kind: retention.FactUserActive, User: seen})
		f := retention.Fact{Kind: retention.FactUserLicences, User: seen, Inventory: t.actor == "reconcile"}
		mb, err := e.d.Exchange.GetMailbox(ctx, u.UserPrincipalName, tenant.ScopeActive)
		switch {
		case err == nil:
			m := reading(mb)
			f.Mailbox = &m
		case !errors.Is(err, tenant.ErrNotFound):
			return fmt.Errorf("read mailbox: %w", err)
		}
		if e.step(r, t, f).Next != retention.NextConfirmGone {
			return nil
		}
		gone, err := e.confirmGone(ctx, r, t, retention.SightActive)
		if err != nil || gone {
			return err
		}
		e.step(r, t, retention.Fact{Kind: retention.FactNotConfirmedGone})
		return nil
	case !errors.Is(err, tenant.ErrNotFound):
		return fmt.Errorf("read user: %w", err)
	}

	// Not an active user: in the recycle bin, or gone for good.
	du, err := e.d.Directory.GetDeletedUser(ctx, c.ObjectID)
	switch {
	case err == nil:
		f := retention.Fact{Kind: retention.FactUserDeleted, User: retention.UserReading{UPN: du.UserPrincipalName}}
		if du.DeletedAt != nil {
			f.At = *du.DeletedAt
		}
		e.step(r, t, f)
	case errors.Is(err, tenant.ErrNotFound):
		e.step(r, t, retention.Fact{Kind: retention.FactUserPurged})
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
		m := reading(mb)
		e.step(r, t, retention.Fact{Kind: retention.FactMailboxInactive, Mailbox: &m})
		return nil
	}
	if !errors.Is(err, tenant.ErrNotFound) {
		return fmt.Errorf("read inactive mailbox: %w", err)
	}
	mb, err = e.d.Exchange.GetMailbox(ctx, id, tenant.ScopeSoftDeleted)
	if err == nil {
		m := reading(mb)
		e.step(r, t, retention.Fact{Kind: retention.FactMailboxSoftDeleted, Mailbox: &m})
		return nil
	}
	if !errors.Is(err, tenant.ErrNotFound) {
		return fmt.Errorf("read soft-deleted mailbox: %w", err)
	}
	if e.step(r, t, retention.Fact{Kind: retention.FactMailboxMissing}).Next != retention.NextConfirmGone {
		return nil
	}
	gone, err := e.confirmGone(ctx, r, t, retention.SightSoftDeleted, retention.SightInactive)
	if err != nil || gone {
		return err
	}
	e.step(r, t, retention.Fact{Kind: retention.FactNotConfirmedGone})
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
	e.step(r, t, retention.Fact{Kind: retention.FactWrittenOff, Account: conflict})
	return true, nil
}

// reading is a Get-Mailbox result in retention's words.
func reading(mb tenant.Mailbox) retention.MailboxReading {
	return retention.MailboxReading{
		ExchangeGUID: mb.ExchangeGUID, ArchiveGUID: mb.ArchiveGUID,
		DistinguishedName: mb.DistinguishedName, LegacyExchangeDN: mb.LegacyExchangeDN,
		AutoExpandingArchive: mb.AutoExpandingArchive, LitigationHoldEnabled: mb.LitigationHoldEnabled,
		LitigationHoldDate: mb.LitigationHoldDate, Inactive: mb.IsInactiveMailbox,
		SoftDeletedByRemove: mb.IsSoftDeletedByRemove, WhenSoftDeleted: mb.WhenSoftDeleted,
	}
}

// protect places and verifies Litigation Hold, or says why it cannot.
func (e *Engine) protect(ctx context.Context, r *record, t *tx) error {
	c := &r.Case
	out := e.step(r, t, retention.Fact{Kind: retention.FactProtect})
	if out.Err != nil || out.Next != retention.NextPlaceHold {
		return out.Err
	}
	id := c.ExchangeGUID
	if id == "" {
		id = c.UPN
	}
	rid := uuid.NewString()
	err := e.d.Exchange.SetLitigationHold(ctx, tenant.HoldRequest{
		Identity: id, Enabled: true, DurationDays: c.HoldDurationDays, Comment: c.RetentionComment(), RequestID: rid,
	})
	switch {
	case errors.Is(err, tenant.ErrHoldNotAllowed):
		e.block(r, t, retention.BlockHoldNotAllowed,
			"the mailbox's licence does not include Litigation Hold",
			"assign Exchange Online Plan 2 (or Plan 1 with Exchange Online Archiving) before the user is deleted; holdfast retries when the licence changes")
		return nil
	case errors.Is(err, tenant.ErrNotFound):
		e.block(r, t, retention.BlockNoMailbox, "no mailbox found for the user", "check that the user has an Exchange Online mailbox")
		return nil
	case err != nil:
		return fmt.Errorf("place hold: %w", err)
	}
	e.step(r, t, retention.Fact{Kind: retention.FactHoldPlaced, RequestID: rid})
	if _, deferred := e.d.Exchange.(*deferredHolds); deferred {
		// The request is only recorded: it goes out after the commit, so a
		// read now cannot show it and would spend one of Exchange's budget
		// (a third of an offboarding's requests). The read at the end of
		// the propagation window confirms it.
		e.step(r, t, retention.Fact{Kind: retention.FactHoldNotShown})
		return nil
	}
	mb, err := e.d.Exchange.GetMailbox(ctx, id, tenant.ScopeActive)
	if err != nil && !errors.Is(err, tenant.ErrNotFound) {
		return fmt.Errorf("verify hold: %w", err)
	}
	if err != nil || !mb.LitigationHoldEnabled {
		e.step(r, t, retention.Fact{Kind: retention.FactHoldNotShown})
		return nil
	}
	m := reading(mb)
	e.step(r, t, retention.Fact{Kind: retention.FactHoldShown, Mailbox: &m})
	return nil
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
	e.step(r, t, retention.Fact{Kind: retention.FactWithdrawn})
	if err := e.refresh(ctx, r, t); err != nil {
		return err
	}
	switch retention.PlanRehire(c) {
	case retention.RehireUndoSoftDelete:
		err := tenant.ErrNoSecureStringKey
		wctx, rid := writeID(ctx)
		if c.UPN != "" { // the WindowsLiveID
			err = e.d.Exchange.UndoSoftDeletedMailbox(wctx, c.ExchangeGUID, c.UPN)
		}
		if errors.Is(err, tenant.ErrNoSecureStringKey) {
			e.block(r, t, retention.BlockNeedsPowerShell, "rehired: the mailbox was removed in Exchange and only Undo-SoftDeletedMailbox brings it back; it "+noKeyWhy,
				"run in Exchange Online PowerShell: "+undoCommand(c.ExchangeGUID, c.UPN)+" ; then reset the account's password in Entra")
			return nil
		}
		if err != nil && !errors.Is(err, tenant.ErrNotFound) {
			return fmt.Errorf("rehire: Undo-SoftDeletedMailbox: %w", err)
		}
		t.log("undoSoftDelete", "ok", retention.NameRequest("rehire: mailbox removed in Exchange brought back there (Undo-SoftDeletedMailbox)", rid))
		return e.rehired(ctx, r, t)
	case retention.RehireRestoreUser:
		wctx, rid := writeID(ctx)
		if _, err := e.d.Directory.RestoreDeletedUser(wctx, c.ObjectID); err != nil && !errors.Is(err, tenant.ErrNotFound) {
			return fmt.Errorf("restore rehired user: %w", err)
		}
		t.log("restoreUser", "ok", retention.NameRequest("rehire: user restored from the recycle bin", rid))
		return e.rehired(ctx, r, t)
	case retention.RehireRecoverInactive:
		upn := ev.User.UPN
		if upn == "" {
			upn = c.UPN
		}
		return e.recoverInactive(ctx, r, upn, t)
	}
	if e.step(r, t, retention.Fact{Kind: retention.FactRehired}).Next == retention.NextDecide {
		return e.decided(ctx, r, t)
	}
	return nil
}

// rehired settles a rehire whose account is back: done, unless a clock
// still runs (a licence removed before the deletion keeps its grace).
func (e *Engine) rehired(ctx context.Context, r *record, t *tx) error {
	e.step(r, t, retention.Fact{Kind: retention.FactAccountBack})
	if err := e.refresh(ctx, r, t); err != nil {
		return err
	}
	if e.step(r, t, retention.Fact{Kind: retention.FactRehired, AccountBack: true}).Next == retention.NextDecide {
		return e.decided(ctx, r, t)
	}
	return nil
}

// decided acts on an HR decision with the facts just refreshed: protect
// what is kept, release what is not (retention.FactDecided), and ask for
// the rescue at once when the decision came late (FactLateDecision).
func (e *Engine) decided(ctx context.Context, r *record, t *tx) error {
	if e.step(r, t, retention.Fact{Kind: retention.FactDecided}).Next != retention.NextProtect {
		return nil
	}
	if err := e.protect(ctx, r, t); err != nil {
		return err
	}
	e.step(r, t, retention.Fact{Kind: retention.FactLateDecision})
	return nil
}

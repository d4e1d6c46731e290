package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/holdfast/holdfast/shared/ledger"
	"github.com/holdfast/holdfast/shared/retention"
	"github.com/holdfast/holdfast/shared/tenant"
)

// ErrBadRequest marks an admin operation the case does not allow.
// Callers that do not import the engine (the dashboard) recognise it by
// its BadRequest method.
var ErrBadRequest error = badRequest{}

type badRequest struct{}

func (badRequest) Error() string    { return "bad request" }
func (badRequest) BadRequest() bool { return true }

// FindCase resolves an admin's reference, a case key or a UPN, to a case
// key: the key itself, holdfast's UPN index (deleted users' UPNs are
// rewritten in the directory), then the directory.
func (e *Engine) FindCase(ctx context.Context, ref string) (string, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return "", fmt.Errorf("empty case reference: %w", ErrBadRequest)
	}
	if !strings.Contains(ref, "@") {
		if _, err := e.d.Store.LoadCase(ctx, ref); err == nil {
			return ref, nil
		} else if !errors.Is(err, ledger.ErrNotFound) && !errors.Is(err, ledger.ErrInvalidKey) {
			return "", err
		}
		return "", fmt.Errorf("no case %s: %w", ref, tenant.ErrNotFound)
	}
	key, err := e.d.Store.LookupIndex(ctx, "upn", ref)
	if err == nil {
		return key, nil
	}
	if !errors.Is(err, ledger.ErrNotFound) {
		return "", err
	}
	u, err := e.d.Directory.GetUser(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("no case for %s: %w", ref, err)
	}
	return retention.CaseKey(e.d.TenantID, u.ID), nil
}

// adminOp runs fn on a case under compare-and-swap, audited as actor.
func (e *Engine) adminOp(ctx context.Context, ref, actor string, fn func(r *record, t *tx) error) (retention.Case, error) {
	key, err := e.FindCase(ctx, ref)
	if err != nil {
		return retention.Case{}, err
	}
	r, err := e.transact(ctx, &unit{
		key: key, actor: "admin:" + actor, kick: true,
		decide: func(ctx context.Context, r *record, t *tx) (verdict, error) {
			if err := fn(r, t); err != nil {
				if planned, _ := e.observed(r, t, StepAdmin, err); !planned {
					return skipCommit, err
				}
			}
			e.reviewPlanned(r, t)
			return commitCase, nil
		},
	})
	switch {
	case errors.Is(err, errNoCase):
		return retention.Case{}, fmt.Errorf("no case %s: %w", key, tenant.ErrNotFound)
	case r == nil:
		return retention.Case{}, err
	}
	return r.Case, err
}

// Release stops protecting a case: policy becomes release, the clock is
// still watched and warned, nothing is rescued. The reason is audited.
func (e *Engine) Release(ctx context.Context, ref, reason, actor string) (retention.Case, error) {
	if strings.TrimSpace(reason) == "" {
		return retention.Case{}, fmt.Errorf("release needs a reason for the audit: %w", ErrBadRequest)
	}
	return e.adminOp(ctx, ref, actor, func(r *record, t *tx) error {
		c := &r.Case
		if c.State == retention.StateRescuing {
			return fmt.Errorf("case is rescuing (restore requests running): %w", ErrBadRequest)
		}
		e.step(r, t, retention.Fact{Kind: retention.FactReleasedByAdmin, Actor: actor, Words: reason})
		return nil
	})
}

// RestoreTo copies a soft-deleted or inactive mailbox into target with
// New-MailboxRestoreRequest (the manual copy-to-archive); the sweep
// monitors it like an automatic one.
func (e *Engine) RestoreTo(ctx context.Context, ref, target, actor string) (retention.Case, error) {
	if !strings.Contains(target, "@") {
		return retention.Case{}, fmt.Errorf("target %q: want the UPN of a mailbox: %w", target, ErrBadRequest)
	}
	return e.adminOp(ctx, ref, actor, func(r *record, t *tx) error {
		c := &r.Case
		if err := e.refresh(ctx, r, t); err != nil {
			return err
		}
		switch {
		case c.MailboxPurgedAt != nil:
			return fmt.Errorf("the mailbox was purged: nothing to restore: %w", ErrBadRequest)
		case c.State == retention.StateRescuing:
			return fmt.Errorf("restore requests already running: %w", ErrBadRequest)
		case c.DeletedAt == nil && !c.MailboxInactive:
			return fmt.Errorf("the mailbox is active: New-MailboxRestoreRequest copies soft-deleted or inactive mailboxes: %w", ErrBadRequest)
		}
		e.step(r, t, retention.Fact{Kind: retention.FactRestoreRequested, Account: target, Actor: actor})
		return e.startRestore(ctx, r, t)
	})
}

// Recover runs the rehire path on demand: restore the user inside the
// 30-day window, or recover the inactive mailbox into a new account.
func (e *Engine) Recover(ctx context.Context, ref, upn, actor string) (retention.Case, error) {
	return e.adminOp(ctx, ref, actor, func(r *record, t *tx) error {
		c := &r.Case
		if err := e.refresh(ctx, r, t); err != nil {
			return err
		}
		if upn == "" {
			upn = c.UPN
		}
		t.log("recover", "ok", "recovery requested by "+actor)
		switch {
		case c.DeletedAt != nil && c.UserPurgedAt == nil && c.DeletionSource == retention.DeletedInExchange:
			wctx, rid := writeID(ctx)
			err := e.d.Exchange.UndoSoftDeletedMailbox(wctx, c.ExchangeGUID, c.UPN)
			if errors.Is(err, tenant.ErrNoSecureStringKey) {
				e.block(r, t, retention.BlockNeedsPowerShell, "the mailbox was removed in Exchange and only Undo-SoftDeletedMailbox brings it back; it "+noKeyWhy,
					"run in Exchange Online PowerShell: "+undoCommand(c.ExchangeGUID, c.UPN)+" ; then reset the account's password in Entra")
				return nil
			}
			if err != nil {
				return fmt.Errorf("Undo-SoftDeletedMailbox: %w", err)
			}
			t.log("undoSoftDelete", "ok", retention.NameRequest("mailbox removed in Exchange brought back there", rid))
		case c.DeletedAt != nil && c.UserPurgedAt == nil:
			wctx, rid := writeID(ctx)
			if _, err := e.d.Directory.RestoreDeletedUser(wctx, c.ObjectID); err != nil {
				return fmt.Errorf("restore user: %w", err)
			}
			t.log("restoreUser", "ok", retention.NameRequest("user restored from the recycle bin", rid))
		case c.MailboxInactive && c.MailboxPurgedAt == nil:
			return e.recoverInactive(ctx, r, upn, t)
		default:
			return fmt.Errorf("nothing to recover: the user is not deleted, or its mailbox is neither restorable nor inactive: %w", ErrBadRequest)
		}
		if err := e.refresh(ctx, r, t); err != nil {
			return err
		}
		e.settle(r, t)
		return nil
	})
}

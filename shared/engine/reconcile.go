package engine

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/holdfast/holdfast/shared/events"
	"github.com/holdfast/holdfast/shared/retention"
	"github.com/holdfast/holdfast/shared/store"
	"github.com/holdfast/holdfast/shared/tenant"
)

// ReconcileResult reports what an inventory of the tenant found.
type ReconcileResult struct {
	DeletedUsers int `json:"deletedUsers"`
	SoftDeleted  int `json:"softDeletedMailboxes"`
	Inactive     int `json:"inactiveMailboxes"`
	Unlicensed   int `json:"unlicensedMailboxes"`
	NewCases     int `json:"newCases"`
	Corrected    int `json:"correctedCases"`
	Unchanged    int `json:"unchanged"`
	PastSaving   int `json:"pastSaving"`
	Errors       int `json:"errors"`
	Elapsed      time.Duration
}

// count tallies one observed case.
func (r *ReconcileResult) count(out string, err error) {
	switch {
	case err != nil:
		r.Errors++
	case out == "new":
		r.NewCases++
	case out == "changed":
		r.Corrected++
	default:
		r.Unchanged++
	}
}

func (r ReconcileResult) String() string {
	return fmt.Sprintf("reconcile: %d deleted users, %d unlicensed, %d soft-deleted and %d inactive mailboxes; %d new cases, %d corrected, %d unchanged, %d past saving, %d errors in %s",
		r.DeletedUsers, r.Unlicensed, r.SoftDeleted, r.Inactive, r.NewCases, r.Corrected, r.Unchanged, r.PastSaving, r.Errors, r.Elapsed.Round(time.Millisecond))
}

// Progress is called as the inventory advances (for the CLI's display).
type Progress func(stage string, done int)

// Reconcile inventories deleted users and soft-deleted and inactive
// mailboxes, and opens or repairs a case for each one no event announced:
// events get lost upstream. Deadlines come from the tenant's own
// timestamps. Re-running it is harmless: each user is observed, not
// replayed.
func (e *Engine) Reconcile(ctx context.Context, progress Progress) (ReconcileResult, error) {
	start := time.Now()
	var res ReconcileResult
	if progress == nil {
		progress = func(string, int) {}
	}
	seen := map[string]bool{}
	observe := func(objectID string) {
		objectID = strings.ToLower(objectID)
		if objectID == "" || seen[objectID] {
			return
		}
		seen[objectID] = true
		out, err := e.Observe(ctx, objectID, "reconcile")
		res.count(out, err)
	}
	err := e.d.Directory.ListDeletedUsers(ctx, func(u tenant.User) error {
		res.DeletedUsers++
		observe(u.ID)
		progress("deleted users", res.DeletedUsers)
		return ctx.Err()
	})
	if err != nil {
		return res, fmt.Errorf("list deleted users: %w", err)
	}
	// A mailbox whose user was purged from the directory no longer names
	// it (ExternalDirectoryObjectId is empty): such a case is keyed by the
	// mailbox's ExchangeGuid, unless an earlier case already owns it.
	orphan := func(m tenant.Mailbox) {
		if m.ExchangeGUID == "" || seen["mbx:"+strings.ToLower(m.ExchangeGUID)] {
			return
		}
		seen["mbx:"+strings.ToLower(m.ExchangeGUID)] = true
		key, err := e.d.Store.LookupIndex(ctx, "exchangeGuid", m.ExchangeGUID)
		if err == nil {
			if _, id, ok := strings.Cut(key, "_"); ok {
				observe(id)
				return
			}
		}
		out, err := e.observe(ctx, strings.ToLower(m.ExchangeGUID), "reconcile", func(c *retention.Case) {
			c.ExchangeGUID, c.DistinguishedName = m.ExchangeGUID, m.DistinguishedName
			c.UPN = m.UserPrincipalName
			if c.UPN == "" {
				c.UPN = m.PrimarySMTPAddress
			}
		})
		res.count(out, err)
	}
	// Licence removals whose notification was lost: an active mailbox whose
	// user holds no licence is in its grace period. One paged read of each
	// side, not a call per user.
	withMailbox := map[string]bool{}
	err = e.d.Exchange.ListMailboxes(ctx, tenant.ScopeActive, func(m tenant.Mailbox) error {
		if m.ExternalDirectoryObjectID != "" {
			withMailbox[strings.ToLower(m.ExternalDirectoryObjectID)] = true
		}
		return ctx.Err()
	})
	if err != nil {
		return res, fmt.Errorf("list mailboxes: %w", err)
	}
	err = e.d.Directory.ListUsers(ctx, func(u tenant.User) error {
		if len(u.AssignedSKUs) == 0 && withMailbox[strings.ToLower(u.ID)] {
			res.Unlicensed++
			observe(u.ID)
			progress("unlicensed mailboxes", res.Unlicensed)
		} else if len(u.AssignedSKUs) == 0 && e.tracksMailbox(ctx, u.ID) {
			// An unlicensed user whose tracked mailbox is gone from the
			// active list: a held mailbox whose hold was removed after the
			// licence grace is purged at once, with no notification.
			observe(u.ID)
		}
		return ctx.Err()
	})
	if err != nil {
		return res, fmt.Errorf("list users: %w", err)
	}
	for _, inv := range []struct {
		scope tenant.MailboxScope
		count *int
		stage string
	}{
		{tenant.ScopeSoftDeleted, &res.SoftDeleted, "soft-deleted mailboxes"},
		{tenant.ScopeInactiveOnly, &res.Inactive, "inactive mailboxes"},
	} {
		err = e.d.Exchange.ListMailboxes(ctx, inv.scope, func(m tenant.Mailbox) error {
			*inv.count++
			if m.ExternalDirectoryObjectID == "" {
				orphan(m)
			}
			observe(m.ExternalDirectoryObjectID)
			progress(inv.stage, *inv.count)
			return ctx.Err()
		})
		if err != nil {
			return res, fmt.Errorf("list %s: %w", inv.stage, err)
		}
	}
	now := e.d.Clock.Now()
	for id := range seen {
		id = strings.TrimPrefix(id, "mbx:")
		r, err := e.load(ctx, retention.CaseKey(e.d.TenantID, id))
		if err == nil && !r.isNew && (r.Case.State == retention.StatePurged ||
			(r.Case.Deadline != nil && retention.NeedsRescue(&r.Case) && !now.Before(r.Case.Deadline.Add(-time.Hour)))) {
			res.PastSaving++
		}
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// tracksMailbox reports whether an open case knows a mailbox for the user
// that it has not seen purged.
func (e *Engine) tracksMailbox(ctx context.Context, objectID string) bool {
	r, err := e.load(ctx, retention.CaseKey(e.d.TenantID, objectID))
	return err == nil && !r.isNew && !r.Case.State.Terminal() && r.Case.ExchangeGUID != "" && r.Case.MailboxPurgedAt == nil
}

// Observe re-reads one user and mailbox and opens or updates its case as a
// directory event would, without an event. It returns "new", "changed",
// "unchanged" or "none" (nothing at risk).
func (e *Engine) Observe(ctx context.Context, objectID, actor string) (string, error) {
	return e.observe(ctx, objectID, actor, nil)
}

// observe is Observe with seed filling in what a new case knows up front
// (a mailbox-only case knows its ExchangeGuid).
func (e *Engine) observe(ctx context.Context, objectID, actor string, seed func(*retention.Case)) (string, error) {
	key := retention.CaseKey(e.d.TenantID, objectID)
	for attempt := 0; attempt < maxAttempts; attempt++ {
		r, err := e.load(ctx, key)
		if err != nil {
			return "", err
		}
		now := e.d.Clock.Now()
		isNew := r.isNew
		if isNew {
			r.Case = retention.Case{Key: key, TenantID: e.d.TenantID, ObjectID: strings.ToLower(objectID), State: retention.StateTracking, OpenedAt: now}
			if seed != nil {
				seed(&r.Case)
			}
		}
		before := r.Case
		t := &tx{e: e, now: now, actor: actor}
		open, err := e.apply(ctx, r, events.Event{Kind: events.KindUserChanged}, t)
		if err != nil {
			return "", err
		}
		if !open {
			return "none", nil
		}
		// Any learned fact counts (a deletion that keeps the same deadline
		// is still news the case must keep).
		before.UpdatedAt = r.Case.UpdatedAt
		changed := isNew || !reflect.DeepEqual(before, r.Case)
		if !changed {
			return "unchanged", nil
		}
		if err := e.schedule(ctx, r, now); err != nil {
			return "", err
		}
		if err := e.kick(ctx, r, now); err != nil {
			return "", err
		}
		if err := e.index(ctx, r); err != nil {
			return "", err
		}
		err = e.save(ctx, r, t)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return "", err
		}
		e.flush(ctx, r, now)
		if isNew {
			return "new", nil
		}
		return "changed", nil
	}
	return "", fmt.Errorf("case %s: %w", key, store.ErrConflict)
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// Reject keeps an unreadable message as a rejected event.
func (e *Engine) Reject(ctx context.Context, m Message, code, reason string) (Outcome, error) {
	return e.reject(ctx, m, code, reason, "", e.d.Clock.Now())
}

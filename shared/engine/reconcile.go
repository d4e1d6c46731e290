package engine

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/holdfast/holdfast/shared/alert"
	"github.com/holdfast/holdfast/shared/events"
	"github.com/holdfast/holdfast/shared/retention"
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
	// UsersRead counts the active-user entries read from the directory
	// (a full list, or only a delta round's changes); UsersPass says which:
	// "list", "full" (a delta round from scratch, first run or expired
	// link) or "incremental".
	UsersRead int    `json:"usersRead"`
	UsersPass string `json:"usersPass"`
	Elapsed   time.Duration
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
	return fmt.Sprintf("reconcile: %d deleted users, %d unlicensed, %d soft-deleted and %d inactive mailboxes; %d new cases, %d corrected, %d unchanged, %d past saving, %d errors; %d users read (%s) in %s",
		r.DeletedUsers, r.Unlicensed, r.SoftDeleted, r.Inactive, r.NewCases, r.Corrected, r.Unchanged, r.PastSaving, r.Errors, r.UsersRead, r.UsersPass, r.Elapsed.Round(time.Millisecond))
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
	// user holds no licence is in its grace period. With a stored users
	// delta link only the users that changed since the last run are read;
	// otherwise one paged read of each side, not a call per user.
	if err := e.reconcileUsers(ctx, &res, observe, progress); err != nil {
		return res, err
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
	isNew := false
	_, err := e.transact(ctx, &unit{
		key: retention.CaseKey(e.d.TenantID, objectID), actor: actor, kick: true,
		open: true, objectID: strings.ToLower(objectID), seed: seed,
		decide: func(ctx context.Context, r *record, t *tx) (verdict, error) {
			isNew = r.isNew
			before := r.Case
			open, err := e.apply(ctx, r, events.Event{Kind: events.KindUserChanged}, t)
			if err != nil {
				return skipCommit, err
			}
			if !open {
				return skipCommit, nil
			}
			if isNew && actor == "reconcile" {
				// A leaver no event announced: the notification pipe lost it.
				// Queued on the case, so the alert survives a crash between the
				// commit and its delivery.
				e.alert(r, alert.Alert{ID: r.Case.Key + ":notificationGap", Kind: alert.KindNotificationGap, Severity: alert.SeverityWarning, At: t.now,
					Action: "Reconcile opened the case; it is protected like any other",
					Remedy: "no Graph notification announced this leaver: if no gap in the subscription is known (holdfast status) and holdfast was not just installed, check the Event Grid partner topic and its event subscription"})
			}
			// Any learned fact counts (a deletion that keeps the same deadline
			// is still news the case must keep).
			before.UpdatedAt = r.Case.UpdatedAt
			if !isNew && reflect.DeepEqual(before, r.Case) {
				return skipCommit, errUnchanged
			}
			return commitCase, nil
		},
	})
	switch {
	case errors.Is(err, errUnchanged):
		return "unchanged", nil
	case errors.Is(err, errSkipped):
		return "none", nil
	case err != nil:
		return "", err
	}
	if isNew {
		return "new", nil
	}
	return "changed", nil
}

// errUnchanged ends an observation that learned nothing new.
var errUnchanged = errors.New("unchanged")

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

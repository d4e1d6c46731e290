package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/holdfast/holdfast/shared/ledger"
	"github.com/holdfast/holdfast/shared/retention"
	"github.com/holdfast/holdfast/shared/tenant"
)

// deltaDirectory is the Graph users delta query; optional, so a Directory
// without it reconciles with full listings.
type deltaDirectory interface {
	UsersDelta(ctx context.Context, link string, fn func(tenant.DeltaUser) error) (string, error)
}

// stateStore keeps the delta link between runs; optional like deltaDirectory.
type stateStore interface {
	LoadState(ctx context.Context, name string) (ledger.StateRecord, error)
	SaveState(ctx context.Context, rec ledger.StateRecord) (string, error)
}

// DeltaStateName is the state row holding the users delta link.
const DeltaStateName = "usersDelta"

type deltaState struct {
	Link string `json:"link"`
}

// reconcileUsers finds unlicensed users who still have a mailbox. With a
// delta link from the last run it reads only the users that changed since
// (and observes those without a licence, and those that left); without
// one, or when Graph says the link expired, it lists every user and every
// active mailbox and stores a fresh link for next time.
func (e *Engine) reconcileUsers(ctx context.Context, res *ReconcileResult, observe func(string), progress Progress) error {
	dd, okD := e.d.Directory.(deltaDirectory)
	ss, okS := e.d.Store.(stateStore)
	if !okD || !okS {
		res.UsersPass = "list"
		_, err := e.reconcileUsersFull(ctx, res, observe, progress, func(fn func(tenant.DeltaUser) error) (string, error) {
			return "", e.d.Directory.ListUsers(ctx, func(u tenant.User) error { return fn(tenant.DeltaUser{User: u}) })
		})
		return err
	}
	rec, err := ss.LoadState(ctx, DeltaStateName)
	if err != nil {
		return fmt.Errorf("load delta link: %w", err)
	}
	var st deltaState
	if len(rec.Data) > 0 {
		if err := json.Unmarshal(rec.Data, &st); err != nil {
			st = deltaState{} // unreadable: start over, the safe side
		}
	}
	errorsBefore := res.Errors
	save := func(link string) error {
		if res.Errors > errorsBefore {
			// A changed user could not be observed: keep the old link so
			// the next run reads the same changes again.
			return nil
		}
		b, _ := json.Marshal(deltaState{Link: link})
		rec.Data = b
		_, err := ss.SaveState(ctx, rec)
		if errors.Is(err, ledger.ErrConflict) {
			return nil // a concurrent reconcile stored its own link; either will do
		}
		return err
	}
	if st.Link != "" {
		res.UsersPass = "incremental"
		link, err := dd.UsersDelta(ctx, st.Link, func(d tenant.DeltaUser) error {
			res.UsersRead++
			// A user that left the active set, or one without a licence,
			// may have a mailbox on a clock: observe reads both sides.
			if d.Removed != "" || len(d.User.AssignedSKUs) == 0 {
				res.Unlicensed++
				observe(d.User.ID)
				progress("changed users", res.UsersRead)
			}
			return ctx.Err()
		})
		switch {
		case errors.Is(err, tenant.ErrDeltaExpired):
			res.UsersRead = 0 // start over below
		case err != nil:
			return fmt.Errorf("users delta: %w", err)
		default:
			// Exchange-side changes (a hold removed from an unlicensed
			// mailbox purges it at once) leave the user unchanged in the
			// directory: re-read the mailboxes open cases track. This scales
			// with the open cases, not the tenant.
			if err := e.observeTracked(ctx, observe); err != nil {
				return err
			}
			return save(link)
		}
	}
	res.UsersPass = "full"
	link, err := e.reconcileUsersFull(ctx, res, observe, progress, func(fn func(tenant.DeltaUser) error) (string, error) {
		return dd.UsersDelta(ctx, "", fn)
	})
	if err != nil {
		return err
	}
	return save(link)
}

// reconcileUsersFull reads every active mailbox, then every user (through
// list), and observes the users without a licence who have a mailbox.
func (e *Engine) reconcileUsersFull(ctx context.Context, res *ReconcileResult, observe func(string), progress Progress,
	list func(func(tenant.DeltaUser) error) (string, error)) (string, error) {
	withMailbox := map[string]bool{}
	err := e.d.Exchange.ListMailboxes(ctx, tenant.ScopeActive, func(m tenant.Mailbox) error {
		if m.ExternalDirectoryObjectID != "" {
			withMailbox[strings.ToLower(m.ExternalDirectoryObjectID)] = true
		}
		return ctx.Err()
	})
	if err != nil {
		return "", fmt.Errorf("list mailboxes: %w", err)
	}
	link, err := list(func(d tenant.DeltaUser) error {
		res.UsersRead++
		u := d.User
		switch {
		case d.Removed != "" || len(u.AssignedSKUs) != 0:
		case withMailbox[strings.ToLower(u.ID)]:
			res.Unlicensed++
			observe(u.ID)
			progress("unlicensed mailboxes", res.Unlicensed)
		case e.tracksMailbox(ctx, u.ID):
			// An unlicensed user whose tracked mailbox is gone from the
			// active list: a held mailbox whose hold was removed after the
			// licence grace is purged at once, with no notification.
			observe(u.ID)
		}
		return ctx.Err()
	})
	if err != nil {
		return "", fmt.Errorf("list users: %w", err)
	}
	return link, nil
}

// caseLister lists the stored cases; optional like stateStore.
type caseLister interface {
	ListCases(ctx context.Context, fn func(ledger.CaseRecord) error) error
}

// observeTracked observes the user of every case retention.Watched says
// may change unannounced and that tracks a mailbox not known to be purged
// (what the full pass finds through its listing of every user).
func (e *Engine) observeTracked(ctx context.Context, observe func(string)) error {
	cl, ok := e.d.Store.(caseLister)
	if !ok {
		return nil
	}
	var ids []string
	err := cl.ListCases(ctx, func(c ledger.CaseRecord) error {
		if _, id, ok := strings.Cut(c.Key, "_"); ok {
			ids = append(ids, id)
		}
		return ctx.Err()
	})
	if err != nil {
		return fmt.Errorf("list cases: %w", err)
	}
	for _, id := range ids {
		r, err := e.load(ctx, retention.CaseKey(e.d.TenantID, id))
		if err != nil || r.isNew {
			continue
		}
		c := r.Case
		// Mailbox-only cases (keyed by ExchangeGuid, user purged) are the
		// soft-deleted and inactive listings' business.
		if !retention.Watched(&c) || c.ExchangeGUID == "" || strings.EqualFold(c.ObjectID, c.ExchangeGUID) {
			continue
		}
		observe(c.ObjectID)
	}
	return nil
}

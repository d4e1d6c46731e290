package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/ledger"
	"github.com/holdfast/holdfast/shared/retention"
	"github.com/holdfast/holdfast/shared/tenant"
)

// SweepResult counts what one sweep did.
type SweepResult struct {
	Due       int // timers read
	Processed int // cases worked on
	Skipped   int // leased by another instance
	Failed    int
}

// maxPerSweep bounds one sweep's work so it finishes inside the function
// timeout; what is left stays due for the next sweep.
const maxPerSweep = 2000

// leaseFor is how long a sweeping instance owns a case. Longer than any
// single case's work, shorter than the sweep interval.
const leaseFor = 2 * time.Minute

// sweepWorkers is how many cases one sweep works at once. A confirmation
// is one Exchange request between six or so table round trips, so it
// waits on the store far more than on Exchange: at 8 a layoff's sweep
// confirmed about 90-135 holds/s against a 100/s budget on a 2-core
// machine, at 16 about 190/s, keeping up with the budget with room for a
// loaded machine (docs/performance.md). The Exchange pacer, not this
// number, keeps the sweep within the budget.
const sweepWorkers = 16

// Sweep processes every due timer: confirms holds, sends warnings, starts
// rescues and checks deadlines. Two instances may sweep at once: a lease on
// the case makes sure only one acts.
func (e *Engine) Sweep(ctx context.Context) (SweepResult, error) {
	var res SweepResult
	now := e.d.Clock.Now()
	var due []ledger.Timer
	err := e.d.Store.DueTimers(ctx, now, maxPerSweep, func(t ledger.Timer) error {
		due = append(due, t)
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("read due timers: %w", err)
	}
	res.Due = len(due)
	// Cases are worked sweepWorkers at a time: one after another, a sweep
	// of thousands of hold confirmations (a layoff) runs far below the
	// Exchange budget the pacer allows. Timers of one case stay with one
	// worker, in due order.
	byCase := map[string][]ledger.Timer{}
	var order []string
	for _, t := range due {
		if _, seen := byCase[t.CaseKey]; !seen {
			order = append(order, t.CaseKey)
		}
		byCase[t.CaseKey] = append(byCase[t.CaseKey], t)
	}
	var mu sync.Mutex
	keys := make(chan string)
	var wg sync.WaitGroup
	for range min(sweepWorkers, len(order)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for key := range keys {
				err := e.work(ctx, key)
				mu.Lock()
				switch {
				case errors.Is(err, errLeased):
					res.Skipped++
				case err != nil:
					res.Failed++
				default:
					res.Processed++
				}
				mu.Unlock()
				if err != nil {
					if !errors.Is(err, errLeased) {
						zerolog.Ctx(ctx).Error().Err(err).Str("caseKey", key).Msg("sweep: case failed")
					}
					continue // keep the timers: the owner may crash, or the next sweep retries
				}
				for _, t := range byCase[key] {
					if err := e.d.Store.DeleteTimer(ctx, t); err != nil && !errors.Is(err, ledger.ErrConflict) {
						zerolog.Ctx(ctx).Warn().Err(err).Msg("sweep: delete timer")
					}
				}
			}
		}()
	}
	for _, key := range order {
		if ctx.Err() != nil {
			break
		}
		keys <- key
	}
	close(keys)
	wg.Wait()
	return res, nil
}

var errLeased = errors.New("case leased by another instance")

// work runs the due plan of one case under a lease.
func (e *Engine) work(ctx context.Context, key string) error {
	var (
		acts       []retention.Action
		replayHold bool
		actErr     error
	)
	_, err := e.transact(ctx, &unit{
		key: key, actor: "sweep", lease: leaseOrSkip, once: true,
		prepare: func(ctx context.Context, r *record, lt *tx) (verdict, error) {
			now := lt.now
			acts = acts[:0] // prepare runs once per attempt
			pl := retention.PlanCase(&r.Case, e.d.Policy, now, len(r.Outbox))
			replayHold = r.pending(StepHold) && !r.Case.State.Terminal()
			if len(pl.Actions) == 0 && r.Rescue == nil && !replayHold {
				return skipCommit, e.schedule(ctx, r, now)
			}
			// What needs no call to the tenant is decided in the lease's
			// write, so a crash after it loses neither a warning (queued in
			// the outbox) nor the fact that a rescue was under way.
			for _, a := range pl.Actions {
				switch a.Kind {
				case retention.ActWarn:
					if err := e.act(ctx, r, a, lt); err != nil {
						return skipCommit, err
					}
					continue
				case retention.ActRescue:
					if r.Rescue == nil && r.Case.Deadline != nil {
						r.Rescue = &rescueIntent{At: now, Deadline: *r.Case.Deadline}
					}
				}
				acts = append(acts, a)
			}
			return commitCase, nil
		},
		decide: func(ctx context.Context, r *record, t *tx) (verdict, error) {
			actErr = e.sweepActs(ctx, r, t, acts, replayHold)
			if actErr != nil {
				// Make sure a retry is scheduled even if the plan has no wake.
				if err := e.d.Store.PutTimer(ctx, ledger.Timer{CaseKey: key, Kind: "wake", DueAt: t.now.Add(retention.RetryInterval)}); err != nil {
					return skipCommit, err
				}
			}
			return commitCase, nil
		},
	})
	switch {
	case errors.Is(err, errSkipped), errors.Is(err, errNoCase):
		return nil // nothing due (rescheduled), or a timer for a case that was never committed
	case err != nil:
		return err
	}
	return actErr
}

// sweepActs performs a sweep's due actions on a leased case and records
// the outcome: a failure is counted (and alerted once the case is
// failing), an observe-only write is planned rather than failed. It
// returns the failure, which the sweep commits and then reports.
func (e *Engine) sweepActs(ctx context.Context, r *record, t *tx, acts []retention.Action, replayHold bool) error {
	var actErr error
	step, snap := StepRescue, r.snapshot(t)
	if r.Rescue != nil && !slices.ContainsFunc(acts, func(a retention.Action) bool { return a.Kind == retention.ActRescue }) {
		// A rescue whose attempt was cut off, and whose case an event has
		// since settled (the rescue's own notifications): record it.
		if err := e.refresh(ctx, r, t); err != nil {
			actErr = err
		} else {
			actErr = e.finishRescue(ctx, r, t)
		}
	}
	for _, a := range acts {
		if actErr != nil {
			break
		}
		if err := e.act(ctx, r, a, t); err != nil {
			actErr, step = err, stepOf(a.Kind)
			break
		}
	}
	if actErr == nil && replayHold {
		// A hold observe-only mode planned: place it now if still needed.
		step = StepHold
		if actErr = e.refresh(ctx, r, t); actErr == nil {
			e.reviewPlanned(r, t)
			if r.pending(StepHold) {
				actErr = e.protect(ctx, r, t)
			}
		}
	}
	if planned, repeat := e.observed(r, t, step, actErr); planned {
		// Planned, not failed: no failure count, no retry storm; the
		// case is looked at again every observeRecheck.
		if actErr = nil; repeat {
			r.rollback(snap, t)
		}
	}
	e.reviewPlanned(r, t)
	if actErr != nil {
		e.step(r, t, retention.Fact{Kind: retention.FactSweepFailed, Words: actErr.Error()})
	} else {
		e.step(r, t, retention.Fact{Kind: retention.FactSweepSucceeded})
		r.Rescue = nil
	}
	return actErr
}

func (e *Engine) act(ctx context.Context, r *record, a retention.Action, t *tx) error {
	c := &r.Case
	switch a.Kind {
	case retention.ActFlushAlerts:
		return nil // flush runs after the commit
	case retention.ActConfirmHold:
		return e.confirmHold(ctx, r, t)
	case retention.ActWarn:
		e.step(r, t, retention.Fact{Kind: retention.FactWarned, Action: a})
		return nil
	case retention.ActRescue:
		return e.rescue(ctx, r, t)
	case retention.ActMonitorRestore:
		return e.monitorRestore(ctx, r, t)
	case retention.ActRecheck:
		if err := e.refresh(ctx, r, t); err != nil {
			return err
		}
		e.settle(r, t)
		return nil
	case retention.ActCheckDeadline:
		if err := e.refresh(ctx, r, t); err != nil {
			return err
		}
		if c.Deadline != nil && !t.now.Before(*c.Deadline) && c.MailboxPurgedAt == nil {
			// Past the deadline and still there: Microsoft 365 purges
			// lazily; look again soon.
			t.log("checkDeadline", "pending", "deadline passed; mailbox still present")
			d := t.now.Add(time.Hour)
			return e.d.Store.PutTimer(ctx, ledger.Timer{CaseKey: c.Key, Kind: "wake", DueAt: d})
		}
		e.settle(r, t)
		return nil
	}
	return fmt.Errorf("unknown action %q", a.Kind)
}

func (e *Engine) confirmHold(ctx context.Context, r *record, t *tx) error {
	c := &r.Case
	id := c.ExchangeGUID
	if id == "" {
		id = c.UPN
	}
	mb, err := e.d.Exchange.GetMailbox(ctx, id, tenant.ScopeIncludeInactive)
	if errors.Is(err, tenant.ErrNotFound) {
		if err := e.refresh(ctx, r, t); err != nil {
			return err
		}
		e.settle(r, t)
		return nil
	}
	if err != nil {
		return fmt.Errorf("confirm hold: %w", err)
	}
	if !mb.LitigationHoldEnabled {
		e.step(r, t, retention.Fact{Kind: retention.FactHoldMissing})
		return e.protect(ctx, r, t)
	}
	m := reading(mb)
	e.step(r, t, retention.Fact{Kind: retention.FactHoldInEffect, Mailbox: &m})
	return nil
}

// rescue saves a retained mailbox whose clock runs out: bring the user or
// mailbox back from the same place it was deleted, give it a licence that
// includes Litigation Hold if it has none, then place the hold.
func (e *Engine) rescue(ctx context.Context, r *record, t *tx) error {
	c := &r.Case
	e.step(r, t, retention.Fact{Kind: retention.FactRescueBegun})
	// Act on what is true now, not on what the case last heard: a lost
	// notification may hide a deletion or a restore.
	if err := e.refresh(ctx, r, t); err != nil {
		return err
	}
	if !retention.NeedsRescue(c) {
		if err := e.finishRescue(ctx, r, t); err != nil {
			return err
		}
		e.settle(r, t)
		return nil
	}
	undoer, canUndo := e.d.Exchange.(AccountUndoer)
	switch {
	case canUndo && c.UserPurgedAt != nil && c.DeletionSource == retention.DeletedInExchange && c.ArchiveTarget == "" && c.ExchangeGUID != "" && c.UPN != "":
		// Same source, account gone: Exchange creates a new one.
		id, err := undoer.UndoSoftDeletedMailboxWithAccount(ctx, c.ExchangeGUID, c.UPN)
		if errors.Is(err, tenant.ErrNoSecureStringKey) {
			e.block(r, t, retention.BlockNeedsPowerShell, "the mailbox was removed in Exchange and its account is gone; only Undo-SoftDeletedMailbox with a new account brings it back, and it "+noKeyWhy,
				"before "+retention.DeadlineText(c)+", run in Exchange Online PowerShell: "+undoCommand(c.ExchangeGUID, c.UPN)+" ; then license the account, place Litigation Hold and reset its password")
			return nil
		}
		if err != nil {
			return fmt.Errorf("rescue: Undo-SoftDeletedMailbox -WindowsLiveID: %w", err)
		}
		id = strings.ToLower(id)
		if err := e.pointAt(ctx, id, c.Key); err != nil {
			return err
		}
		t.log("undoSoftDelete", "ok", "Undo-SoftDeletedMailbox -WindowsLiveID: mailbox removed in Exchange brought back into new account "+id)
		e.step(r, t, retention.Fact{Kind: retention.FactAccountRecreated, Account: id})
	case retention.CopyToArchive(c) && c.UnconfirmedSince != nil && t.now.Sub(*c.UnconfirmedSince) <= e.d.Policy.Lag():
		// Exchange does not show the mailbox as deleted yet (in no scope,
		// or still active): a copy needs it in the soft-deleted or
		// inactive scope, and it may yet turn out inactive (preserved).
		// The re-check reads again; the rescue stays due meanwhile.
		t.log("rescue", "pending", "copy-to-archive waits for Exchange to show the deleted mailbox (re-reading at "+c.RecheckAt.Format(time.RFC3339)+")")
		return nil
	case retention.CopyToArchive(c):
		// The user is gone for good, or policy prefers a copy: content
		// goes into the archive target, monitored by the sweep.
		return e.startRestore(ctx, r, t)
	case c.DeletedAt != nil && c.UserPurgedAt == nil && c.DeletionSource == retention.DeletedInExchange:
		// Same-source rule: a mailbox removed in Exchange comes back there.
		err := tenant.ErrNoSecureStringKey
		wctx, rid := writeID(ctx)
		if c.UPN != "" { // the WindowsLiveID; unknown, an admin must supply it
			err = e.d.Exchange.UndoSoftDeletedMailbox(wctx, c.ExchangeGUID, c.UPN)
		}
		if errors.Is(err, tenant.ErrNoSecureStringKey) {
			e.block(r, t, retention.BlockNeedsPowerShell, "the mailbox was removed in Exchange and only Undo-SoftDeletedMailbox brings it back; it "+noKeyWhy,
				"before "+retention.DeadlineText(c)+", run in Exchange Online PowerShell: "+undoCommand(c.ExchangeGUID, c.UPN)+" ; then reset the account's password in Entra")
			return nil
		}
		if err != nil {
			return fmt.Errorf("rescue: Undo-SoftDeletedMailbox: %w", err)
		}
		t.log("undoSoftDelete", "ok", retention.NameRequest("Undo-SoftDeletedMailbox: mailbox removed in Exchange brought back there", rid))
	case c.DeletedAt != nil && c.UserPurgedAt == nil:
		wctx, rid := writeID(ctx)
		if _, err := e.d.Directory.RestoreDeletedUser(wctx, c.ObjectID); err != nil && !errors.Is(err, tenant.ErrNotFound) {
			return fmt.Errorf("rescue: restore user: %w", err)
		}
		t.log("restoreUser", "ok", retention.NameRequest("user restored from the recycle bin", rid))
		wctx, rid = writeID(ctx)
		if err := e.d.Directory.SetAccountEnabled(wctx, c.ObjectID, false); err != nil {
			return fmt.Errorf("rescue: keep account disabled: %w", err)
		}
		t.log("disableAccount", "ok", retention.NameRequest("restored account kept disabled", rid))
	case c.DeletedAt == nil && c.LicenceRemovedAt != nil:
		// Licence grace: handled below.
	default:
		return fmt.Errorf("rescue: no rescue path for case in state %s", c.State)
	}
	e.step(r, t, retention.Fact{Kind: retention.FactAccountBack})
	if err := e.refresh(ctx, r, t); err != nil {
		return err
	}
	if !c.Licensed {
		skus := c.RemovedSKUs
		if len(skus) == 0 {
			sku, err := e.pickHoldSKU(ctx)
			if err != nil {
				return err
			}
			if sku == "" {
				e.block(r, t, retention.BlockNoLicenceUnits, "holdfast never saw which licence was removed and no licence that includes Litigation Hold has a free unit",
					"assign a licence that includes Exchange Online Plan 2 to the user")
				return nil
			}
			skus = []string{sku}
		}
		wctx, rid := writeID(ctx)
		if err := e.d.Directory.AssignLicenses(wctx, c.ObjectID, skus, nil); err != nil {
			if errors.Is(err, tenant.ErrNoLicenceUnits) {
				e.block(r, t, retention.BlockNoLicenceUnits, "no free licence unit to re-assign", "free or buy a licence unit; holdfast retries when the case is refreshed")
				return nil
			}
			return fmt.Errorf("rescue: re-assign licence: %w", err)
		}
		t.log("assignLicence", "ok", retention.NameRequest(fmt.Sprintf("re-assigned %d licence(s)", len(skus)), rid))
		e.step(r, t, retention.Fact{Kind: retention.FactLicenceAssigned})
		if err := e.refresh(ctx, r, t); err != nil {
			return err
		}
		if !c.Licensed {
			return errors.New("rescue: licence assigned but the user still shows none")
		}
	}
	return e.rescued(ctx, r, t, true)
}

// finishRescue completes the record of a rescue that an interrupted
// attempt carried out: the account is back although no commit says so (or
// an admin brought it back meanwhile). The record, the hold and the alert
// are finished rather than lost. A no-op without a pending intent.
func (e *Engine) finishRescue(ctx context.Context, r *record, t *tx) error {
	c := &r.Case
	if r.Rescue == nil || retention.NeedsRescue(c) || c.DeletedAt != nil || !c.Licensed ||
		c.RescuedAt != nil && !c.RescuedAt.Before(r.Rescue.At) {
		return nil
	}
	t.log("rescueFound", "ok", "account found restored and licensed: completing the rescue started at "+r.Rescue.At.Format(time.RFC3339))
	if err := e.rescued(ctx, r, t, false); err != nil {
		return err
	}
	e.settle(r, t)
	return nil
}

// rescued places the hold on a rescued account and records the rescue;
// again says this attempt brought the account back, so the hold is placed
// anew. The alert id names the episode by the deadline it beat, so a
// retried rescue cannot alert twice.
func (e *Engine) rescued(ctx context.Context, r *record, t *tx, again bool) error {
	at, episode := t.now, t.now
	if r.Rescue != nil {
		at, episode = r.Rescue.At, r.Rescue.Deadline
	}
	e.step(r, t, retention.Fact{Kind: retention.FactRescued, At: at, AccountBack: again})
	if err := e.protect(ctx, r, t); err != nil {
		return err
	}
	e.step(r, t, retention.Fact{Kind: retention.FactRescueRecorded, Episode: episode})
	return nil
}

// pickHoldSKU chooses a licence that includes Litigation Hold and has a free
// unit, for a user whose removed licence holdfast never saw.
func (e *Engine) pickHoldSKU(ctx context.Context) (string, error) {
	skus, err := e.d.Directory.SubscribedSKUs(ctx)
	if err != nil {
		return "", fmt.Errorf("rescue: read subscribed SKUs: %w", err)
	}
	for _, s := range skus {
		if retention.IncludesLitigationHold(s.SKUPartNumber) && s.Free() > 0 {
			return s.SKUID, nil
		}
	}
	return "", nil
}

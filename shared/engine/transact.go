package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/holdfast/holdfast/shared/ledger"
	"github.com/holdfast/holdfast/shared/retention"
)

// transact is the one commit pipeline every entry point goes through
// (events, sweeps, reconcile, admin operations):
//
//	load the case once → (lease) → decide → timer, index → commit
//	(compare-and-swap on the ETag; on a conflict, again from the load) → flush alerts
//
// What differs per entry point is in the unit: how a missing case starts,
// whether and how a lease is taken, and the decision itself. The decision
// may call the tenant; the pipeline does all the writing to the store.

// leaseMode says whether a unit leases its case before deciding.
type leaseMode int

const (
	// leaseNone: the final compare-and-swap is enough (the decision only
	// reads the tenant, or an admin is at the keyboard).
	leaseNone leaseMode = iota
	// leaseAndWait: an event that acts on the tenant. Another instance's lease
	// is waited for (up to leaseWait, then a redelivery is asked for),
	// unless this delivery takes it over (takesOver).
	leaseAndWait
	// leaseRespect: an event whose tenant writes wait for its commit
	// (deferred): it takes no lease of its own, but waits for another
	// instance's like leaseAndWait, so it never acts beside a sweep's rescue.
	leaseRespect
	// leaseOrSkip: a sweep. Another instance's lease, or losing the race for
	// it, means the other instance works the case (errLeased).
	leaseOrSkip
)

// verdict is what a unit's decision asks of the pipeline.
type verdict int

const (
	// commitCase writes the case (and its timer and index rows) and flushes.
	commitCase verdict = iota
	// skipCommit ends the unit without writing the case (a lease taken
	// for it is dropped again).
	skipCommit
)

// errSkipped is returned by transact for a unit whose decision or prepare
// step asked for no commit.
var errSkipped = errors.New("nothing to commit")

// errNoCase is returned by transact for a missing case when the unit does
// not open one.
var errNoCase = errors.New("no such case")

// errDuplicate is returned by transact for an event the case already saw.
var errDuplicate = errors.New("event already applied")

// unit is one piece of work on one case.
type unit struct {
	key   string
	actor string
	// event, if set, is deduplicated against the case and committed with
	// a dedupe marker.
	event string
	// msg is the delivery an event lease is taken for.
	msg   Message
	lease leaseMode
	// insertFirst decides on a new case without reading first, and commits
	// it as an insert: an HR decision usually opens its case, and the insert
	// both writes it and tells that it was new, saving the read. A conflict
	// means the case exists, and the unit starts over from a read. Only for
	// units whose decision does not write to the tenant before the commit.
	insertFirst bool
	// open says a missing case is opened (for objectID), and fills in what
	// a new case knows up front (seed, may be nil). false: a missing case
	// is errNoCase.
	open     bool
	objectID string
	seed     func(c *retention.Case)
	// prepare runs after the read, before the lease: it may end the unit
	// (skipCommit, nothing written) or decide what is committed with the
	// lease (lt), so that a crash after the lease loses none of it.
	prepare func(ctx context.Context, r *record, lt *tx) (verdict, error)
	// decide changes the case. An error ends the unit without a commit.
	decide func(ctx context.Context, r *record, t *tx) (verdict, error)
	// kick makes the next sweep take work an event left due now (not for
	// the sweep itself, whose failures are retried on RetryInterval).
	kick bool
	// once: a commit conflict is an error, not a reason to start over
	// (the sweep: the case moved on under its lease; the next sweep looks again).
	once bool
	// onConflict is told of each retry after a commit conflict.
	onConflict func(attempt int)
	// after runs once the case is committed, before alerts are flushed:
	// the tenant writes a decision deferred until its commit. It gets the
	// case as committed and as read before the decision (to decide again
	// should a deferred write fail) and returns the record to flush.
	after func(ctx context.Context, r, before *record) (*record, error)
}

// transact runs u on its case and returns the record as committed (or as
// last read, with errSkipped, errDuplicate or errNoCase).
func (e *Engine) transact(ctx context.Context, u *unit) (*record, error) {
	key := u.key
	guessNew := u.insertFirst
	waitUntil := time.Now().Add(leaseWait)
	backoff := 20 * time.Millisecond
	for attempt := 0; attempt < maxAttempts; attempt++ {
		var r *record
		if guessNew {
			r = &record{isNew: true}
		} else {
			var err error
			if r, err = e.load(ctx, key); err != nil {
				return nil, err
			}
		}
		if !r.isNew {
			key = r.Case.Key // an alias leads to its case
		}
		if u.event != "" && r.seen(u.event) {
			return r, errDuplicate
		}
		now := e.d.Clock.Now()
		if r.isNew {
			if !u.open {
				return r, fmt.Errorf("case %s: %w", key, errNoCase)
			}
			r.Case = retention.Case{Key: key, TenantID: e.d.TenantID, ObjectID: u.objectID, State: retention.StateTracking, OpenedAt: now}
			if u.seed != nil {
				u.seed(&r.Case)
			}
		}
		t := &tx{e: e, now: now, actor: u.actor, event: u.event}
		lt := &tx{e: e, now: now, actor: u.actor}
		if u.prepare != nil {
			v, err := u.prepare(ctx, r, lt)
			if err != nil {
				return r, err
			}
			if v == skipCommit {
				return r, errSkipped
			}
		}

		leased := false
		switch u.lease {
		case leaseAndWait, leaseRespect:
			if r.leasedByOther(e.d.Instance, now) && !r.takesOver(u.msg) {
				if time.Now().After(waitUntil) {
					return r, fmt.Errorf("case %s: %w", key, errLeased)
				}
				select {
				case <-time.After(backoff):
				case <-ctx.Done():
					return r, ctx.Err()
				}
				backoff = min(2*backoff, time.Second)
				attempt--
				continue
			}
			if u.lease == leaseRespect {
				break
			}
			until := now.Add(leaseFor)
			r.lease = lease{LeaseOwner: e.d.Instance, LeaseUntil: &until, LeaseMessage: u.msg.MessageID, LeaseDelivery: u.msg.DeliveryCount}
			lt.actor = "lease"
			if err := e.save(ctx, r, lt); err != nil {
				if errors.Is(err, ledger.ErrConflict) {
					continue
				}
				return r, fmt.Errorf("lease case %s: %w", key, err)
			}
			r.lease = lease{} // released by the commit below
			leased = true
		case leaseOrSkip:
			if r.leasedByOther(e.d.Instance, now) {
				return r, errLeased
			}
			until := now.Add(leaseFor)
			r.lease = lease{LeaseOwner: e.d.Instance, LeaseUntil: &until}
			if err := e.save(ctx, r, lt); err != nil {
				if errors.Is(err, ledger.ErrConflict) {
					return r, errLeased
				}
				return r, err
			}
			r.lease = lease{}
			leased = true
		}

		var before *record
		if u.after != nil {
			var err error
			if before, err = r.clone(); err != nil {
				return r, err
			}
		}
		v, err := u.decide(ctx, r, t)
		if err != nil || v == skipCommit {
			if leased {
				e.unlease(ctx, key)
			}
			if guessNew {
				// Decided on a case assumed new: before an error or "no case"
				// counts, read whether one exists after all.
				guessNew = false
				attempt--
				continue
			}
			if err != nil {
				return r, err
			}
			return r, errSkipped
		}
		if err := e.schedule(ctx, r, now); err != nil {
			return r, err
		}
		if u.kick {
			if err := e.kick(ctx, r, now); err != nil {
				return r, err
			}
		}
		if err := e.index(ctx, r); err != nil {
			return r, err
		}
		err = e.save(ctx, r, t)
		switch {
		case guessNew && (errors.Is(err, ledger.ErrConflict) || errors.Is(err, ledger.ErrDuplicateEvent)):
			// The case exists: read it, without using an attempt.
			guessNew = false
			attempt--
			continue
		case errors.Is(err, ledger.ErrConflict) && !u.once:
			if u.onConflict != nil {
				u.onConflict(attempt)
			}
			continue
		case errors.Is(err, ledger.ErrDuplicateEvent):
			return r, errDuplicate
		case err != nil:
			return r, fmt.Errorf("commit case %s: %w", key, err)
		}
		if u.after != nil {
			if r, err = u.after(ctx, r, before); err != nil {
				return r, err
			}
		}
		e.flush(ctx, r, now)
		return r, nil
	}
	return nil, fmt.Errorf("case %s: %w after %d attempts", key, ledger.ErrConflict, maxAttempts)
}

// clone returns a deep copy of r (through its stored form).
func (r *record) clone() (*record, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("copy case: %w", err)
	}
	var c record
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("copy case: %w", err)
	}
	c.etag, c.isNew, c.auditHead = r.etag, r.isNew, r.auditHead
	return &c, nil
}

package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/holdfast/holdfast/shared/retention"
	"github.com/holdfast/holdfast/shared/tenant"
)

// An HR offboarding's only tenant write is Litigation Hold, and it is
// deferred until the case is committed: the decision runs with the hold
// request recorded (deferredHolds), the commit (an insert for a new case,
// a compare-and-swap otherwise) decides which instance won, and only the
// winner sends the request. So the compare-and-swap is the lease: two
// deliveries of one event, or two events for one case, place one hold,
// without a lease write of their own (docs/architecture.md, "The commit
// pipeline").
//
// While the request is recorded, the decision reads the mailbox without
// the hold and records the hold as requested and not yet shown (the
// "verifyHold pending" path): the case is protecting, never safe to delete
// before the read at the end of the propagation window confirms the hold
// or places it again. Should the request fail once sent, the decision is
// taken again from the case as it was read, with Exchange's answer
// replayed (replayHolds), and committed on top: a licence without
// Litigation Hold blocks the case as before. A failure that leaves nothing
// to decide (a transient one past the client's retries) makes the case
// due again after retention.HoldResendDelay: that sweep reads the mailbox
// and sends the request again if the hold is not there.

// resendRecordTimeout bounds the writes that plan a lost request's resend.
const resendRecordTimeout = 30 * time.Second

// deferredHolds is the Exchange port of an offboarding decision.
type deferredHolds struct {
	Exchange
	reqs []tenant.HoldRequest
}

// SetLitigationHold records the request; sendHolds sends it.
func (d *deferredHolds) SetLitigationHold(_ context.Context, h tenant.HoldRequest) error {
	d.reqs = append(d.reqs, h)
	return nil
}

// replayHolds answers hold requests with the results they had when sent.
type replayHolds struct {
	Exchange
	results []error
	n       int
}

func (p *replayHolds) SetLitigationHold(ctx context.Context, h tenant.HoldRequest) error {
	if p.n < len(p.results) {
		p.n++
		return p.results[p.n-1]
	}
	return p.Exchange.SetLitigationHold(ctx, h)
}

// plansWrites reports whether x answers writes with planned writes
// (observe-only mode), where nothing is to be gained by deferring them.
func plansWrites(x Exchange) bool {
	p, ok := x.(interface{ PlansWrites() bool })
	return ok && p.PlansWrites()
}

// deferredAudit marks the hold requests a decision recorded in t since
// audit row from: they are sent once the transition is committed, so
// the trail must not call them done.
func deferredAudit(t *tx, from int) {
	for i := from; i < len(t.audit); i++ {
		if a := &t.audit[i]; a.Action == "placeHold" && a.Result == "ok" {
			a.Result, a.Detail = "requested", a.Detail+" (sent once this transition is committed)"
		}
	}
}

// with returns a copy of the engine that talks to Exchange through x.
func (e *Engine) with(x Exchange) *Engine {
	c := *e
	c.d.Exchange = x
	return &c
}

// sendHolds sends the hold requests a committed decision deferred. When
// one fails, decide is run again on a copy of the case as read (before),
// with the answers replayed, and committed over r; the committed record is
// returned.
func (e *Engine) sendHolds(ctx context.Context, d *deferredHolds, r, before *record, actor string,
	decide func(ctx context.Context, eng *Engine, r *record, t *tx) (verdict, error)) (*record, error) {
	if len(d.reqs) == 0 {
		return r, nil
	}
	results := make([]error, len(d.reqs))
	failed := false
	for i, h := range d.reqs {
		results[i] = e.d.Exchange.SetLitigationHold(ctx, h)
		failed = failed || results[i] != nil
	}
	if !failed {
		return r, nil
	}
	r2 := before
	r2.etag, r2.auditHead, r2.isNew = r.etag, r.auditHead, false
	// What the pipeline wrote with the first commit stays true.
	r2.SeenEvents, r2.TimerAt, r2.Indexed = r.SeenEvents, r.TimerAt, r.Indexed
	why := "Set-Mailbox, sent after the commit: " + errors.Join(results...).Error()
	t := &tx{e: e, now: e.d.Clock.Now(), actor: actor}
	t.log("placeHold", "failed", why)
	v, err := decide(ctx, e.with(&replayHolds{Exchange: e.d.Exchange, results: results}), r2, t)
	if err != nil || v == skipCommit {
		// Nothing to decide differently (a transient failure): the case
		// says the hold is requested and not yet shown; Step plans to send
		// it again shortly (FactHoldSendFailed), and the wake-up is
		// written with the audit.
		t := &tx{e: e, now: t.now, actor: actor}
		e.step(r, t, retention.Fact{Kind: retention.FactHoldSendFailed, Words: errors.Join(results...).Error()})
		// The invocation may have ended (its deadline is what cut the
		// request short); the process has not, and the resend is worth
		// two small writes.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), resendRecordTimeout)
		defer cancel()
		serr := e.schedule(wctx, r, t.now)
		if serr == nil {
			serr = e.save(wctx, r, t)
		}
		if serr != nil {
			err = errors.Join(err, serr)
		}
		return r, fmt.Errorf("hold for case %s failed after the commit: %w", r.Case.Key, errors.Join(err, errors.Join(results...)))
	}
	if err := e.schedule(ctx, r2, t.now); err != nil {
		return r, err
	}
	if err := e.index(ctx, r2); err != nil {
		return r, err
	}
	if err := e.save(ctx, r2, t); err != nil {
		return r, fmt.Errorf("record failed hold for case %s: %w", r.Case.Key, err)
	}
	return r2, nil
}

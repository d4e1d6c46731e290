package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/alert"
	"github.com/holdfast/holdfast/shared/clock"
	"github.com/holdfast/holdfast/shared/events"
	"github.com/holdfast/holdfast/shared/ledger"
	"github.com/holdfast/holdfast/shared/retention"
	"github.com/holdfast/holdfast/shared/tenant"
)

// Deps wires an Engine.
type Deps struct {
	TenantID string
	// ClientState, when set, must match the clientState of Graph change
	// notifications (the subscription's shared secret).
	ClientState string
	Directory   Directory
	Exchange    Exchange
	Store       Store
	Alerts      Alerter
	Clock       clock.Clock
	Policy      retention.Policy
	Log         zerolog.Logger
	// Instance names this process in leases and audit rows.
	Instance string
}

// Engine handles events and sweeps. Safe for concurrent use; all state
// lives in the store.
type Engine struct {
	d Deps
	// sub, when set, owns holdfast's Graph subscription: it receives the
	// lifecycle notifications and hears of every Graph notification.
	sub SubscriptionWatcher
}

// SubscriptionWatcher is what the engine tells about holdfast's Graph
// subscription (package subscription implements it).
type SubscriptionWatcher interface {
	HandleLifecycle(ctx context.Context, lc events.Lifecycle) (string, error)
	Seen(ctx context.Context, t time.Time)
}

// WatchSubscription hands lifecycle notifications to w. Call it while
// wiring, before the engine handles messages; without a watcher lifecycle
// notifications are rejected with a reason.
func (e *Engine) WatchSubscription(w SubscriptionWatcher) { e.sub = w }

// New returns an engine.
func New(d Deps) *Engine {
	if d.Policy.MaxFailures == 0 {
		d.Policy.MaxFailures = 5
	}
	if d.Instance == "" {
		d.Instance = "holdfast"
	}
	// Leases name their owner; two processes on one host (or two engines
	// in one test) must not mistake each other's lease for their own.
	var b [4]byte
	_, _ = rand.Read(b[:])
	d.Instance += "/" + hex.EncodeToString(b[:])
	return &Engine{d: d}
}

// maxAttempts bounds compare-and-swap retries on a contended case.
const maxAttempts = 6

// seenEvents is how many recent event ids a case remembers for cheap
// duplicate detection; the dedupe marker row is the authority.
const seenEvents = 32

// record is what the store keeps as a case's data: the domain case plus
// the engine's own bookkeeping.
type record struct {
	Case       retention.Case `json:"case"`
	SeenEvents []string       `json:"seenEvents,omitempty"`
	Outbox     []alert.Alert  `json:"outbox,omitempty"`
	lease
	// Rescue is the write-ahead intent of a rescue (see rescueIntent).
	Rescue *rescueIntent `json:"rescue,omitempty"`
	// TimerAt is the due time of a wake-up timer this case wrote and
	// committed; while it is still ahead, a later wake-up needs no timer of
	// its own (the earlier one fires, and the sweep schedules the next).
	TimerAt *time.Time `json:"timerAt,omitempty"`
	// Indexed lists the user references already written to the index.
	Indexed []string `json:"indexed,omitempty"`
	// Planned lists the tenant writes observe-only mode did not perform.
	Planned []PlannedAction `json:"planned,omitempty"`
	etag    string
	isNew   bool
	// auditHead is the case's audit chain head, carried from load to
	// save so new audit rows extend the chain (ledger.CaseRecord.AuditHead).
	auditHead string
}

// rescueIntent is committed with the sweep's lease before a rescue's first
// call to the tenant and cleared by the commit after it. A crash in between
// leaves it behind, and the next attempt, finding the account already
// back, completes the rescue's record (audit, hold, alert) instead of
// losing it. Deadline names the rescue episode in the alert id.
type rescueIntent struct {
	At       time.Time `json:"at"`
	Deadline time.Time `json:"deadline"`
}

// lease is who works on a case until when; its fields sit flat in the
// stored record. The zero value is no lease.
type lease struct {
	LeaseOwner string     `json:"leaseOwner,omitempty"`
	LeaseUntil *time.Time `json:"leaseUntil,omitempty"`
	// LeaseMessage and LeaseDelivery name the delivery an HR-event lease
	// was taken for (see takesOver).
	LeaseMessage  string `json:"leaseMessage,omitempty"`
	LeaseDelivery int    `json:"leaseDelivery,omitempty"`
}

// leaseWait bounds how long an HR event waits for another instance's lease
// on its case before asking the host for a redelivery.
const leaseWait = 30 * time.Second

func (r *record) leasedByOther(me string, now time.Time) bool {
	return r.LeaseOwner != "" && r.LeaseOwner != me && r.LeaseUntil != nil && now.Before(*r.LeaseUntil)
}

// takesOver reports whether delivery m may take an HR-event lease held by
// another instance: Service Bus redelivers a message with a higher
// DeliveryCount only once the earlier delivery's lock is gone (its
// instance crashed, timed out or abandoned it), so that instance no longer
// owns the work. Waiting out the lease instead would stall every
// redelivery after a crash for the lease's whole term.
func (r *record) takesOver(m Message) bool {
	return m.MessageID != "" && r.LeaseMessage == m.MessageID && m.DeliveryCount > r.LeaseDelivery
}

// unlease drops this instance's lease after a failed attempt, so a
// redelivery need not wait for it to expire. Best effort: it expires anyway.
func (e *Engine) unlease(ctx context.Context, key string) {
	r, err := e.load(ctx, key)
	if err != nil || r.isNew || r.LeaseOwner != e.d.Instance {
		return
	}
	r.lease = lease{}
	_ = e.save(ctx, r, &tx{e: e, now: e.d.Clock.Now(), actor: "lease"})
}

func (r *record) seen(id string) bool {
	for _, s := range r.SeenEvents {
		if s == id {
			return true
		}
	}
	return false
}

func (r *record) remember(id string) {
	r.SeenEvents = append(r.SeenEvents, id)
	if len(r.SeenEvents) > seenEvents {
		r.SeenEvents = r.SeenEvents[len(r.SeenEvents)-seenEvents:]
	}
}

func (e *Engine) load(ctx context.Context, key string) (*record, error) {
	rec, err := e.d.Store.LoadCase(ctx, key)
	if errors.Is(err, ledger.ErrNotFound) {
		return &record{isNew: true}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load case %s: %w", key, err)
	}
	var r record
	if err := json.Unmarshal(rec.Data, &r); err != nil {
		return nil, fmt.Errorf("decode case %s: %w", key, err)
	}
	r.Case.UpgradeLegacy()
	r.etag, r.auditHead = rec.ETag, rec.AuditHead
	return &r, nil
}

// tx collects what one transition writes: audit rows and the event id.
type tx struct {
	e     *Engine
	now   time.Time
	audit []ledger.AuditRecord
	actor string
	event string
	// user is a reading of the case's user taken by this invocation just
	// before (resolveUser); refresh uses it once instead of reading again.
	user *tenant.User
}

// takeUser returns the reading of objectID's user this transition was
// handed, once.
func (t *tx) takeUser(objectID string) *tenant.User {
	u := t.user
	t.user = nil
	if u == nil || !strings.EqualFold(u.ID, objectID) {
		return nil
	}
	return u
}

// maxDetail bounds an audit row's text: service error messages can be
// long, and an over-size property would make the whole commit fail.
const maxDetail = 4000

// writeID returns ctx carrying a new client-request-id for one tenant
// write, and the id. The audit row that records the write names it
// (retention.NameRequest), so the evidence can be matched with Microsoft's own logs;
// the adapters send it on every attempt (tenant.WithRequestID).
func writeID(ctx context.Context) (context.Context, string) {
	id := uuid.NewString()
	return tenant.WithRequestID(ctx, id), id
}

func (t *tx) log(action, result, detail string) {
	if len(detail) > maxDetail {
		detail = detail[:maxDetail] + "…"
	}
	t.audit = append(t.audit, ledger.AuditRecord{
		At: t.now, Seq: len(t.audit), Actor: t.actor, Action: action, Detail: detail, EventID: t.event, Result: result,
	})
}

func (e *Engine) save(ctx context.Context, r *record, t *tx) error {
	c := &r.Case
	c.UpdatedAt = t.now
	if t.event != "" {
		r.remember(t.event)
	}
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode case: %w", err)
	}
	for i := range t.audit {
		t.audit[i].CaseKey = c.Key
	}
	var dl time.Time
	if c.Deadline != nil {
		dl = *c.Deadline
	}
	etag := r.etag
	if r.isNew {
		etag = ""
	}
	newTag, err := e.d.Store.Commit(ctx, ledger.Commit{
		Case:    ledger.CaseRecord{Key: c.Key, Data: data, State: string(c.State), UPN: c.UPN, Deadline: dl, ETag: etag, AuditHead: r.auditHead},
		Audit:   t.audit,
		EventID: t.event,
	})
	if err != nil {
		return err
	}
	r.etag, r.isNew = newTag, false
	if n := len(t.audit); n > 0 {
		r.auditHead = t.audit[n-1].Hash // Commit filled it
	}
	return nil
}

// schedule writes a timer for the case's next wake-up. Written before the
// commit that needs it: a timer without a matching need is a harmless no-op
// when it fires, while a commit without its timer would be forgotten.
func (e *Engine) schedule(ctx context.Context, r *record, now time.Time) error {
	pl := retention.PlanCase(&r.Case, e.d.Policy, now, len(r.Outbox))
	var next time.Time
	for _, w := range pl.Wake {
		if w.After(now) {
			next = w
			break
		}
	}
	if len(r.Outbox) > 0 || r.Case.State == retention.StateFailing || r.Rescue != nil {
		retry := now.Add(retention.RetryInterval)
		if next.IsZero() || retry.Before(next) {
			next = retry
		}
	}
	if r.needsRecheck() {
		if at := now.Add(observeRecheck); next.IsZero() || at.Before(next) {
			next = at
		}
	}
	if next.IsZero() {
		return nil
	}
	if r.TimerAt != nil && r.TimerAt.After(now.Add(timerSlack)) && !r.TimerAt.After(next) {
		// A timer at or before next is still pending: it wakes the case,
		// and the sweep then schedules next. A timer is only deleted by a
		// sweep that found it due, so one still ahead by more than the
		// slack (clock skew between instances) exists.
		return nil
	}
	if err := e.d.Store.PutTimer(ctx, ledger.Timer{CaseKey: r.Case.Key, Kind: "wake", DueAt: next}); err != nil {
		return fmt.Errorf("schedule %s: %w", r.Case.Key, err)
	}
	r.TimerAt = &next
	return nil
}

// timerSlack is how far ahead a known timer must be to be trusted as
// still pending: more than any clock skew between instances.
const timerSlack = time.Minute

// kick makes the next sweep work a case an event or a reconcile left with
// work due now (a rescue that cannot wait, such as a user purged from the
// recycle bin): schedule only covers future wake-ups. Not used by the
// sweep itself, whose failures are retried on RetryInterval.
func (e *Engine) kick(ctx context.Context, r *record, now time.Time) error {
	for _, a := range retention.PlanCase(&r.Case, e.d.Policy, now, 0).Actions {
		if a.Kind == retention.ActRescue || a.Kind == retention.ActMonitorRestore || a.Kind == retention.ActConfirmHold || a.Kind == retention.ActWarn {
			return e.d.Store.PutTimer(ctx, ledger.Timer{CaseKey: r.Case.Key, Kind: "wake", DueAt: now})
		}
	}
	return nil
}

// Outcome says what happened to one message.
type Outcome struct {
	Result  string // applied, duplicate, rejected, ignored
	CaseKey string
	State   string
	Reason  string
}

// Message is one Service Bus message as the engine needs it.
type Message struct {
	Queue         events.Queue
	Body          []byte
	MessageID     string
	DeliveryCount int
}

// HandleMessage decodes and applies one message. A nil error means the
// message may complete: bad input is rejected and kept, never retried. A
// non-nil error asks the host to redeliver (transient failure).
func (e *Engine) HandleMessage(ctx context.Context, m Message) (Outcome, error) {
	now := e.d.Clock.Now()
	ev, err := events.Decode(m.Queue, m.Body, events.Options{TenantID: e.d.TenantID, ClientState: e.d.ClientState, Now: now})
	if err != nil {
		var rej *events.Rejection
		if errors.As(err, &rej) {
			return e.reject(ctx, m, rej.Code, rej.Reason, rej.Field, now)
		}
		return e.reject(ctx, m, "invalid", err.Error(), "", now)
	}
	log := zerolog.Ctx(ctx).With().Str("eventId", ev.ID).Str("eventType", ev.Type).Logger()
	if ev.Kind == events.KindSubscriptionLifecycle {
		if e.sub == nil {
			return e.reject(ctx, m, events.CodeUnsupportedType, "Graph lifecycle notification, but holdfast manages no subscription here (HOLDFAST_GRAPH_NOTIFICATION_URL is empty): renew or recreate the subscription by hand, then run Reconcile", "type", now)
		}
		line, err := e.sub.HandleLifecycle(ctx, *ev.Lifecycle)
		if err != nil {
			// Not completed: Service Bus redelivers, and the timer retries too.
			return Outcome{}, fmt.Errorf("lifecycle %s for subscription %s: %w", ev.Lifecycle.Event, ev.Lifecycle.SubscriptionID, err)
		}
		return Outcome{Result: "lifecycle", Reason: line}, nil
	}
	if e.sub != nil && (ev.Kind == events.KindUserChanged || ev.Kind == events.KindUserPurged) {
		e.sub.Seen(ctx, now)
	}

	loc, err := e.resolveUser(ctx, ev)
	var nsu *NoSuchUserError
	if errors.As(err, &nsu) {
		return e.reject(ctx, m, CodeNoSuchUser, nsu.Error(), "data", now)
	}
	if errors.Is(err, tenant.ErrNotFound) {
		return e.reject(ctx, m, CodeNoSuchUser, "no user in the directory matches the event's user reference", "user", now)
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("resolve user: %w", err)
	}
	objectID := loc.objectID
	// decide applies the event to the case, through eng's ports.
	decide := func(ctx context.Context, eng *Engine, r *record, t *tx) (verdict, error) {
		if loc.where != PlaceActive {
			t.log("locate", "ok", "user found in "+string(loc.where)+" by "+loc.how)
		}
		// The reading that located the user is milliseconds old: the first
		// attempt's refresh uses it; a retry after a conflict reads again.
		t.user, loc.user = loc.user, nil
		open, err := eng.apply(ctx, r, ev, t)
		if planned, _ := e.observed(r, t, eventStep(ev.Kind), err); planned {
			open, err = true, nil
		}
		e.reviewPlanned(r, t)
		if err != nil {
			return skipCommit, err
		}
		if !open {
			return skipCommit, nil
		}
		return commitCase, nil
	}
	u := &unit{
		key: retention.CaseKey(e.d.TenantID, objectID), actor: "event:" + ev.Type, event: ev.ID, msg: m, kick: true,
		open: true, objectID: objectID, seed: loc.seed,
		decide: func(ctx context.Context, r *record, t *tx) (verdict, error) { return decide(ctx, e, r, t) },
		onConflict: func(attempt int) {
			log.Debug().Int("attempt", attempt).Msg("case changed underneath; retrying")
		},
	}
	switch {
	case ev.Kind == events.KindOffboarding && !plansWrites(e.d.Exchange):
		// The hold is sent once the case is committed (deferred.go): the
		// commit is the lease, and a new case is inserted without a read.
		// A user found anywhere but among the active ones (holdfast's own
		// index, the recycle bin, a mailbox) most likely has a case: read.
		holds := &deferredHolds{Exchange: e.d.Exchange}
		u.lease, u.insertFirst = leaseRespect, loc.where == PlaceActive
		u.decide = func(ctx context.Context, r *record, t *tx) (verdict, error) {
			holds.reqs = nil
			from := len(t.audit)
			v, err := decide(ctx, e.with(holds), r, t)
			deferredAudit(t, from)
			return v, err
		}
		u.after = func(ctx context.Context, r, before *record) (*record, error) {
			return e.sendHolds(ctx, holds, r, before, u.actor, decide)
		}
	case ev.Kind == events.KindOffboarding || ev.Kind == events.KindRehire:
		// A rehire acts on the tenant (restore, recovery) before its case
		// is committed (so does an offboarding in observe-only mode, where
		// its hold is planned at once): a lease makes sure only one
		// instance acts on a case at a time, so a message delivered to two
		// instances at once has one effect. Directory events only read the
		// tenant: the final compare-and-swap is enough for them.
		u.lease = leaseAndWait
	}
	// An account created by a recovery belongs to the case of the mailbox
	// it received: its case key is an alias of that case (pointAt), which
	// the read of the case follows.
	r, err := e.transact(ctx, u)
	switch {
	case errors.Is(err, errDuplicate):
		return Outcome{Result: "duplicate", CaseKey: r.Case.Key, State: string(r.Case.State)}, nil
	case errors.Is(err, errSkipped):
		log.Info().Str("caseKey", r.Case.Key).Msg("event needs no case")
		return Outcome{Result: "ignored", CaseKey: r.Case.Key, Reason: "nothing at risk for this user"}, nil
	case err != nil:
		return Outcome{}, err
	}
	log.Info().Str("caseKey", r.Case.Key).Str("state", string(r.Case.State)).Msg("event applied")
	return Outcome{Result: "applied", CaseKey: r.Case.Key, State: string(r.Case.State), Reason: r.Case.Reason}, nil
}

// pointAt makes events about objectID, an account a recovery created,
// find the case caseKey: the account's own case key becomes an alias of
// it, so the read every event makes anyway leads there. Should that key
// already hold a case (an event for the new account came first), the
// object id index row is written instead, which the locator consults.
func (e *Engine) pointAt(ctx context.Context, objectID, caseKey string) error {
	err := e.d.Store.PutAlias(ctx, retention.CaseKey(e.d.TenantID, objectID), caseKey)
	if errors.Is(err, ledger.ErrConflict) {
		return e.d.Store.PutIndex(ctx, ledger.IndexObjectID, objectID, caseKey)
	}
	return err
}

// index records the case's user references so later events that name a
// deleted user still find the case. Written before the commit, once per
// value: the ExchangeGuid once something is at risk or decided, the UPN and
// employee id once the user left the directory or the hold is in effect
// (while the user is active the directory resolves them itself). Index
// rows live in partitions of their own (one per value, so that a lookup is
// one read): they are the one write an event may add to its case's
// transaction, and only the first time a value is indexed. A protected mailbox is indexed (by the sweep that confirms the
// hold, not by the offboarding event) because, should its user be deleted
// and purged with the notifications lost, only its ExchangeGuid leads
// reconciliation back to the case.
func (e *Engine) index(ctx context.Context, r *record) error {
	c := &r.Case
	type ref struct {
		kind  ledger.IndexKind
		value string
	}
	refs := []ref{{ledger.IndexExchangeGUID, c.ExchangeGUID}}
	switch {
	case c.DeletedAt != nil || c.UserPurgedAt != nil || c.MailboxInactive || c.MailboxPurgedAt != nil || c.State == retention.StateProtected:
		refs = append(refs, ref{ledger.IndexUPN, c.UPN}, ref{ledger.IndexEmployeeID, c.EmployeeID})
	case c.Deadline != nil:
		// At risk while the user is still in the directory (a licence
		// removed): the directory resolves the UPN and employee id until
		// the user is deleted, and the deletion, by event or Reconcile,
		// writes them. The mailbox is owned at once (see below).
	case c.State == retention.StateReleased || c.State == retention.StateBlocked:
		// A decided case must own its mailbox at once: if the user is then
		// deleted and purged unannounced, Reconcile finds only the mailbox,
		// and without this row would open a second case with the default
		// policy (rescuing what HR released, or replaying the HR event).
	default:
		return nil
	}
	for _, ref := range refs {
		if ref.value == "" || r.Case.DeletedAt != nil && ref.kind == ledger.IndexUPN && !strings.Contains(ref.value, "@") {
			continue
		}
		tag := string(ref.kind) + ":" + strings.ToLower(ref.value)
		done := false
		for _, s := range r.Indexed {
			if s == tag {
				done = true
			}
		}
		if done {
			continue
		}
		if err := e.d.Store.PutIndex(ctx, ref.kind, ref.value, r.Case.Key); err != nil {
			return err
		}
		r.Indexed = append(r.Indexed, tag)
	}
	return nil
}

func (e *Engine) reject(ctx context.Context, m Message, code, reason, field string, now time.Time) (Outcome, error) {
	err := e.d.Store.Reject(ctx, ledger.RejectedEvent{
		Queue: string(m.Queue), Code: code, Reason: reason, Field: field, MessageID: m.MessageID, ReceivedAt: now, Body: m.Body,
	})
	if err != nil {
		// Not kept yet: ask for redelivery rather than lose it.
		return Outcome{}, fmt.Errorf("keep rejected event: %w", err)
	}
	zerolog.Ctx(ctx).Warn().Str("code", code).Str("reason", reason).Str("messageId", m.MessageID).Msg("event rejected")
	a := alert.Alert{
		ID: "rejected:" + m.MessageID + ":" + code, Kind: alert.KindRejectedEvent, Severity: "warning",
		State: "rejected", Action: "kept in the rejected-events table; no case changed",
		Remedy: "fix the publisher: " + reason, At: now,
		Details: map[string]string{"queue": string(m.Queue), "code": code, "field": field, "messageId": m.MessageID},
	}
	if first, err := e.d.Store.MarkOnce(ctx, ledger.OnceRejectedAlert, a.ID); err == nil && !first {
		// The same bad message again (republished or redelivered): kept
		// again above, but the admin was already told.
		return Outcome{Result: "rejected", Reason: reason}, nil
	}
	if err := e.d.Alerts.Send(ctx, a); err != nil {
		// The rejected row is the durable record; the alert is a courtesy.
		zerolog.Ctx(ctx).Warn().Err(err).Msg("rejected-event alert not delivered")
	}
	return Outcome{Result: "rejected", Reason: reason}, nil
}

// flush delivers queued alerts; what still fails stays in the outbox and
// the sweep retries it.
func (e *Engine) flush(ctx context.Context, r *record, now time.Time) {
	if len(r.Outbox) == 0 {
		return
	}
	var left []alert.Alert
	for _, a := range r.Outbox {
		if err := e.d.Alerts.Send(ctx, a); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Str("alertId", a.ID).Msg("alert delivery failed; will retry")
			left = append(left, a)
			continue
		}
		r.Case.MarkAlertSent(a.ID)
	}
	if len(left) == len(r.Outbox) {
		return
	}
	sent := len(r.Outbox) - len(left)
	r.Outbox = left
	t := &tx{e: e, now: now, actor: "alerts"}
	t.log("alertsDelivered", "ok", fmt.Sprintf("%d alert(s) delivered", sent))
	if err := e.save(ctx, r, t); err != nil {
		// A conflict means another writer has the case; the alerts went out
		// and a repeat is dropped downstream by alert id.
		zerolog.Ctx(ctx).Debug().Err(err).Msg("recording delivered alerts")
	}
}

// alert queues an alert on the case unless it was already sent.
func (e *Engine) alert(r *record, a alert.Alert) {
	if r.Case.AlertSent(a.ID) {
		return
	}
	for _, q := range r.Outbox {
		if q.ID == a.ID {
			return
		}
	}
	a.CaseKey, a.UPN, a.State = r.Case.Key, r.Case.UPN, string(r.Case.State)
	if r.Case.Deadline != nil && a.Deadline.IsZero() {
		a.Deadline = *r.Case.Deadline
	}
	r.Outbox = append(r.Outbox, a)
}

// Package subscription keeps holdfast's Microsoft Graph change-notification
// subscription on users alive: it creates it when none is live, renews it
// well before it expires, answers lifecycle notifications, and runs an
// immediate Reconcile over any gap in which notifications could have been
// missed. Its state (id, expiry, last renewal, last reconcile) is one row in
// Table Storage, written by compare-and-swap, so two instances never create
// two subscriptions: only the instance whose lease write wins may create.
package subscription

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/alert"
	"github.com/holdfast/holdfast/shared/engine"
	"github.com/holdfast/holdfast/shared/events"
	"github.com/holdfast/holdfast/shared/ledger"
	"github.com/holdfast/holdfast/shared/tenant"
)

// Limits of a subscription on users (Learn: "subscription resource type",
// subscription lifetime: 41,760 minutes for users and groups).
const (
	MaxLifetime = 41760 * time.Minute
	// lifetime asked for: an hour under the maximum so clock skew between
	// holdfast and Graph never makes Graph refuse it.
	lifetime = MaxLifetime - time.Hour
	// DefaultRenewBefore: renew once less than this is left, i.e. about
	// every three weeks, leaving a week for failed renewals to be retried
	// and alerted on.
	DefaultRenewBefore = 7 * 24 * time.Hour
	// DefaultAlertMargin: alert when the live subscription expires within
	// this (renewals have been failing for days).
	DefaultAlertMargin = 3 * 24 * time.Hour
	leaseFor           = 2 * time.Minute
	// seenEvery: a process records "notification seen" at most this often,
	// so the health figure costs one table write per interval, not per event.
	seenEvery = 10 * time.Minute
)

// State row names.
const (
	StateName = "graphSubscription"
	seenName  = "graphLastNotification"
)

// Alert kinds.
const (
	KindFailing  = "subscriptionFailing"     // creating or renewing failed
	KindExpiring = "subscriptionExpiring"    // the live subscription expires within the margin
	KindGap      = alert.KindNotificationGap // Reconcile found a leaver no notification announced (raised by the engine, per case)
)

// Graph is the part of Microsoft Graph the manager uses.
type Graph interface {
	CreateSubscription(ctx context.Context, s tenant.Subscription) (tenant.Subscription, error)
	ListSubscriptions(ctx context.Context) ([]tenant.Subscription, error)
	GetSubscription(ctx context.Context, id string) (tenant.Subscription, error)
	RenewSubscription(ctx context.Context, id string, until time.Time) (tenant.Subscription, error)
	ReauthorizeSubscription(ctx context.Context, id string) error
}

// Store keeps the state rows.
type Store interface {
	LoadState(ctx context.Context, name string) (ledger.StateRecord, error)
	SaveState(ctx context.Context, rec ledger.StateRecord) (string, error)
	PutState(ctx context.Context, rec ledger.StateRecord) error
}

// Reconciler runs an inventory of the tenant.
type Reconciler interface {
	Reconcile(ctx context.Context, progress engine.Progress) (engine.ReconcileResult, error)
}

// Alerter delivers alerts.
type Alerter interface {
	Send(ctx context.Context, a alert.Alert) error
}

// Options configure a Manager.
type Options struct {
	// NotificationURL is the Event Grid partner topic,
	// EventGrid:?azuresubscriptionid=…&resourcegroup=…&partnertopic=…&location=…;
	// also the lifecycleNotificationUrl. Empty: holdfast manages no
	// subscription (Status says so).
	NotificationURL string
	ClientState     string // the subscription's secret clientState
	RenewBefore     time.Duration
	AlertMargin     time.Duration
	Instance        string
}

// Deps are what a Manager works with.
type Deps struct {
	Graph      Graph
	Store      Store
	Reconciler Reconciler
	Alerts     Alerter
	Clock      interface{ Now() time.Time }
	Log        zerolog.Logger
}

// Record is the stored state of the subscription.
type Record struct {
	SubscriptionID   string     `json:"subscriptionId,omitempty"`
	Expires          *time.Time `json:"expires,omitempty"`
	CreatedAt        *time.Time `json:"createdAt,omitempty"`
	LastRenewal      *time.Time `json:"lastRenewal,omitempty"`
	Renewals         int        `json:"renewals"`
	Recreations      int        `json:"recreations"`
	LastFailure      string     `json:"lastFailure,omitempty"`
	LastFailureAt    *time.Time `json:"lastFailureAt,omitempty"`
	LastLifecycle    string     `json:"lastLifecycle,omitempty"`
	LastLifecycleAt  *time.Time `json:"lastLifecycleAt,omitempty"`
	LastReconcile    *time.Time `json:"lastReconcile,omitempty"`
	LastReconcileRes string     `json:"lastReconcileResult,omitempty"`
	// LastGap is the last window in which notifications could have been
	// missed, and was reconciled.
	LastGapFrom *time.Time `json:"lastGapFrom,omitempty"`
	LastGapTo   *time.Time `json:"lastGapTo,omitempty"`
	LeaseOwner  string     `json:"leaseOwner,omitempty"`
	LeaseUntil  *time.Time `json:"leaseUntil,omitempty"`
}

// Status is what health reports show: the record plus derived fields.
type Status struct {
	Record
	State            string     `json:"state"` // notConfigured, missing, live, expiring, failing
	LastNotification *time.Time `json:"lastNotification,omitempty"`
	ExpiresIn        string     `json:"expiresIn,omitempty"`
}

// Manager owns the subscription. It is safe for concurrent use.
type Manager struct {
	o Options
	d Deps

	mu       sync.Mutex
	lastSeen time.Time // last "notification seen" write by this process
}

// New returns a Manager.
func New(o Options, d Deps) *Manager {
	if o.RenewBefore <= 0 {
		o.RenewBefore = DefaultRenewBefore
	}
	if o.AlertMargin <= 0 {
		o.AlertMargin = DefaultAlertMargin
	}
	return &Manager{o: o, d: d}
}

// Configured reports whether holdfast manages a subscription.
func (m *Manager) Configured() bool { return m.o.NotificationURL != "" }

func ptr(t time.Time) *time.Time { return &t }

func (m *Manager) load(ctx context.Context) (Record, ledger.StateRecord, error) {
	raw, err := m.d.Store.LoadState(ctx, StateName)
	if err != nil {
		return Record{}, raw, err
	}
	var r Record
	if len(raw.Data) > 0 {
		if err := json.Unmarshal(raw.Data, &r); err != nil {
			return Record{}, raw, fmt.Errorf("subscription state: %w", err)
		}
	}
	return r, raw, nil
}

// save writes r over raw by compare-and-swap and returns the new version.
func (m *Manager) save(ctx context.Context, raw ledger.StateRecord, r Record) (ledger.StateRecord, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return raw, err
	}
	raw.Data = b
	tag, err := m.d.Store.SaveState(ctx, raw)
	if err != nil {
		return raw, err
	}
	raw.ETag = tag
	return raw, nil
}

// update applies fn to the stored record and saves it, reloading on a
// conflict (a few times: the writers are timers and lifecycle events).
func (m *Manager) update(ctx context.Context, fn func(*Record)) error {
	for attempt := 0; attempt < 5; attempt++ {
		r, raw, err := m.load(ctx)
		if err != nil {
			return err
		}
		fn(&r)
		if _, err = m.save(ctx, raw, r); !errors.Is(err, ledger.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("subscription state: %w", ledger.ErrConflict)
}

// Report says what one Ensure did.
type Report struct {
	Action    string // none, renewed, created, adopted, leased-elsewhere, failed, notConfigured
	Expires   time.Time
	Reconcile *engine.ReconcileResult
}

func (r Report) String() string {
	s := "subscription: " + r.Action
	if !r.Expires.IsZero() {
		s += ", expires " + r.Expires.UTC().Format(time.RFC3339)
	}
	if r.Reconcile != nil {
		s += "; gap reconciled: " + r.Reconcile.String()
	}
	return s
}

// Ensure is the timer's work: renew the live subscription when it is due,
// create one when none is live (and reconcile the gap), alert on failures
// and on an expiry inside the margin.
func (m *Manager) Ensure(ctx context.Context) (Report, error) {
	return m.ensure(ctx, false, "")
}

// ensure does Ensure; renewNow forces a renewal (reauthorizationRequired),
// goneID names a subscription Graph said it removed.
func (m *Manager) ensure(ctx context.Context, renewNow bool, goneID string) (Report, error) {
	if !m.Configured() {
		return Report{Action: "notConfigured"}, nil
	}
	log := m.d.Log
	r, raw, err := m.load(ctx)
	if err != nil {
		return Report{}, err
	}
	now := m.d.Clock.Now()
	// The moment notifications stopped, if they did: the missed window of
	// a gap runs from there to now.
	var gapFrom *time.Time
	if r.SubscriptionID != "" {
		if goneID != "" && strings.EqualFold(goneID, r.SubscriptionID) {
			gapFrom = ptr(now)
		} else {
			sub, err := m.d.Graph.GetSubscription(ctx, r.SubscriptionID)
			switch {
			case errors.Is(err, tenant.ErrNotFound):
				gapFrom = ptr(now)
				if r.Expires != nil && r.Expires.Before(now) {
					gapFrom = ptr(*r.Expires)
				}
				if r.LastRenewal != nil && gapFrom.Before(*r.LastRenewal) {
					gapFrom = ptr(*r.LastRenewal)
				}
			case err != nil:
				return m.failed(ctx, raw, r, now, "read the subscription", err)
			default:
				exp := sub.ExpirationDateTime
				if !renewNow && exp.Sub(now) > m.o.RenewBefore {
					return m.live(ctx, raw, r, now, exp, "none")
				}
				got, err := m.d.Graph.RenewSubscription(ctx, r.SubscriptionID, now.Add(lifetime))
				if errors.Is(err, tenant.ErrNotFound) {
					gapFrom = ptr(now)
					break
				}
				if err != nil {
					m.expiring(ctx, r.SubscriptionID, now, exp)
					if renewNow {
						// Reauthorize at least, so the flow goes on until the
						// next renewal attempt.
						if rerr := m.d.Graph.ReauthorizeSubscription(ctx, r.SubscriptionID); rerr == nil {
							log.Warn().Err(err).Msg("subscription renewal failed; reauthorized without renewing")
						}
					}
					return m.failed(ctx, raw, r, now, "renew the subscription", err)
				}
				r.Renewals++
				r.LastRenewal = ptr(now)
				r.LastFailure, r.LastFailureAt = "", nil
				return m.live(ctx, raw, r, now, got.ExpirationDateTime, "renewed")
			}
		}
	}
	// No live subscription: take the lease, then create (or adopt one a
	// crashed instance created after its lease but before its save).
	if r.LeaseOwner != "" && r.LeaseOwner != m.o.Instance && r.LeaseUntil != nil && now.Before(*r.LeaseUntil) {
		return Report{Action: "leased-elsewhere"}, nil
	}
	r.LeaseOwner, r.LeaseUntil = m.o.Instance, ptr(now.Add(leaseFor))
	raw, err = m.save(ctx, raw, r)
	if errors.Is(err, ledger.ErrConflict) {
		return Report{Action: "leased-elsewhere"}, nil
	}
	if err != nil {
		return Report{}, err
	}
	sub, action, err := m.createOrAdopt(ctx, now)
	r.LeaseOwner, r.LeaseUntil = "", nil
	if err != nil {
		return m.failed(ctx, raw, r, now, "create the subscription", err)
	}
	if r.SubscriptionID != "" || r.CreatedAt != nil {
		r.Recreations++
	}
	r.SubscriptionID, r.CreatedAt = sub.ID, ptr(now)
	r.LastFailure, r.LastFailureAt = "", nil
	if gapFrom == nil && r.LastReconcile == nil {
		// First subscription: the window before it is the whole past.
		gapFrom = ptr(now)
	}
	rep, err := m.live(ctx, raw, r, now, sub.ExpirationDateTime, action)
	if err != nil {
		return rep, err
	}
	if gapFrom != nil {
		res, err := m.reconcileGap(ctx, *gapFrom, now)
		if err != nil {
			return rep, fmt.Errorf("reconcile the gap: %w", err)
		}
		rep.Reconcile = &res
	}
	return rep, nil
}

func (m *Manager) createOrAdopt(ctx context.Context, now time.Time) (tenant.Subscription, string, error) {
	if list, err := m.d.Graph.ListSubscriptions(ctx); err == nil {
		for _, s := range list {
			if strings.EqualFold(strings.TrimPrefix(s.Resource, "/"), "users") && s.NotificationURL == m.o.NotificationURL &&
				s.ExpirationDateTime.After(now) {
				return s, "adopted", nil
			}
		}
	}
	sub, err := m.d.Graph.CreateSubscription(ctx, tenant.Subscription{
		Resource: "users", ChangeType: "updated,deleted", NotificationURL: m.o.NotificationURL,
		LifecycleURL: m.o.NotificationURL, ClientState: m.o.ClientState, ExpirationDateTime: now.Add(lifetime),
	})
	return sub, "created", err
}

// live saves r with the subscription live until exp and alerts when exp is
// inside the margin.
func (m *Manager) live(ctx context.Context, raw ledger.StateRecord, r Record, now, exp time.Time, action string) (Report, error) {
	r.Expires = ptr(exp.UTC())
	if _, err := m.save(ctx, raw, r); err != nil {
		if errors.Is(err, ledger.ErrConflict) {
			// Another instance renewed or recorded at the same time; its
			// record is as good as ours.
			return Report{Action: action, Expires: exp}, nil
		}
		return Report{}, err
	}
	m.expiring(ctx, r.SubscriptionID, now, exp)
	return Report{Action: action, Expires: exp}, nil
}

// expiring alerts when the live subscription expires within the margin
// (normally unreachable: renewal starts a week ahead, so it means
// renewals have been failing for days).
func (m *Manager) expiring(ctx context.Context, id string, now, exp time.Time) {
	if exp.Sub(now) >= m.o.AlertMargin {
		return
	}
	m.alert(ctx, alert.Alert{ID: "subscription:expiring:" + id + ":" + exp.UTC().Format(time.RFC3339),
		Kind: KindExpiring, Severity: alert.SeverityWarning, At: now,
		State:  fmt.Sprintf("the Graph subscription on users expires %s (in %s)", exp.UTC().Format(time.RFC3339), exp.Sub(now).Round(time.Minute)),
		Action: "holdfast keeps trying to renew it; Reconcile covers any gap",
		Remedy: "check holdfast status and the app's User.Read.All permission"})
}

// failed records a failure and alerts (once per failure day).
func (m *Manager) failed(ctx context.Context, raw ledger.StateRecord, r Record, now time.Time, what string, cause error) (Report, error) {
	r.LastFailure = what + ": " + cause.Error()
	r.LastFailureAt = ptr(now)
	if _, err := m.save(ctx, raw, r); err != nil && !errors.Is(err, ledger.ErrConflict) {
		m.d.Log.Error().Err(err).Msg("could not record the subscription failure")
	}
	m.alert(ctx, alert.Alert{ID: "subscription:failing:" + r.SubscriptionID + ":" + now.UTC().Format("2006-01-02"),
		Kind: KindFailing, Severity: alert.SeverityCritical, At: now,
		State:  "could not " + what + ": " + cause.Error(),
		Action: "holdfast retries on its next timer run; until then Reconcile is the only source of leavers",
		Remedy: "check holdfast status, the app's Graph permissions and the Event Grid partner topic"})
	return Report{Action: "failed"}, fmt.Errorf("subscription: %s: %w", what, cause)
}

func (m *Manager) alert(ctx context.Context, a alert.Alert) {
	if m.d.Alerts == nil {
		return
	}
	if err := m.d.Alerts.Send(ctx, a); err != nil {
		m.d.Log.Warn().Err(err).Str("kind", a.Kind).Msg("subscription alert not delivered everywhere")
	}
}

// reconcileGap runs Reconcile at once over a window in which notifications
// may have been missed.
func (m *Manager) reconcileGap(ctx context.Context, from, to time.Time) (engine.ReconcileResult, error) {
	res, err := m.Reconcile(ctx, "gap")
	if err == nil {
		_ = m.update(ctx, func(r *Record) { r.LastGapFrom, r.LastGapTo = ptr(from), ptr(to) })
	}
	return res, err
}

// Reconcile runs the engine's Reconcile and records it for health (why
// names the trigger: "timer" or "gap"). Cases it opens for leavers no
// notification announced carry a notificationGap alert (the engine queues
// it on the case, so it survives a crash).
func (m *Manager) Reconcile(ctx context.Context, why string) (engine.ReconcileResult, error) {
	res, err := m.d.Reconciler.Reconcile(ctx, nil)
	if err != nil {
		return res, err
	}
	now := m.d.Clock.Now()
	if uerr := m.update(ctx, func(r *Record) { r.LastReconcile, r.LastReconcileRes = ptr(now), why+": "+res.String() }); uerr != nil {
		m.d.Log.Warn().Err(uerr).Msg("could not record the reconcile")
	}
	return res, nil
}

// Lifecycle handles a lifecycle notification: reauthorizationRequired
// renews at once (which also reauthorizes); subscriptionRemoved recreates
// the subscription and reconciles the gap.
func (m *Manager) Lifecycle(ctx context.Context, lc events.Lifecycle) (Report, error) {
	now := m.d.Clock.Now()
	if err := m.update(ctx, func(r *Record) { r.LastLifecycle, r.LastLifecycleAt = string(lc.Event), ptr(now) }); err != nil {
		return Report{}, err
	}
	switch lc.Event {
	case events.LifecycleReauthorizationRequired:
		return m.ensure(ctx, true, "")
	case events.LifecycleSubscriptionRemoved:
		return m.ensure(ctx, false, lc.SubscriptionID)
	}
	return Report{Action: "none"}, nil
}

// Seen records that a notification arrived at t, at most once per
// seenEvery per process.
func (m *Manager) Seen(ctx context.Context, t time.Time) {
	m.mu.Lock()
	if !m.lastSeen.IsZero() && t.Sub(m.lastSeen) < seenEvery && !t.Before(m.lastSeen) {
		m.mu.Unlock()
		return
	}
	m.lastSeen = t
	m.mu.Unlock()
	b, _ := json.Marshal(t.UTC())
	if err := m.d.Store.PutState(ctx, ledger.StateRecord{Name: seenName, Data: b}); err != nil {
		m.d.Log.Warn().Err(err).Msg("could not record the last notification")
	}
}

// Status reads the stored state for health reports.
func (m *Manager) Status(ctx context.Context) (Status, error) {
	return ReadStatus(ctx, m.d.Store, m.d.Clock.Now(), m.Configured(), m.o.AlertMargin)
}

// StateReader reads state rows.
type StateReader interface {
	LoadState(ctx context.Context, name string) (ledger.StateRecord, error)
}

// ReadStatus reads the subscription's health from the store: the small read
// function dashboards and the CLI use.
func ReadStatus(ctx context.Context, s StateReader, now time.Time, configured bool, margin time.Duration) (Status, error) {
	if margin <= 0 {
		margin = DefaultAlertMargin
	}
	raw, err := s.LoadState(ctx, StateName)
	if err != nil {
		return Status{}, err
	}
	var st Status
	if len(raw.Data) > 0 {
		if err := json.Unmarshal(raw.Data, &st.Record); err != nil {
			return Status{}, fmt.Errorf("subscription state: %w", err)
		}
	}
	if seen, err := s.LoadState(ctx, seenName); err == nil && len(seen.Data) > 0 {
		var t time.Time
		if json.Unmarshal(seen.Data, &t) == nil {
			st.LastNotification = &t
		}
	}
	switch {
	case !configured:
		st.State = "notConfigured"
	case st.SubscriptionID == "" || st.Expires == nil || !st.Expires.After(now):
		st.State = "missing"
	case st.LastFailureAt != nil && (st.LastRenewal == nil || st.LastFailureAt.After(*st.LastRenewal)) &&
		(st.CreatedAt == nil || st.LastFailureAt.After(*st.CreatedAt)):
		st.State = "failing"
	case st.Expires.Sub(now) < margin:
		st.State = "expiring"
	default:
		st.State = "live"
	}
	if st.Expires != nil {
		st.ExpiresIn = st.Expires.Sub(now).Round(time.Minute).String()
	}
	return st, nil
}

// HandleLifecycle is Lifecycle for the engine (engine.SubscriptionWatcher).
func (m *Manager) HandleLifecycle(ctx context.Context, lc events.Lifecycle) (string, error) {
	rep, err := m.Lifecycle(ctx, lc)
	return rep.String(), err
}

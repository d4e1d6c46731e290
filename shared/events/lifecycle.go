package events

import (
	"time"
)

// LifecycleEvent names a Graph lifecycle notification.
type LifecycleEvent string

// Lifecycle events holdfast acts on (Learn: "Reduce missing subscriptions
// and change notifications").
const (
	LifecycleReauthorizationRequired LifecycleEvent = "reauthorizationRequired"
	LifecycleSubscriptionRemoved     LifecycleEvent = "subscriptionRemoved"
)

// Lifecycle is what a lifecycle notification says about a subscription.
type Lifecycle struct {
	Event          LifecycleEvent
	SubscriptionID string    // lower-case GUID
	Expires        time.Time // subscriptionExpirationDateTime; zero when absent
}

// graphLifecycle decodes a lifecycle notification delivered by Event Grid:
// the CloudEvents type names the event; data is Graph's lifecycle
// notification (subscriptionId, subscriptionExpirationDateTime, tenantId,
// clientState, lifecycleEvent). The tenant and clientState are checked as
// for user notifications, since acting on a forged removal would make
// holdfast create subscriptions on an attacker's say-so. data.lifecycleEvent
// is optional (the type already says it) but must agree when present.
func (d *decoder) graphLifecycle(data object) *Rejection {
	if _, rej := d.graphTenant(data, "lifecycle notification is for tenant %s, but this holdfast serves tenant %s"); rej != nil {
		return rej
	}
	if rej := d.clientState(data); rej != nil {
		return rej
	}
	want := LifecycleReauthorizationRequired
	if d.ev.Type == TypeGraphSubscriptionRemoved {
		want = LifecycleSubscriptionRemoved
	}
	if le, ok, rej := data.str("lifecycleEvent"); rej != nil {
		return rej
	} else if ok && le != string(want) {
		return reject(CodeInvalidField, data.field("lifecycleEvent"), "data.lifecycleEvent %s does not fit event type %s (expected %q)", quote(le), d.ev.Type, want)
	}
	sid, rej := data.reqStr("subscriptionId")
	if rej != nil {
		return rej
	}
	sid, rej = checkGUID(data.field("subscriptionId"), sid)
	if rej != nil {
		return rej
	}
	lc := &Lifecycle{Event: want, SubscriptionID: sid}
	if s, ok, rej := data.str("subscriptionExpirationDateTime"); rej != nil {
		return rej
	} else if ok {
		if rej := parseTimeLoose(data.field("subscriptionExpirationDateTime"), s); rej != nil {
			return rej
		}
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			lc.Expires = t.UTC()
		}
	}
	d.ev.Lifecycle = lc
	return nil
}

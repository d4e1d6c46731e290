package app

import (
	"context"
	"fmt"

	"github.com/holdfast/holdfast/shared/dashboard"
	"github.com/holdfast/holdfast/shared/engine"
	"github.com/holdfast/holdfast/shared/ledger"
	"github.com/holdfast/holdfast/shared/subscription"
)

// planSource shows the dashboard the tenant writes observe-only mode
// decided and did not perform, from the case data; kept after a switch
// to acting mode, with how each one ended (done, moot).
type planSource struct {
	cases interface {
		LoadCase(ctx context.Context, key string) (ledger.CaseRecord, error)
	}
}

// Planned implements dashboard.PlanSource.
func (p planSource) Planned(ctx context.Context, key string) ([]dashboard.PlannedAction, error) {
	rec, err := p.cases.LoadCase(ctx, key)
	if err != nil {
		return nil, err
	}
	pl, err := engine.PlannedActions(rec.Data)
	if err != nil {
		return nil, err
	}
	out := make([]dashboard.PlannedAction, 0, len(pl))
	for _, a := range pl {
		what := fmt.Sprintf("[%s] %s: would %s", a.Status, a.Step, a.Op)
		if a.Target != "" {
			what += " on " + a.Target
		}
		detail := a.Detail
		if a.Note != "" {
			detail += " (" + a.Note + ")"
		}
		out = append(out, dashboard.PlannedAction{At: a.PlannedAt, What: what, Detail: detail})
	}
	return out, nil
}

// subscriptionSource shows the dashboard's health page the Graph
// subscription holdfast owns (issue 13); nil when none is configured, so
// the page says "not configured".
type subscriptionSource struct{ m *subscription.Manager }

// Subscription implements dashboard.SubscriptionSource.
func (s subscriptionSource) Subscription(ctx context.Context) (dashboard.Subscription, error) {
	st, err := s.m.Status(ctx)
	if err != nil {
		return dashboard.Subscription{}, err
	}
	out := dashboard.Subscription{State: st.State, Resource: "users", Healthy: st.State == "live"}
	if st.Expires != nil {
		out.ExpiresAt = *st.Expires
	}
	detail := fmt.Sprintf("%d renewals, %d recreations", st.Renewals, st.Recreations)
	if st.LastNotification != nil {
		detail += "; last notification " + st.LastNotification.UTC().Format("2006-01-02 15:04 MST")
	}
	if st.LastReconcile != nil {
		detail += "; last reconcile " + st.LastReconcile.UTC().Format("2006-01-02 15:04 MST")
	}
	if st.LastFailure != "" && st.State == "failing" {
		detail += "; last failure: " + st.LastFailure
	}
	out.Detail = detail
	return out, nil
}

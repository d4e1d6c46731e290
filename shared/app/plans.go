package app

import (
	"context"
	"fmt"

	"github.com/holdfast/holdfast/shared/dashboard"
	"github.com/holdfast/holdfast/shared/engine"
	"github.com/holdfast/holdfast/shared/store"
)

// planSource shows the dashboard the tenant writes observe-only mode
// decided and did not perform, from the case data; kept after a switch
// to acting mode, with how each one ended (done, moot).
type planSource struct {
	cases interface {
		LoadCase(ctx context.Context, key string) (store.CaseRecord, error)
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

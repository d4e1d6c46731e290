package exo_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/holdfast/holdfast/shared/exo"
	"github.com/holdfast/holdfast/shared/pacing"
	"github.com/holdfast/holdfast/shared/tenant"
	"github.com/holdfast/holdfast/shared/testbed/sim"
)

// The Pacer sits in the pipeline: every attempt waits for it and feeds it
// the Rate-Limit-* headers, so concurrent callers share the budget.
func TestPacerKeepsConcurrentCallersInsideTheBudget(t *testing.T) {
	s, _, base := startSim(t)
	f := sim.Faults{Budgets: &sim.Budgets{Exchange: &sim.WindowBudget{Requests: 25, Window: "250ms"}}}
	s.SetFaults(f)
	p := pacing.New("exchange", pacing.Unknown())
	c := simClient(t, base, exo.Options{Pacer: p, RetryDelay: 10 * time.Millisecond})
	stop := time.Now().Add(1500 * time.Millisecond)
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				if _, err := c.GetMailbox(context.Background(), "ann@contoso.test", tenant.ScopeActive); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	st := p.Stats()
	if st.Requests != c.Calls() || st.Requests < 100 {
		t.Fatalf("pacer saw %d requests, client sent %d", st.Requests, c.Calls())
	}
	if ss := s.Stats(); ss.Throttled > 1 {
		t.Fatalf("%d 429s for %d requests", ss.Throttled, st.Requests)
	}
}

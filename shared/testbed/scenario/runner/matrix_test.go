package runner_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/testbed/azurite"
	"github.com/holdfast/holdfast/shared/testbed/localstack"
	"github.com/holdfast/holdfast/shared/testbed/scenario/matrix"
	"github.com/holdfast/holdfast/shared/testbed/scenario/runner"
)

// TestTimingMatrix plays every generated order of HR decision and admin
// actions (docs/scenarios.md, "The timing matrix") on the local stack:
// one Azurite for all, a fresh simulator and handler (and tables) per
// scenario, several scenarios at once. The simulator judges.
func TestTimingMatrix(t *testing.T) {
	cases, err := matrix.Generate()
	if err != nil {
		t.Fatal(err)
	}
	az := azurite.ForTest(t)
	workers := 2 * runtime.GOMAXPROCS(0) // each scenario mostly waits on Azurite
	if n, err := strconv.Atoi(os.Getenv("HOLDFAST_MATRIX_WORKERS")); err == nil && n > 0 {
		workers = n
	}
	start := time.Now()
	outcomes := map[string]int{}
	var mu sync.Mutex
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				c := cases[i]
				t.Run(c.Name, func(t *testing.T) {
					playMatrixCase(t, az.ConnectionString, fmt.Sprintf("mx%04d", i), c)
				})
				mu.Lock()
				outcomes[c.Outcome]++
				mu.Unlock()
			}
		}()
	}
	for i := range cases {
		work <- i
	}
	close(work)
	wg.Wait()
	t.Logf("timing matrix: %d scenarios, %d rules, outcomes %v, %d workers, %s", len(cases), len(matrix.Rules), outcomes, workers, time.Since(start).Round(time.Second))
}

func playMatrixCase(t *testing.T, conn, prefix string, c matrix.Case) {
	ctx := context.Background()
	sc := c.Scenario
	st, err := localstack.Start(ctx, localstack.Options{Start: sc.Start, Settings: sc.Settings,
		AzuriteConnectionString: conn, TablePrefix: prefix, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var timeline strings.Builder
	rep, err := (&runner.Runner{Stack: st, Out: &timeline}).Run(ctx, sc)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, timeline.String())
	}
	if !rep.OK || rep.Stats.DeadLettered != 0 {
		t.Fatalf("expected %s (%s), dead-lettered %d:\n%s", c.Outcome, sc.Description, rep.Stats.DeadLettered, timeline.String())
	}
	if len(rep.Expectations) < 2 {
		t.Fatal("scenario checks nothing")
	}
}

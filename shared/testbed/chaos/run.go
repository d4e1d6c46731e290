package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/retention"
	"github.com/holdfast/holdfast/shared/testbed/azurite"
	"github.com/holdfast/holdfast/shared/testbed/localstack"
	"github.com/holdfast/holdfast/shared/testbed/scenario"
	"github.com/holdfast/holdfast/shared/testbed/scenario/runner"
	"github.com/holdfast/holdfast/shared/testbed/sim"
)

// Result is one played scenario.
type Result struct {
	Name       string
	Users      int
	Steps      int
	Deliveries int // messages delivered to the handler, redeliveries included
	Faults     int64
	Restarts   int // Azurite restarts
	Violations []Violation
	Timeline   string
	Wall       time.Duration
}

// RetryDelay is the clients' backoff base in chaos runs: every 503 is still
// retried, but a few milliseconds apart, so faults cost the run retries
// rather than seconds of sleep (a 429's Retry-After is still honoured).
const RetryDelay = 20 * time.Millisecond

// Drain is how long a run plays on after its last step: past the Exchange
// lag bound, so that no case is still gathering readings when it is judged.
const Drain = retention.DefaultExchangeLag + 2*time.Hour

// Play runs c on a fresh stack over the Azurite at conn, tables prefixed
// prefix, and checks the invariants. A case with Azurite restarts gets an
// Azurite of its own, persisted to disk, so the restarts hit no other run.
func Play(ctx context.Context, c *Case, conn, prefix string) (*Result, error) {
	if len(c.AzuriteRestarts) == 0 {
		return play(ctx, c, conn, prefix, nil)
	}
	dir, err := os.MkdirTemp("", "holdfast-chaos-azurite-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	az, err := azurite.Start(ctx, azurite.Options{Location: dir})
	if err != nil {
		return nil, fmt.Errorf("azurite: %w", err)
	}
	defer az.Stop()
	return play(ctx, c, az.ConnectionString, prefix, az)
}

func restartPersisted(ctx context.Context, az *azurite.Instance) error {
	select {
	// Wait out the autosave: the restart is then an outage, not the loss
	// of the last writes, which Table Storage never does.
	case <-time.After(azurite.DiskAutosave + time.Second):
	case <-ctx.Done():
		return ctx.Err()
	}
	return az.Restart(ctx)
}

func play(ctx context.Context, c *Case, conn, prefix string, az *azurite.Instance) (*Result, error) {
	st, err := localstack.Start(ctx, localstack.Options{Start: c.Scenario.Start, Settings: c.Scenario.Settings,
		AzuriteConnectionString: conn, TablePrefix: prefix, Log: zerolog.Nop(), RetryDelay: RetryDelay})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	// Azurite keeps every table in memory; many scenarios share one.
	defer st.App.Tables.Drop(context.WithoutCancel(ctx))
	if c.Faults != nil {
		if err := c.Faults.Validate(); err != nil {
			return nil, err
		}
		st.Sim.SetFaults(*c.Faults)
	}
	var tl strings.Builder
	wall := time.Now()
	// Play on past the last step long enough for the re-checks of a case
	// left unconfirmed to reach a verdict (retention.ObserveOutOfPlace).
	run := &runner.Runner{Stack: st, Out: &tl, Drain: Drain}
	if len(c.AzuriteRestarts) > 0 {
		if az == nil {
			return nil, fmt.Errorf("%s: Azurite restarts need PlayOn with its Azurite", c.Scenario.Name)
		}
		run.BeforeStep = func(ctx context.Context, i int) error {
			for _, at := range c.AzuriteRestarts {
				if at == i {
					fmt.Fprintf(&tl, "%s  Azurite restarted (storage outage)\n", st.Clock.Now().Format("2006-01-02 15:04"))
					return restartPersisted(ctx, az)
				}
			}
			return nil
		}
	}
	rep, err := run.Run(ctx, c.Scenario)
	if err != nil {
		return nil, fmt.Errorf("%s: %w\n%s", c.Scenario.Name, err, tl.String())
	}
	// Faults stop before judging: the checks read through the simulator's
	// control side, not its API, but keep the stack quiet anyway.
	st.Sim.SetFaults(sim.Faults{})
	stats := st.Sim.Stats()
	res := &Result{Name: c.Scenario.Name, Users: len(c.Scenario.Tenant.Users), Steps: len(c.Scenario.Steps),
		Deliveries: rep.Stats.Events, Faults: stats.Throttled + stats.Unavailable, Restarts: len(c.AzuriteRestarts), Timeline: tl.String(), Wall: time.Since(wall)}
	res.Violations = Check(ctx, c, st, rep)
	return res, nil
}

// Options configure a chaos run.
type Options struct {
	Scenarios int
	Seed      uint64
	Gen       GenOptions
	// Workers play scenarios in parallel. Most of a worker's time is spent
	// waiting (retries, Retry-After), so there can be many more workers
	// than cores.
	Workers int
	// Azurites is how many Azurite processes the workers share (default
	// one per 8 workers); each scenario has its own tables and drops them.
	Azurites int
	// Shrink bounds the runs spent minimizing each violating scenario.
	Shrink int
	// Out receives progress and violations; Repro, when set, receives each
	// minimal reproduction.
	Out   io.Writer
	Repro func(c *Case, vs []Violation)
}

// Summary is a whole run's figures.
type Summary struct {
	Scenarios  int           `json:"scenarios"`
	Users      int           `json:"users"`
	Steps      int           `json:"steps"`
	Deliveries int           `json:"deliveries"`
	Faults     int64         `json:"faults"`
	Restarts   int           `json:"azuriteRestarts"`
	Violations int           `json:"violations"`
	Failed     []string      `json:"failed,omitempty"`
	Errors     int           `json:"errors"`
	Wall       time.Duration `json:"wall"`
}

// Run plays o.Scenarios generated scenarios.
func Run(ctx context.Context, o Options) (*Summary, error) {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Azurites <= 0 {
		o.Azurites = (o.Workers + 7) / 8
	}
	o.Azurites = min(o.Azurites, o.Workers)
	if o.Out == nil {
		o.Out = io.Discard
	}
	wall := time.Now()
	var (
		next atomic.Int64
		mu   sync.Mutex
		sum  Summary
		wg   sync.WaitGroup
	)
	printf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(o.Out, format, args...)
	}
	azs := make([]*azurite.Instance, o.Azurites)
	for i := range azs {
		az, err := azurite.Start(ctx, azurite.Options{})
		if err != nil {
			for _, a := range azs[:i] {
				_ = a.Stop()
			}
			return nil, fmt.Errorf("azurite: %w", err)
		}
		azs[i] = az
	}
	defer func() {
		for _, a := range azs {
			_ = a.Stop()
		}
	}()
	for w := 0; w < o.Workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			az := azs[w%len(azs)]
			played := 0
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= o.Scenarios {
					return
				}
				played++
				c := Generate(o.Seed, i, o.Gen)
				res, err := Play(ctx, c, az.ConnectionString, fmt.Sprintf("w%dn%d", w, played))
				if err != nil && ctx.Err() != nil {
					return // interrupted: not a failure of the scenario
				}
				if err != nil {
					printf("scenario %s: error: %v\n", c.Scenario.Name, err)
					mu.Lock()
					sum.Errors++
					mu.Unlock()
					continue
				}
				mu.Lock()
				sum.Scenarios++
				sum.Users += res.Users
				sum.Steps += res.Steps
				sum.Deliveries += res.Deliveries
				sum.Faults += res.Faults
				sum.Restarts += res.Restarts
				if len(res.Violations) > 0 {
					sum.Violations += len(res.Violations)
					sum.Failed = append(sum.Failed, res.Name)
				}
				done := sum.Scenarios + sum.Errors
				mu.Unlock()
				if len(res.Violations) > 0 {
					for _, v := range res.Violations {
						printf("VIOLATION %s: %s\n", res.Name, v)
					}
					small := c
					if o.Shrink > 0 {
						small = Shrink(ctx, c, az.ConnectionString, fmt.Sprintf("w%dn%ds", w, played), o.Shrink)
					}
					if o.Repro != nil {
						mu.Lock()
						o.Repro(small, res.Violations)
						mu.Unlock()
					}
				}
				if done%100 == 0 {
					printf("%d scenarios played (%s)\n", done, time.Since(wall).Round(time.Second))
				}
			}
		}(w)
	}
	wg.Wait()
	sum.Wall = time.Since(wall)
	return &sum, nil
}

// Shrink looks for a smaller scenario that still violates an invariant
// of the same kind: it drops users one at a time, then removes duplicate
// deliveries, reordering and faults. It spends at most budget runs.
func Shrink(ctx context.Context, c *Case, conn, prefix string, budget int) *Case {
	runs := 0
	fails := func(cand *Case) bool {
		if runs >= budget {
			return false
		}
		runs++
		res, err := Play(ctx, cand, conn, fmt.Sprintf("%sr%d", prefix, runs))
		return err == nil && len(res.Violations) > 0
	}
	cur := c
	for _, u := range cur.Scenario.Tenant.Users {
		if len(cur.Scenario.Tenant.Users) == 1 {
			break
		}
		cand := without(cur, u.UPN)
		if fails(cand) {
			cur = cand
		}
	}
	if cur.Faults != nil {
		cand := clone(cur)
		cand.Faults = nil
		if fails(cand) {
			cur = cand
		}
	}
	for i := range cur.Scenario.Steps {
		st := cur.Scenario.Steps[i]
		simpler := st.HR != nil && st.HR.Deliveries > 1 || st.Admin != nil && st.Admin.Reorder
		if !simpler {
			continue
		}
		cand := clone(cur)
		if h := cand.Scenario.Steps[i].HR; h != nil {
			h.Deliveries = 1
		}
		if a := cand.Scenario.Steps[i].Admin; a != nil {
			a.Reorder = false
		}
		cand.Scenario = normalize(cand.Scenario)
		if fails(cand) {
			cur = cand
		}
	}
	return cur
}

// clone deep-copies a case through JSON.
func clone(c *Case) *Case {
	b, _ := json.Marshal(c.Scenario)
	out := *c
	out.Scenario = normalizeBytes(b)
	if c.Faults != nil {
		f := *c.Faults
		out.Faults = &f
	}
	return &out
}

// without removes a user and every step naming them.
func without(c *Case, upn string) *Case {
	out := clone(c)
	sc := out.Scenario
	var users []sim.UserSpec
	for _, u := range sc.Tenant.Users {
		if u.UPN != upn {
			users = append(users, u)
		}
	}
	sc.Tenant.Users = users
	var steps = sc.Steps[:0]
	for _, st := range sc.Steps {
		if st.HR != nil && st.HR.UPN == upn || st.Admin != nil && st.Admin.UPN == upn {
			continue
		}
		steps = append(steps, st)
	}
	sc.Steps = steps
	out.Scenario = normalize(sc)
	models := map[string]*UserModel{}
	for k, v := range c.Users {
		if k != upn {
			models[k] = v
		}
	}
	out.Users = models
	return out
}

func normalizeBytes(b []byte) *scenarioT {
	var sc scenarioT
	if err := json.Unmarshal(b, &sc); err != nil {
		panic(err)
	}
	return normalize(&sc)
}

type scenarioT = scenario.Scenario

// Repro renders c as a scenario file: the violations and the simulator
// fault configuration (which the scenario format has no field for) go in
// its description.
func Repro(c *Case, vs []Violation) []byte {
	sc := *c.Scenario
	var desc []string
	for _, v := range vs {
		desc = append(desc, v.String())
	}
	if c.Faults != nil && len(c.Faults.Rules) > 0 {
		f, _ := json.Marshal(c.Faults)
		desc = append(desc, "simulator faults (SetFaults): "+string(f))
	}
	sc.Description = "chaos reproduction. " + strings.Join(desc, " | ")
	b, _ := json.MarshalIndent(&sc, "", "  ")
	return append(b, '\n')
}

package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/app"
	"github.com/holdfast/holdfast/shared/testbed/azurite"
	"github.com/holdfast/holdfast/shared/testbed/host"
	"github.com/holdfast/holdfast/shared/testbed/localstack"
	"github.com/holdfast/holdfast/shared/testbed/scenario/runner"
	"github.com/holdfast/holdfast/shared/testbed/sim"
)

// alertMailbox sends alert mail in crash runs: alerts are then visible to
// the judge (sim.Mail) although the handler runs in another process.
const alertMailbox = "holdfast-alerts@contoso.test"

// CrashOptions configure one crash-injection comparison.
type CrashOptions struct {
	// Bin is the holdfast binary run as `holdfast serve`.
	Bin string
	// KillRate is the probability that an invocation (event delivery or
	// timer) gets a SIGKILL 0–MaxDelay after it is sent.
	KillRate float64
	// MaxDelay bounds the delay before the kill (default 20 ms).
	MaxDelay time.Duration
	// Seed drives the kill decisions and delays.
	Seed uint64
	// ChildLog receives the child processes' output (io.Discard if nil).
	ChildLog io.Writer
}

// CrashResult compares a run with kills against a crash-free run of the
// same scenario.
type CrashResult struct {
	Name string
	// Kills is the number of SIGKILLs sent; Interrupted those that broke
	// an invocation in flight (the others hit the process just after it
	// answered, before the next one).
	Kills, Interrupted int
	Deliveries         int
	// Repeats are alerts sent more than once and hold requests repeated:
	// a kill between an alert's delivery and the commit recording it
	// resends it, by design (alerts are at least once: a lost warning costs
	// more than a repeated one; the Service Bus alerts topic drops the
	// repeat by its MessageId, the alert id). A kill between Set-Mailbox
	// -LitigationHoldEnabled and the commit does the same to the hold
	// request, which is idempotent in Exchange; reading the mailbox before
	// every hold to avoid it would cost a round trip on every event. At
	// most one repeated hold per interrupted invocation counts as a
	// repeat; more are mismatches. Counted and printed, not mismatches.
	Repeats []string
	// Mismatches are differences from the crash-free run and duplicate
	// side effects; Violations the crash run's invariant checks.
	Mismatches []string
	Violations []Violation
	// Timeline is the crash run's.
	Timeline string
	Wall     time.Duration
}

// Outcome is what a run left behind, per user.
type Outcome struct {
	Mailbox map[string]string // "state/itemsLost"
	Holds   map[string]int    // hold requests that reached Exchange
	Cases   map[string]string // final case state
	Alerts  map[string]int    // alert id -> mails sent
}

var alertIDRE = regexp.MustCompile(`Alert id: (\S+)`)

// PlayCrash plays c twice on fresh Azurite instances with the handler as
// a child process: once without crashes, once with SIGKILLs at random
// points of event handling and sweeps, Service Bus-style redelivery
// (DeliveryCount+1) after a killed delivery and a fresh timer firing after
// a killed sweep or reconcile. It returns the differences.
func PlayCrash(ctx context.Context, c *Case, o CrashOptions) (*CrashResult, error) {
	c = withAlertMailbox(c)
	wall := time.Now()
	base, _, err := playChild(ctx, c, o, 0)
	if err != nil {
		return nil, fmt.Errorf("crash-free run: %w", err)
	}
	got, res, err := playChild(ctx, c, o, o.KillRate)
	if err != nil {
		return nil, fmt.Errorf("crash run: %w", err)
	}
	res.Mismatches, res.Repeats = compareOutcomes(base, got, res.Interrupted)
	res.Wall = time.Since(wall)
	return res, nil
}

func withAlertMailbox(c *Case) *Case {
	out := clone(c)
	out.Scenario.Tenant.Users = append(out.Scenario.Tenant.Users, sim.UserSpec{UPN: alertMailbox, DisplayName: "holdfast alerts",
		Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 10})
	if out.Scenario.Settings == nil {
		out.Scenario.Settings = map[string]string{}
	}
	out.Scenario.Settings["HOLDFAST_ALERT_MAIL_FROM"] = alertMailbox
	out.Scenario.Settings["HOLDFAST_ALERT_MAIL_TO"] = "admins@contoso.test"
	return out
}

// compareOutcomes lists the differences of got from the crash-free want;
// interrupted bounds the hold requests a crash may repeat.
func compareOutcomes(want, got Outcome, interrupted int) (ms, repeats []string) {
	for _, upn := range sortedKeys(want.Mailbox, got.Mailbox) {
		if w, g := want.Mailbox[upn], got.Mailbox[upn]; w != g {
			ms = append(ms, fmt.Sprintf("%s: mailbox %s, crash-free %s", upn, g, w))
		}
	}
	for _, upn := range sortedKeys(want.Cases, got.Cases) {
		if w, g := want.Cases[upn], got.Cases[upn]; w != g {
			ms = append(ms, fmt.Sprintf("%s: case %q, crash-free %q", upn, g, w))
		}
	}
	for _, upn := range sortedKeys(want.Holds, got.Holds) {
		w, g := want.Holds[upn], got.Holds[upn]
		switch {
		case g > w && w > 0 && g-w <= interrupted:
			interrupted -= g - w
			repeats = append(repeats, fmt.Sprintf("%s: %d hold requests, crash-free %d (repeated after an interrupted invocation)", upn, g, w))
		case g > w:
			ms = append(ms, fmt.Sprintf("%s: %d hold requests, crash-free %d", upn, g, w))
		}
	}
	for _, id := range sortedKeys(want.Alerts, got.Alerts) {
		if n := got.Alerts[id]; n > 1 {
			repeats = append(repeats, fmt.Sprintf("alert %s sent %d times", id, n))
		}
		if _, ok := want.Alerts[id]; !ok {
			ms = append(ms, fmt.Sprintf("alert %s only in the crash run", id))
		}
		if _, ok := got.Alerts[id]; !ok {
			ms = append(ms, fmt.Sprintf("alert %s missing from the crash run", id))
		}
	}
	return ms, repeats
}

func sortedKeys[V any](a, b map[string]V) []string {
	seen := map[string]bool{}
	var ks []string
	for _, m := range []map[string]V{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				ks = append(ks, k)
			}
		}
	}
	sort.Strings(ks)
	return ks
}

// playChild plays c against a `holdfast serve` child on a fresh Azurite;
// the in-process stack only hosts the simulator and reads the tables.
func playChild(ctx context.Context, c *Case, o CrashOptions, rate float64) (Outcome, *CrashResult, error) {
	az, err := azurite.Start(ctx, azurite.Options{})
	if err != nil {
		return Outcome{}, nil, fmt.Errorf("azurite: %w", err)
	}
	defer az.Stop()
	st, err := localstack.Start(ctx, localstack.Options{Start: c.Scenario.Start, Settings: c.Scenario.Settings,
		AzuriteConnectionString: az.ConnectionString, Log: zerolog.Nop()})
	if err != nil {
		return Outcome{}, nil, err
	}
	defer st.Close()
	if c.Faults != nil {
		st.Sim.SetFaults(*c.Faults)
	}
	// The same settings as the crash-free run's in-process handler: a
	// child without the SecureString key blocked rescues the other run
	// made (Undo-SoftDeletedMailbox needs it), and lost their mailboxes.
	env := st.HandlerSettings(az.ConnectionString)
	for k, v := range c.Scenario.Settings {
		env[k] = v
	}
	env["HOLDFAST_CLOCK_URL"] = st.SimURL
	ch, err := host.StartChild(ctx, host.ChildOptions{Bin: o.Bin, Env: env, Log: o.ChildLog})
	if err != nil {
		return Outcome{}, nil, err
	}
	defer ch.Kill()
	maxDelay := o.MaxDelay
	if maxDelay <= 0 {
		maxDelay = 20 * time.Millisecond
	}
	seed := o.Seed
	if seed == 0 {
		seed = c.Seed
	}
	k := &killer{ctx: ctx, child: ch, rate: rate, maxDelay: maxDelay,
		rng:  rand.New(rand.NewPCG(seed, uint64(len(c.Scenario.Steps)))),
		base: &http.Transport{DisableKeepAlives: true}}
	ho := localstack.HostOptions()
	ho.Transport = k
	st.Host = ch.Host(st.Clock.Now, ho)
	st.HandlerURL = ch.URL

	var tl strings.Builder
	// Both runs play an hour past the last step: work a kill left pending
	// at the end (an alert in the outbox, a retry) is done by the sweeps
	// that follow, as in production.
	rep, err := (&runner.Runner{Stack: st, Out: &tl, Drain: Drain}).Run(ctx, c.Scenario)
	if err != nil {
		return Outcome{}, nil, fmt.Errorf("%s: %w\n%s", c.Scenario.Name, err, tl.String())
	}
	st.Sim.SetFaults(sim.Faults{})
	out := Outcome{Mailbox: map[string]string{}, Holds: map[string]int{}, Cases: map[string]string{}, Alerts: map[string]int{}}
	for upn, mb := range st.Sim.Mailboxes() {
		out.Mailbox[upn] = fmt.Sprintf("%s/%d", mb.State, mb.ItemsLost)
		out.Holds[upn] = st.Sim.HoldRequests(upn)
	}
	for upn, u := range rep.Users {
		out.Cases[upn] = u.CaseState
	}
	for _, m := range st.Sim.Mail() {
		if mm := alertIDRE.FindStringSubmatch(m.Body); mm != nil {
			out.Alerts[mm[1]]++
		}
	}
	res := &CrashResult{Name: c.Scenario.Name, Deliveries: rep.Stats.Events, Timeline: tl.String()}
	res.Kills, res.Interrupted = k.counts()
	res.Violations = Check(ctx, c, st, rep)
	return out, res, nil
}

// killer is the http.RoundTripper between the driver and the child: it
// decides per invocation whether to kill the child while it runs.
type killer struct {
	ctx      context.Context
	child    *host.Child
	rate     float64
	maxDelay time.Duration
	base     http.RoundTripper

	mu                 sync.Mutex
	rng                *rand.Rand
	kills, interrupted int
}

func (k *killer) counts() (int, int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.kills, k.interrupted
}

// timerFunction: a killed timer invocation is fired again (the host's
// next schedule); a killed queue delivery fails, and the driver redelivers
// it with DeliveryCount+1 as Service Bus does.
func timerFunction(path string) bool {
	return strings.HasSuffix(path, "/"+app.FnExpirySweep) || strings.HasSuffix(path, "/"+app.FnReconcile)
}

func (k *killer) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
	}
	for {
		k.mu.Lock()
		kill := k.rate > 0 && k.rng.Float64() < k.rate
		delay := time.Duration(k.rng.Int64N(int64(k.maxDelay) + 1))
		k.mu.Unlock()
		killed := make(chan struct{})
		if kill {
			go func() {
				time.Sleep(delay)
				k.child.Kill()
				close(killed)
			}()
		}
		r := req.Clone(req.Context())
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		resp, err := k.base.RoundTrip(r)
		if err == nil {
			// Read the whole answer before any restart, so a kill after the
			// headers is an interrupted invocation, not a half-read body.
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr != nil {
				err = rerr
			} else {
				resp.Body = io.NopCloser(bytes.NewReader(b))
			}
		}
		if !kill {
			return resp, err
		}
		<-killed
		k.mu.Lock()
		k.kills++
		if err != nil {
			k.interrupted++
		}
		k.mu.Unlock()
		if serr := k.child.Restart(k.ctx); serr != nil {
			return nil, errors.Join(err, fmt.Errorf("restart after SIGKILL: %w", serr))
		}
		if err == nil {
			return resp, nil
		}
		if !timerFunction(req.URL.Path) {
			return nil, fmt.Errorf("handler killed: %w", err)
		}
	}
}

// CrashSummary is a crash-injection run's figures.
type CrashSummary struct {
	Scenarios, Kills, Interrupted, Deliveries, Mismatches, Repeats, Violations int
	Wall                                                                       time.Duration
}

// RunCrash plays generated scenarios i = 0, 1, ... of seed under crash
// injection until at least kills SIGKILLs were sent and at least
// scenarios were played, printing each difference to out.
func RunCrash(ctx context.Context, seed uint64, gen GenOptions, o CrashOptions, kills, scenarios int, out io.Writer) (*CrashSummary, error) {
	wall := time.Now()
	var sum CrashSummary
	for i := 0; ctx.Err() == nil && (sum.Kills < kills || sum.Scenarios < max(1, scenarios)); i++ {
		c := Generate(seed, i, gen)
		oi := o
		oi.Seed = seed*1_000_003 + uint64(i) + 1
		res, err := PlayCrash(ctx, c, oi)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return &sum, err
		}
		sum.Scenarios++
		sum.Kills += res.Kills
		sum.Interrupted += res.Interrupted
		sum.Deliveries += res.Deliveries
		sum.Mismatches += len(res.Mismatches)
		sum.Repeats += len(res.Repeats)
		sum.Violations += len(res.Violations)
		fmt.Fprintf(out, "%s: %d kills (%d mid-invocation), %d deliveries, %d mismatches, %d violations, %s\n",
			res.Name, res.Kills, res.Interrupted, res.Deliveries, len(res.Mismatches), len(res.Violations), res.Wall.Round(time.Millisecond))
		for _, m := range res.Repeats {
			fmt.Fprintf(out, "REPEAT %s: %s\n", res.Name, m)
		}
		for _, m := range res.Mismatches {
			fmt.Fprintf(out, "MISMATCH %s: %s\n", res.Name, m)
		}
		for _, v := range res.Violations {
			fmt.Fprintf(out, "VIOLATION %s: %s\n", res.Name, v)
		}
		if len(res.Mismatches)+len(res.Violations) > 0 {
			fmt.Fprintf(out, "timeline of the crash run of %s:\n%s", res.Name, res.Timeline)
		}
	}
	sum.Wall = time.Since(wall)
	return &sum, ctx.Err()
}

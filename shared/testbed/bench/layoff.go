package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/app"
	"github.com/holdfast/holdfast/shared/ledger"
	"github.com/holdfast/holdfast/shared/testbed/localstack"
	"github.com/holdfast/holdfast/shared/testbed/sim"
)

// layoffFigures is what one layoff run measured.
type layoffFigures struct {
	n                   int
	held, inEffect      time.Duration // wall time from the first enqueue
	sweeps              int
	exServed, exThrottl int64 // Exchange requests in the held-and-in-effect part
	graphWrites         int64
	floor               time.Duration
	requests, throttled int64 // whole run: Graph and Exchange
	hrRoundTrips        float64
	roundTrips          map[string]int64
	events              int // every event delivered (HR, licence, deletion)
	allRoundTrips       int64
	lost, notHeld       int
	outHR, outDir       outcome
	peakRSS             float64 // MiB, this process (handler + simulator + driver)
	paceWait            time.Duration
	sweepRoundTrips     string // table round trips of the sweeps, per confirmation
}

// layoff measures figure 9: a mass layoff against the tenant's budgets,
// paced (the production wiring) and, with LayoffCompare, unpaced in the
// same run.
func (r *run) layoff(ctx context.Context) error {
	defer r.phase(fmt.Sprintf("9. mass layoff (%d leavers)", r.o.LayoffN))()
	f, err := r.layoffRun(ctx, false)
	if err != nil {
		return err
	}
	r.addLayoff(f, "")
	if !r.o.LayoffCompare {
		return nil
	}
	if err := r.az.Restart(ctx); err != nil {
		return err
	}
	u, err := r.layoffRun(ctx, true)
	if err != nil {
		return err
	}
	r.addLayoff(u, " (unpaced, for comparison)")
	return nil
}

func (r *run) addLayoff(f layoffFigures, suffix string) {
	rate := r.o.LayoffRate
	target := suffix == "" // the comparison run has no targets
	res := func(res Result, tgt string, met *bool) Result {
		if target {
			res.Target, res.Met = tgt, met
		}
		return res
	}
	ratio := f.inEffect.Seconds() / f.floor.Seconds()
	tgt, met := atMost(ratio, 1.1, "")
	r.add(res(Result{Name: "layoff: time to every hold in effect / budget floor" + suffix, Value: ratio, Unit: "ratio",
		Ceiling: ptr(f.floor.Seconds()), CeilingName: "floor s",
		Note: fmt.Sprintf("%d retain events at concurrency %d: every hold set after %s, confirmed in effect by %d sweeps after %s; "+
			"floor = (windows for %d Exchange requests served at %s/s, scaled budget %d per %s, less the last) = %s; Graph identity writes %d (3,000 per 150 s); "+
			"HR events %s; time requests spent waiting in the pacers, summed %s; sweeps' table round trips %s; %s",
			f.n, r.o.Concurrency, f.held.Round(time.Millisecond), f.sweeps, f.inEffect.Round(time.Millisecond),
			f.exServed, trim(rate), int(math.Round(rate*r.o.LayoffWindow.Seconds())), r.o.LayoffWindow, f.floor.Round(time.Millisecond),
			f.graphWrites, f.outHR, f.paceWait.Round(time.Millisecond), f.sweepRoundTrips, r.o.storeNote())}, strings.TrimSpace(tgt), met))
	share := 100 * float64(f.throttled) / float64(max(f.requests, 1))
	tgtS, metS := "< 1 %", ptr(share < 1)
	r.add(res(Result{Name: "layoff: requests wasted on 429" + suffix, Value: share, Unit: "%",
		Note: fmt.Sprintf("%d of %d Graph and Exchange requests over the whole layoff (retain, licence removals, deletions, sweeps); "+
			"%d in the held-and-in-effect part", f.throttled, f.requests, f.exThrottl)}, tgtS, metS))
	tgt, met = atMost(f.hrRoundTrips, 2, "round trips")
	r.add(res(Result{Name: "layoff: table round trips per retain event" + suffix, Value: f.hrRoundTrips, Unit: "round trips",
		Note: fmt.Sprintf("%s; whole layoff %s per event over %d events (directory events %s)",
			perEvent(f.roundTrips, f.n), trim(float64(f.allRoundTrips)/float64(max(f.events, 1))), f.events, f.outDir)}, tgt, met))
	tgt, met = atMost(float64(f.lost), 0, "mailboxes")
	r.add(res(Result{Name: "layoff: retained mailboxes lost" + suffix, Value: float64(f.lost), Unit: "mailboxes",
		Ceiling: ptr(float64(f.n)), CeilingName: "retained",
		Note: fmt.Sprintf("simulator ground truth 31 days after the deletions; %d mailboxes without a hold before their deletion", f.notHeld)}, tgt, met))
	r.add(Result{Name: "layoff: memory peak" + suffix, Value: f.peakRSS, Unit: "MiB",
		Note: "peak RSS of the harness process (handler, simulator and driver in one process), sampled every 250 ms; Azurite not included"})
}

// layoffRun plays one layoff on a fresh stack.
func (r *run) layoffRun(ctx context.Context, unpaced bool) (layoffFigures, error) {
	f := layoffFigures{n: r.o.LayoffN}
	prefix := "benchlo"
	if unpaced {
		prefix = "benchlu"
	}
	st, err := localstack.Start(ctx, localstack.Options{
		AzuriteConnectionString: r.az.ConnectionString, TablePrefix: prefix, Unpaced: unpaced,
		Log: zerolog.Nop(), HandlerLog: io.Discard,
	})
	if err != nil {
		return f, err
	}
	defer st.Close()
	users := upns("lo", r.o.LayoffN)
	if err := seed(st.Sim, users); err != nil {
		return f, err
	}
	perWindow := int(math.Round(r.o.LayoffRate * r.o.LayoffWindow.Seconds()))
	faults := sim.Faults{Budgets: &sim.Budgets{
		Exchange:    &sim.WindowBudget{Requests: perWindow, Window: r.o.LayoffWindow.String()},
		GraphWrites: sim.DocumentedGraphWrites(),
	}}
	if err := faults.Validate(); err != nil {
		return f, err
	}
	rss := sampleRSS()
	defer rss.stop()
	c0 := st.App.Counter.Snapshot()
	st.Sim.SetFaults(faults)
	s0 := st.Sim.Stats()

	// Every HR event at once, through the host envelope at the host's
	// concurrency.
	start := time.Now()
	ds := offboardings(users, "retain", st.Clock.Now(), "lo")
	deliverAll(ctx, st, r.o.Concurrency, ds)
	f.held = time.Since(start)
	f.outHR = outcomes(ds)
	c1 := st.App.Counter.Snapshot()
	var hrTotal int64
	f.roundTrips, hrTotal = opsDelta(c0, c1)
	f.hrRoundTrips = float64(hrTotal) / float64(f.n)

	// In effect: past the propagation window the sweeps confirm each hold
	// (one Get-Mailbox per case, under the same budget).
	st.Clock.Advance(st.App.Config.Policy.HoldPropagation + time.Minute)
	sw0, sr0, cs0 := st.App.Pacers.Exchange.Stats(), st.Sim.Stats(), st.App.Counter.Snapshot()
	for f.sweeps = 0; f.sweeps < f.n/1000+5; f.sweeps++ {
		due := 0
		if err := st.App.Store.DueTimers(ctx, st.Clock.Now(), 1, func(ledger.Timer) error { due++; return nil }); err != nil {
			return f, err
		}
		if due == 0 {
			break
		}
		if _, err := st.FireTimer(ctx, app.FnExpirySweep); err != nil {
			return f, err
		}
	}
	f.inEffect = time.Since(start)
	sw1, sr1 := st.App.Pacers.Exchange.Stats(), st.Sim.Stats()
	// The sweeps' table round trips (the timer reads included), per
	// confirmation: what bounds the sweep when Azurite, not the budget,
	// is the limit.
	sweepOps, sweepTotal := opsDelta(cs0, st.App.Counter.Snapshot())
	f.sweepRoundTrips = fmt.Sprintf("%s per confirmation (%s)", trim(float64(sweepTotal)/float64(f.n)), perEvent(sweepOps, f.n))
	fmt.Fprintf(r.o.Progress, "   holds set in %s; sweeps %s: %d Exchange requests, %s waiting in the pacer (summed), %d simulator requests, table round trips %s\n",
		f.held.Round(time.Millisecond), (f.inEffect - f.held).Round(time.Millisecond), sw1.Requests-sw0.Requests, (sw1.Waited - sw0.Waited).Round(time.Millisecond), sr1.Total-sr0.Total, f.sweepRoundTrips)
	s1 := st.Sim.Stats()
	ex1, th1 := exchangeRequests(s1)
	ex0, th0 := exchangeRequests(s0)
	f.exThrottl = th1 - th0
	f.exServed = (ex1 - ex0) - f.exThrottl
	for _, op := range []string{"patchUser", "deleteUser", "restoreDeletedUser", "purgeDeletedUser", "assignLicense"} {
		k := "graph:" + op
		f.graphWrites += (s1.Requests[k] - s0.Requests[k]) - (s1.Throttles[k] - s0.Throttles[k])
	}
	f.floor = layoffFloor(f.exServed, perWindow, r.o.LayoffWindow, f.graphWrites)
	mbs := st.Sim.Mailboxes()
	for _, u := range users {
		if m, ok := mbs[u]; !ok || !m.LitigationHold || m.HoldEffectiveAt == nil || m.HoldEffectiveAt.After(st.Clock.Now()) {
			f.notHeld++
		}
	}

	// Licence removals four hours after the HR events, deletions the next
	// day: the directory events holdfast receives for each.
	f.events = len(ds)
	for _, step := range []struct {
		after  time.Duration
		action string
	}{{4 * time.Hour, "removeLicense"}, {20 * time.Hour, "deleteUser"}} {
		st.Clock.Advance(step.after)
		var dir []*delivery
		for _, u := range users {
			if err := st.Sim.Admin(ctx, sim.AdminAction{Action: step.action, UPN: u}); err != nil {
				return f, err
			}
			for _, ev := range st.Sim.DrainEvents() {
				var head struct {
					ID string `json:"id"`
				}
				_ = json.Unmarshal(ev, &head)
				dir = append(dir, &delivery{function: app.FnOnDirectoryEvent, id: head.ID, body: ev, upn: u})
			}
		}
		deliverAll(ctx, st, r.o.Concurrency, dir)
		o := outcomes(dir)
		f.outDir.ok += o.ok
		f.outDir.dead += o.dead
		f.outDir.failed += o.failed
		f.outDir.rejected += o.rejected
		f.events += len(dir)
	}
	_, f.allRoundTrips = opsDelta(c0, st.App.Counter.Snapshot())
	s2 := st.Sim.Stats()
	f.requests, f.throttled = (s2.Total - s0.Total), (s2.Throttled - s0.Throttled)
	f.paceWait = st.App.Pacers.Exchange.Stats().Waited + st.App.Pacers.GraphReads.Stats().Waited + st.App.Pacers.GraphWrites.Stats().Waited

	// Lost: ground truth once every deleted mailbox's 30 days have run.
	st.Clock.Advance(31 * 24 * time.Hour)
	mbs = st.Sim.Mailboxes()
	for _, u := range users {
		if m, ok := mbs[u]; !ok || m.State == "purged" || m.ItemsLost > 0 {
			f.lost++
		}
	}
	f.peakRSS = rss.stop()
	if f.outHR.ok != len(ds) {
		return f, fmt.Errorf("layoff: HR events %s", f.outHR)
	}
	return f, nil
}

// layoffFloor is the least wall time the budgets allow for what was
// served. Exchange: fixed windows of perWindow, the first starting with
// the run, and a window's requests may all go at its start, so the last
// one costs nothing: (windows needed − 1) × window. Graph writes: a bucket
// of 3,000 that is full at the start, refilled at 20/s.
func layoffFloor(exServed int64, perWindow int, window time.Duration, graphWrites int64) time.Duration {
	windows := (exServed + int64(perWindow) - 1) / int64(perWindow)
	ex := time.Duration(max(windows-1, 0)) * window
	gw := time.Duration(float64(max(graphWrites-3000, 0)) / 20 * float64(time.Second))
	return max(ex, gw, time.Millisecond)
}

// rssSampler records the peak resident set of this process.
type rssSampler struct {
	done chan struct{}
	wg   sync.WaitGroup
	once sync.Once
	mu   sync.Mutex
	peak float64
}

func sampleRSS() *rssSampler {
	s := &rssSampler{done: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			s.read()
			select {
			case <-s.done:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *rssSampler) read() {
	fh, err := os.Open("/proc/self/status")
	if err != nil {
		return
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			if err == nil {
				s.mu.Lock()
				s.peak = max(s.peak, kb/1024)
				s.mu.Unlock()
			}
		}
	}
}

// stop ends the sampling and returns the peak in MiB.
func (s *rssSampler) stop() float64 {
	s.once.Do(func() { close(s.done); s.wg.Wait() })
	s.read()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// Package bench measures holdfast against the ceilings that bind it: the
// table store's operation rate, the Exchange throttling budget, and the
// machine. Every ceiling is measured in the same run as the figure it is
// compared with, because shared machines are noisy and only ratios taken
// side by side mean anything. It drives the local stack (Azurite, the
// tenant simulator and the real handler through the host's envelope) and,
// for start-up and footprint, the holdfast binary as a child process.
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/holdfast/holdfast/shared/testbed/azurite"
)

// Options configure a run. Zero values pick the documented defaults.
type Options struct {
	// Binary is the holdfast executable started for figure 7.
	Binary string
	// RepoDir is the module root (go.mod) for figure 8; empty: found by
	// walking up from the working directory.
	RepoDir         string
	Concurrency     int // handler concurrency (host.json maxConcurrentCalls); default 8
	ThroughputN     int // events for figure 3; default 2000
	LatencyN        int // events for figure 4; default 1000
	SweepCases      int // tracked timers for figure 5; default 100000
	SweepDue        int // due cases for figure 5; default 1000
	ThrottleN       int // events for figure 6; default 500
	FootprintEvents int // events sent to the child for figure 7; default 10000
	// LayoffN leavers for figure 9 (default 10000), LayoffRate the
	// Exchange requests per second of its scaled budget (default 100), in
	// fixed windows of LayoffWindow (default 10 s); LayoffCompare runs the
	// layoff a second time without pacing, for the before-and-after note.
	LayoffN       int
	LayoffRate    float64
	LayoffWindow  time.Duration
	LayoffCompare bool
	// Only, when not empty, runs just these phases: store, events, sweep,
	// throttling, layoff, footprint, build (store runs with events, whose
	// ratio needs it).
	Only          []string
	SkipColdBuild bool
	SkipTests     bool
	SkipFootprint bool
	// PlainLookups runs Azurite without the test bed's selective-lookup
	// preload (package azurite), to show what its row scans cost.
	PlainLookups bool
	// Progress receives one line per phase (nil: discarded).
	Progress io.Writer
}

func (o *Options) defaults() {
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&o.Concurrency, 8)
	def(&o.ThroughputN, 2000)
	def(&o.LatencyN, 1000)
	def(&o.SweepCases, 100000)
	def(&o.SweepDue, 1000)
	def(&o.ThrottleN, 500)
	def(&o.FootprintEvents, 10000)
	def(&o.LayoffN, 10000)
	if o.LayoffRate <= 0 {
		o.LayoffRate = 100
	}
	if o.LayoffWindow <= 0 {
		o.LayoffWindow = 10 * time.Second
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// Result is one figure. Ceiling is the side-by-side measurement it is
// compared with (nil when there is none); Met is nil for figures without a
// target.
type Result struct {
	Name        string   `json:"name"`
	Value       float64  `json:"value"`
	Unit        string   `json:"unit"`
	Ceiling     *float64 `json:"ceiling"`
	CeilingName string   `json:"ceilingName"`
	Target      string   `json:"target"`
	Met         *bool    `json:"met"`
	Note        string   `json:"note,omitempty"`
}

// Report is a whole run.
type Report struct {
	Started  time.Time
	Duration time.Duration
	Machine  string
	Results  []Result
}

func ptr[T any](v T) *T { return &v }

// atMost and atLeast build the target text and verdict.
func atMost(v, target float64, unit string) (string, *bool) {
	return fmt.Sprintf("<= %s %s", trim(target), unit), ptr(v <= target)
}

func atLeast(v, target float64, unit string) (string, *bool) {
	return fmt.Sprintf(">= %s %s", trim(target), unit), ptr(v >= target)
}

func trim(f float64) string {
	switch {
	case math.IsInf(f, 0) || math.IsNaN(f):
		return fmt.Sprint(f)
	case f == math.Trunc(f) && math.Abs(f) < 1e15:
		return fmt.Sprintf("%d", int64(f))
	case math.Abs(f) >= 100:
		return fmt.Sprintf("%.1f", f)
	case math.Abs(f) >= 1:
		return fmt.Sprintf("%.2f", f)
	}
	return fmt.Sprintf("%.3f", f)
}

// storeNote says which Azurite lookups a figure was measured with.
func (o *Options) storeNote() string {
	if o.PlainLookups {
		return "Azurite with plain lookups (--azurite-plain-lookups: each point read scans the rows sharing its RowKey)"
	}
	return "Azurite with the test bed's selective lookups (same answers, no scan of rows sharing a RowKey, as Table Storage's index)"
}

// run is the state shared by the phases of one Run.
type run struct {
	o       Options
	az      *azurite.Instance
	results []Result
	// measured by earlier phases, used by later ones
	ceiling          float64 // upserts/s
	ceilingAzMs      float64 // Azurite CPU per upsert in the ceiling run, ms
	exchangePerEvent float64
}

// azuriteCPU is the CPU time used so far by this run's Azurite.
func (r *run) azuriteCPU() time.Duration {
	return time.Duration(cpuTicks("azurite", "--tablePort\x00"+strconv.Itoa(r.az.Port)+"\x00")) * 10 * time.Millisecond
}

// selfCPU is the CPU time of this process: handler, simulator and driver.
func selfCPU() time.Duration { return time.Duration(cpuTicks("self")) * 10 * time.Millisecond }

func (r *run) add(res Result) {
	r.results = append(r.results, res)
	fmt.Fprintf(r.o.Progress, "  %-44s %s %s\n", res.Name, trim(res.Value), res.Unit)
}

func (r *run) phase(name string) func() {
	start := time.Now()
	fmt.Fprintf(r.o.Progress, "== %s\n", name)
	return func() { fmt.Fprintf(r.o.Progress, "   (%s)\n", time.Since(start).Round(time.Millisecond)) }
}

// Run measures every figure. A phase that fails is reported as a result
// with a note and the run goes on, so one broken part does not hide the
// rest; the error returned joins those failures.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	rep := &Report{Started: time.Now().UTC(), Machine: machine()}
	r := &run{o: o}
	var failures []string
	fail := func(name string, err error) {
		if err == nil {
			return
		}
		failures = append(failures, name+": "+err.Error())
		r.results = append(r.results, Result{Name: name + " (failed)", Unit: "", Note: err.Error()})
		fmt.Fprintf(o.Progress, "  FAILED %s: %v\n", name, err)
	}
	az, err := azurite.Start(ctx, azurite.Options{Dir: o.RepoDir, PlainLookups: o.PlainLookups})
	if err != nil {
		return nil, fmt.Errorf("azurite: %w", err)
	}
	defer az.Stop()
	r.az = az

	want := func(phase string) bool { return len(o.Only) == 0 || slices.Contains(o.Only, phase) }
	if want("store") || want("events") {
		fail("store ceiling", r.storeCeiling(ctx))
	}
	if want("events") {
		fail("events", r.events(ctx))
	}
	// Azurite slows down as it holds more data (a node heap of hundreds
	// of MB after the sweep's 100k timers): each later phase starts on an
	// empty in-memory Azurite so it measures holdfast, not the phases
	// before it.
	if want("sweep") {
		fail("restart azurite", az.Restart(ctx))
		fail("sweep", r.sweep(ctx))
	}
	if want("throttling") {
		fail("restart azurite", az.Restart(ctx))
		fail("throttling", r.throttling(ctx))
	}
	if want("layoff") {
		fail("restart azurite", az.Restart(ctx))
		fail("layoff", r.layoff(ctx))
	}
	if !o.SkipFootprint && want("footprint") {
		fail("start-up and footprint", r.footprint(ctx))
	}
	_ = az.Stop() // the build figures want the machine to themselves
	if want("build") {
		fail("build", r.build(ctx))
	}
	rep.Results = r.results
	rep.Duration = time.Since(rep.Started)
	if len(failures) > 0 {
		return rep, fmt.Errorf("bench: %s", strings.Join(failures, "; "))
	}
	return rep, nil
}

// machine describes where the figures were taken.
func machine() string {
	cpu := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				if i := strings.IndexByte(l, ':'); i > 0 {
					cpu = strings.TrimSpace(l[i+1:])
				}
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf(", %.0f GiB RAM", float64(kb)/(1<<20))
		}
	}
	return fmt.Sprintf("%s/%s, %d CPUs (%s)%s, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpu, mem, runtime.Version())
}

// Print writes the figures as a table.
func (rep *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "holdfast bench, %s, %s (run took %s)\n\n", rep.Started.Format(time.RFC3339), rep.Machine, rep.Duration.Round(time.Second))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tvalue\tunit\tceiling\ttarget\tmet\t")
	for _, r := range rep.Results {
		ceil := "-"
		if r.Ceiling != nil {
			ceil = trim(*r.Ceiling)
			if r.CeilingName != "" {
				ceil += " (" + r.CeilingName + ")"
			}
		}
		met := "-"
		if r.Met != nil {
			met = map[bool]string{true: "yes", false: "NO"}[*r.Met]
		}
		target := r.Target
		if target == "" {
			target = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Name, trim(r.Value), r.Unit, ceil, target, met)
	}
	_ = tw.Flush()
	for _, r := range rep.Results {
		if r.Note != "" {
			fmt.Fprintf(w, "  %s: %s\n", r.Name, r.Note)
		}
	}
}

// MergeJSON writes the results to path over those already there: a figure
// of this run replaces the one of the same name, every other figure stays
// (a run of some phases, --only, keeps the rest of the file).
func (rep *Report) MergeJSON(path string) error {
	var old []Result
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &old); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	idx := map[string]int{}
	for i, r := range old {
		idx[r.Name] = i
	}
	for _, r := range rep.Results {
		if i, ok := idx[r.Name]; ok {
			old[i] = r
			continue
		}
		idx[r.Name] = len(old)
		old = append(old, r)
	}
	merged := *rep
	merged.Results = old
	return merged.WriteJSON(path)
}

// WriteJSON writes the results array to path, creating its directory.
func (rep *Report) WriteJSON(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // targets read "<= 2", not "\u003c= 2"
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep.Results); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/holdfast/holdfast/shared/testbed/bench"
)

// benchCmd runs the benchmark harness (make bench): every figure against
// a ceiling measured in the same run, printed and written as JSON.
func benchCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	out := fs.String("out", "bench/results.json", "where to write the results")
	var o bench.Options
	fs.BoolVar(&o.SkipColdBuild, "skip-cold-build", false, "skip the cold go build (empty GOCACHE)")
	fs.BoolVar(&o.SkipTests, "skip-tests", false, "skip the warm go test ./...")
	fs.BoolVar(&o.SkipFootprint, "skip-footprint", false, "skip start-up and footprint of the binary")
	fs.IntVar(&o.Concurrency, "concurrency", 8, "handler concurrency (host.json maxConcurrentCalls)")
	fs.IntVar(&o.ThroughputN, "throughput-events", 2000, "events for the throughput figure")
	fs.IntVar(&o.LatencyN, "latency-events", 1000, "events for the receipt-to-hold latency")
	fs.IntVar(&o.SweepCases, "sweep-timers", 100000, "tracked timers for the sweep cost")
	fs.IntVar(&o.FootprintEvents, "footprint-events", 10000, "events sent to the child process")
	fs.IntVar(&o.LayoffN, "layoff", 10000, "leavers in the mass-layoff figure (a tenant of that many users)")
	fs.Float64Var(&o.LayoffRate, "layoff-rate", 100, "Exchange requests per second of the layoff's scaled budget")
	fs.DurationVar(&o.LayoffWindow, "layoff-window", 10*time.Second, "the layoff budget's fixed window")
	fs.BoolVar(&o.LayoffCompare, "layoff-compare", false, "run the layoff a second time without pacing, for comparison")
	fs.BoolVar(&o.PlainLookups, "azurite-plain-lookups", false, "run Azurite without the test bed's selective-lookup preload (shows its row-scan cost)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run (handler, simulator and driver; not Azurite) to this file")
	memProfile := fs.String("memprofile", "", "write an allocation profile of the run (alloc_space, alloc_objects; same process as -cpuprofile) to this file")
	only := fs.String("only", "", "comma-separated phases to run: store, events, sweep, throttling, layoff, footprint, build (default all)")
	fs.StringVar(&o.Binary, "binary", "", "holdfast binary for start-up and footprint (default: this executable)")
	if err := fs.Parse(args); err != nil {
		return exitError(2)
	}
	if *only != "" {
		o.Only = strings.Split(*only, ",")
	}
	if o.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		o.Binary = exe
	}
	o.Progress = os.Stderr
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	rep, runErr := bench.Run(ctx, o)
	if *memProfile != "" {
		f, err := os.Create(*memProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			return err
		}
	}
	if rep == nil {
		return runErr
	}
	fmt.Println()
	rep.Print(os.Stdout)
	write := rep.WriteJSON
	if len(o.Only) > 0 {
		write = rep.MergeJSON // the other phases' figures stay
	}
	if err := write(*out); err != nil {
		return err
	}
	fmt.Println("\nwrote", *out)
	return runErr
}

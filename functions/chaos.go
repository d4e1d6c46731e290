package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/holdfast/holdfast/shared/testbed/azurite"
	"github.com/holdfast/holdfast/shared/testbed/chaos"
)

// chaosCmd plays randomized lifecycles and checks the invariants
// (docs/reliability.md).
func chaosCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	n := fs.Int("scenarios", 100, "how many scenarios to generate and play")
	seed := fs.Uint64("seed", 1, "seed; the same seed plays the same scenarios")
	users := fs.Int("users", 12, "largest tenant (users per scenario)")
	faults := fs.Bool("faults", false, "inject simulator faults (429 with Retry-After, 503, latency)")
	realistic := fs.Bool("realistic", true, "play three scenarios in four with the simulator's realism profile (late, duplicated, reordered notifications; Exchange lagging behind the directory; holds shown late; throttling that tightens under load); --realistic=false for the optimistic simulator")
	restarts := fs.Bool("azurite-restarts", false, "restart the storage (Azurite, persisted to disk) 1-3 times between steps in one scenario in ten")
	out := fs.String("out", "", "write a minimal reproduction scenario file here for each violation")
	workers := fs.Int("workers", 16*runtime.NumCPU(), "scenarios played in parallel (mostly waiting on retries, so many per core)")
	azurites := fs.Int("azurites", 0, "Azurite processes shared by the workers (default one per 8 workers)")
	shrink := fs.Int("shrink", 20, "runs spent minimizing each violating scenario")
	only := fs.Int("only", -1, "play only scenario number N of the seed and print its timeline")
	crash := fs.Bool("crash", false, "crash injection: SIGKILL the handler process (holdfast serve) during deliveries and sweeps and compare with a crash-free run")
	kills := fs.Int("kills", 100, "with --crash: play scenarios until at least this many kills")
	killRate := fs.Float64("kill-rate", 0.25, "with --crash: probability an invocation gets a SIGKILL 0-20 ms after it is sent")
	if err := fs.Parse(args); err != nil {
		return err
	}
	gen := chaos.GenOptions{MaxUsers: *users, Faults: *faults, AzuriteRestarts: *restarts, Realistic: *realistic}
	if *crash {
		bin, err := os.Executable()
		if err != nil {
			return err
		}
		if *only >= 0 {
			res, err := chaos.PlayCrash(ctx, chaos.Generate(*seed, *only, gen), chaos.CrashOptions{Bin: bin, KillRate: *killRate,
				Seed: *seed*1_000_003 + uint64(*only) + 1, ChildLog: os.Stderr})
			if err != nil {
				return err
			}
			fmt.Print(res.Timeline)
			fmt.Printf("%s: %d kills (%d mid-invocation), %d events delivered\n", res.Name, res.Kills, res.Interrupted, res.Deliveries)
			for _, m := range res.Repeats {
				fmt.Println("REPEAT", m)
			}
			for _, m := range res.Mismatches {
				fmt.Println("MISMATCH", m)
			}
			for _, v := range res.Violations {
				fmt.Println("VIOLATION", v)
			}
			if len(res.Mismatches)+len(res.Violations) > 0 {
				return exitError(1)
			}
			return nil
		}
		sum, err := chaos.RunCrash(ctx, *seed, gen, chaos.CrashOptions{Bin: bin, KillRate: *killRate}, *kills, 1, os.Stdout)
		if sum != nil {
			fmt.Printf("chaos --crash: %d scenarios (seed %d), %d kills (%d mid-invocation), %d events delivered, %d mismatches, %d repeated alerts, %d violations, %s\n",
				sum.Scenarios, *seed, sum.Kills, sum.Interrupted, sum.Deliveries, sum.Mismatches, sum.Repeats, sum.Violations, sum.Wall.Round(1e9))
		}
		if err != nil {
			return err
		}
		if sum.Mismatches > 0 || sum.Violations > 0 {
			return exitError(1)
		}
		return nil
	}
	if *only >= 0 {
		c := chaos.Generate(*seed, *only, gen)
		az, err := azurite.Start(ctx, azurite.Options{})
		if err != nil {
			return err
		}
		defer az.Stop()
		res, err := chaos.Play(ctx, c, az.ConnectionString, "only")
		if err != nil {
			return err
		}
		os.Stdout.Write(chaos.Repro(c, res.Violations))
		fmt.Print(res.Timeline)
		for _, v := range res.Violations {
			fmt.Println("VIOLATION", v)
		}
		if len(res.Violations) > 0 {
			return exitError(1)
		}
		return nil
	}
	if *out != "" {
		if err := os.MkdirAll(*out, 0o755); err != nil {
			return err
		}
	}
	var werr error
	sum, err := chaos.Run(ctx, chaos.Options{Scenarios: *n, Seed: *seed, Gen: gen, Workers: *workers, Azurites: *azurites, Shrink: *shrink, Out: os.Stdout,
		Repro: func(c *chaos.Case, vs []chaos.Violation) {
			b := chaos.Repro(c, vs)
			if *out == "" {
				os.Stdout.Write(b)
				return
			}
			p := filepath.Join(*out, c.Scenario.Name+".json")
			if err := os.WriteFile(p, b, 0o644); err != nil {
				werr = errors.Join(werr, err)
			}
			fmt.Println("reproduction:", p)
		}})
	if err != nil {
		return err
	}
	fmt.Printf("chaos: %d scenarios (seed %d), %d users, %d steps, %d events delivered, %d faults injected, %d Azurite restarts, %d violations in %d scenarios, %d errors, %s\n",
		sum.Scenarios, *seed, sum.Users, sum.Steps, sum.Deliveries, sum.Faults, sum.Restarts, sum.Violations, len(sum.Failed), sum.Errors, sum.Wall.Round(1e9))
	if werr != nil {
		return werr
	}
	if sum.Violations > 0 || sum.Errors > 0 {
		return exitError(1)
	}
	return nil
}

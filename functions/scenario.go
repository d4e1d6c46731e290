package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/app"
	"github.com/holdfast/holdfast/shared/testbed/azurite"
	"github.com/holdfast/holdfast/shared/testbed/localstack"
	"github.com/holdfast/holdfast/shared/testbed/scenario"
	"github.com/holdfast/holdfast/shared/testbed/scenario/runner"
)

// playOne runs one scenario file on a fresh stack (sharing Azurite, with
// its own tables).
func playOne(ctx context.Context, path, azConn, prefix string, out io.Writer) (*runner.Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sc, err := scenario.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	st, err := localstack.Start(ctx, localstack.Options{
		Start: sc.Start, Settings: sc.Settings, AzuriteConnectionString: azConn, TablePrefix: prefix, Log: zerolog.Nop(),
	})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	r := &runner.Runner{Stack: st, Out: out}
	return r.Run(ctx, sc)
}

func scenarioCmd(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "run" {
		return errors.New("usage: holdfast scenario run FILE... [--report FILE] [--quiet]")
	}
	fs := flag.NewFlagSet("scenario run", flag.ContinueOnError)
	report := fs.String("report", "", "write the JSON report here (one file: the report; several: an array)")
	quiet := fs.Bool("quiet", false, "print only the verdicts")
	files, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return errors.New("no scenario files given")
	}
	az, err := azurite.Start(ctx, azurite.Options{})
	if err != nil {
		return err
	}
	defer az.Stop()
	var reports []*runner.Report
	failed := 0
	for i, f := range files {
		var out io.Writer = os.Stdout
		if *quiet {
			out = io.Discard
		}
		rep, err := playOne(ctx, f, az.ConnectionString, fmt.Sprintf("s%dx", i), out)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		verdict := "PASS"
		if !rep.OK {
			verdict, failed = "FAIL", failed+1
		}
		fmt.Printf("%s  %s  (%s; %d events, %d sweeps, %d table ops, %.1fs)\n", verdict, rep.Scenario, filepath.Base(f),
			rep.Stats.Events, rep.Stats.Sweeps, rep.Stats.TableOps, rep.Stats.WallSeconds)
		if !*quiet {
			fmt.Println()
		}
		reports = append(reports, rep)
	}
	if *report != "" {
		var v any = reports
		if len(reports) == 1 {
			v = reports[0]
		}
		b, _ := json.MarshalIndent(v, "", "  ")
		if err := os.WriteFile(*report, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("%d passed, %d failed\n", len(files)-failed, failed)
	if failed > 0 {
		return exitError(1)
	}
	return nil
}

// parseInterspersed lets flags come after file names.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var files []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) > 0 {
			files = append(files, args[0])
			args = args[1:]
		}
	}
	return files, nil
}

// devCmd is `make run`: the local stack plays the demo scenario, then every
// function is invoked once more to show it answering, and a summary says
// what happened to each leaver.
func devCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	file := fs.String("scenario", "scenarios/demo.json", "scenario to play")
	listen := fs.String("listen", "", "after the scenario, keep the stack running and serve the Api and the dashboard on this loopback address (e.g. 127.0.0.1:7071) until Ctrl-C")
	if err := fs.Parse(args); err != nil {
		return err
	}
	wall := time.Now()
	fmt.Println("holdfast local stack: Azurite (Table Storage), tenant simulator (Graph + Exchange), handler (custom-handler protocol)")
	az, err := azurite.Start(ctx, azurite.Options{})
	if err != nil {
		return err
	}
	defer az.Stop()
	b, err := os.ReadFile(*file)
	if err != nil {
		return err
	}
	sc, err := scenario.Parse(b)
	if err != nil {
		return err
	}
	st, err := localstack.Start(ctx, localstack.Options{Start: sc.Start, Settings: sc.Settings, AzuriteConnectionString: az.ConnectionString, Log: zerolog.Nop()})
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Printf("Azurite on %d, simulator on %s, handler on %s\n\n", az.Port, st.SimURL, st.HandlerURL)
	fmt.Println("Timeline (virtual clock):")
	r := &runner.Runner{Stack: st, Out: os.Stdout}
	rep, err := r.Run(ctx, sc)
	if err != nil {
		return err
	}

	fmt.Println("\nEvery function answering through the host envelope:")
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	show := func(fn, what string, logs []string, err error) {
		res := strings.Join(logs, "; ")
		if err != nil {
			res = "ERROR " + err.Error()
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", fn, what, res)
	}
	resp, err := st.Deliver(ctx, app.FnOnOffboarding, "demo-bad-upn", []byte(`{"specversion":"1.0","id":"demo-bad","type":"io.holdfast.hr.offboarding","source":"/hr","data":{"upn":"not a upn"}}`))
	show(app.FnOnOffboarding, "malformed event", resp.Logs, err)
	ev, _ := json.Marshal(map[string]any{"specversion": "1.0", "id": "demo-unknown-type", "type": "Microsoft.Graph.GroupUpdated", "source": "/tenants/x", "data": map[string]any{}})
	resp, err = st.Deliver(ctx, app.FnOnDirectoryEvent, "demo-unknown-type", ev)
	show(app.FnOnDirectoryEvent, "unsupported type", resp.Logs, err)
	resp, err = st.FireTimer(ctx, app.FnExpirySweep)
	show(app.FnExpirySweep, "timer", resp.Logs, err)
	resp, err = st.FireTimer(ctx, app.FnReconcile)
	show(app.FnReconcile, "timer", resp.Logs, err)
	for _, p := range []string{"health", "cases", "rejected"} {
		resp, err = st.CallAPI(ctx, p)
		show(app.FnApi, "GET /api/holdfast/"+p, []string{apiStatus(resp)}, err)
	}
	_ = tw.Flush()

	fmt.Println("\nSummary: what happened to each leaver (ground truth from the simulator)")
	tw = tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  USER\tMAILBOX\tITEMS KEPT\tITEMS LOST\tCASE\tALERTS")
	var upns []string
	for u := range rep.Users {
		upns = append(upns, u)
	}
	sort.Strings(upns)
	for _, u := range upns {
		ur := rep.Users[u]
		kinds := map[string]int{}
		for _, a := range rep.Alerts {
			if strings.EqualFold(a.UPN, u) {
				kinds[a.Kind]++
			}
		}
		var ks []string
		for k, n := range kinds {
			ks = append(ks, fmt.Sprintf("%s×%d", k, n))
		}
		sort.Strings(ks)
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%s\t%s\n", u, ur.Mailbox, ur.ItemsPreserved, ur.ItemsLost, ur.CaseState, strings.Join(ks, " "))
	}
	_ = tw.Flush()
	ok := 0
	for _, e := range rep.Expectations {
		if e.OK {
			ok++
		}
	}
	fmt.Printf("\n%d of %d expectations met; %d events, %d sweeps, %d table operations; %.1fs wall for %s virtual.\n",
		ok, len(rep.Expectations), rep.Stats.Events, rep.Stats.Sweeps, rep.Stats.TableOps, time.Since(wall).Seconds(),
		st.Clock.Now().Sub(sc.Start).Round(time.Hour))
	fmt.Printf("HR event received -> Litigation Hold requested from Exchange: at most %.1f ms (Lifecycle Workflows: up to 3 hours).\n", rep.Stats.HoldLatencyMaxMs)
	if *listen != "" {
		base, err := st.ServeAPI(*listen)
		if err != nil {
			return fmt.Errorf("--listen: %w", err)
		}
		fmt.Printf("\nDashboard: %s  (JSON Api below it: %scases, %srejected; the virtual clock stands at %s)\n",
			base, base, base, st.Clock.Now().UTC().Format(time.RFC3339))
		fmt.Println("Serving until Ctrl-C.")
		<-ctx.Done()
		fmt.Println("\nstopped")
	}
	if !rep.OK {
		return exitError(1)
	}
	return nil
}

func apiStatus(resp any) string {
	b, _ := json.Marshal(resp)
	var r struct {
		Outputs struct {
			Res struct {
				StatusCode int    `json:"statusCode"`
				Body       string `json:"body"`
			} `json:"res"`
		} `json:"Outputs"`
	}
	_ = json.Unmarshal(b, &r)
	body := r.Outputs.Res.Body
	if len(body) > 90 {
		body = body[:90] + "…"
	}
	return fmt.Sprintf("%d %s", r.Outputs.Res.StatusCode, body)
}

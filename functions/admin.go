package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/holdfast/holdfast/shared/app"
	"github.com/holdfast/holdfast/shared/config"
	"github.com/holdfast/holdfast/shared/engine"
	"github.com/holdfast/holdfast/shared/ledger"
	"github.com/holdfast/holdfast/shared/logging"
	"github.com/holdfast/holdfast/shared/retention"
)

// adminStack wires holdfast for an admin subcommand.
func adminStack(ctx context.Context) (*app.Stack, error) {
	cfg, err := config.FromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, "holdfast:", err)
		return nil, exitError(2)
	}
	log := logging.New(os.Stderr, cfg.LogLevel, secretValues())
	cred, err := cliCredential(cfg.Mode == config.ModeAzure)
	if err != nil {
		return nil, err
	}
	return app.Wire(ctx, cfg, app.Options{Log: log, Credential: cred})
}

// adminActor names the person running the CLI in the audit trail.
func adminActor() string {
	if u := os.Getenv("USER"); u != "" {
		return "cli:" + u
	}
	return "cli"
}

// casesCmd lists cases at risk, soonest deadline first.
func casesCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("cases", flag.ContinueOnError)
	all := fs.Bool("all", false, "list every case, not only those at risk or needing a human")
	plannedOnly := fs.Bool("planned", false, "list only cases with tenant writes observe-only mode planned and did not perform")
	if err := fs.Parse(args); err != nil {
		return err
	}
	st, err := adminStack(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	var rows []ledger.CaseRecord
	planned := map[string]string{}
	err = st.Store.ListCases(ctx, func(c ledger.CaseRecord) error {
		pl := pendingPlanned(c.Data)
		if pl != "" {
			planned[c.Key] = pl
		}
		if *plannedOnly {
			if pl != "" {
				rows = append(rows, c)
			}
			return nil
		}
		if *all || pl != "" || !c.Deadline.IsZero() || c.State == string(retention.StateBlocked) || c.State == string(retention.StateFailing) ||
			c.State == string(retention.StateRescuing) || c.State == string(retention.StateProtecting) {
			rows = append(rows, c)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i].Deadline, rows[j].Deadline
		if a.IsZero() != b.IsZero() {
			return !a.IsZero()
		}
		return a.Before(b)
	})
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "UPN\tSTATE\tDEADLINE\tPLANNED (observe mode, not done)\tKEY")
	for _, c := range rows {
		dl := "-"
		if !c.Deadline.IsZero() {
			dl = c.Deadline.Format(time.RFC3339)
		}
		pl := planned[c.Key]
		if pl == "" {
			pl = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", c.UPN, c.State, dl, pl, c.Key)
	}
	return w.Flush()
}

// pendingPlanned summarises a case's pending planned actions, e.g.
// "rescue: Undo-SoftDeletedMailbox"; empty when there are none.
func pendingPlanned(data []byte) string {
	pl, err := engine.PlannedActions(data)
	if err != nil {
		return ""
	}
	var parts []string
	for _, p := range pl {
		if p.Status == engine.PlannedPending {
			parts = append(parts, p.Step+": "+p.Op)
		}
	}
	return strings.Join(parts, "; ")
}

// caseCmd prints one case (by UPN or key) and its audit trail.
func caseCmd(ctx context.Context, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: holdfast case UPN|KEY")
	}
	st, err := adminStack(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	key, err := st.Engine.FindCase(ctx, args[0])
	if err != nil {
		return err
	}
	rec, err := st.Store.LoadCase(ctx, key)
	if err != nil {
		return err
	}
	var pretty any
	if json.Unmarshal(rec.Data, &pretty) == nil {
		b, _ := json.MarshalIndent(pretty, "", "  ")
		fmt.Println(string(b))
	}
	if pl, err := engine.PlannedActions(rec.Data); err == nil && len(pl) > 0 {
		fmt.Println("\nplanned actions (observe-only mode: decided, not performed):")
		for _, p := range pl {
			closed := ""
			if p.ClosedAt != nil {
				closed = " closed " + p.ClosedAt.Format(time.RFC3339) + ": " + p.Note
			}
			fmt.Printf("%s  %-8s %-7s %s on %s (%s)%s\n", p.PlannedAt.Format(time.RFC3339), p.Status, p.Step, p.Op, p.Target, p.Detail, closed)
		}
	}
	fmt.Println("\ntimeline:")
	return st.Store.ListAudit(ctx, key, func(a ledger.AuditRecord) error {
		fmt.Printf("%s  %-16s %-8s %-18s %s\n", a.At.Format(time.RFC3339), a.Actor, a.Result, a.Action, a.Detail)
		return nil
	})
}

// adminCaseCmd runs release, restore and recover.
func adminCaseCmd(ctx context.Context, name string, args []string) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	to := fs.String("to", "", "restore: UPN of the target mailbox (put on Litigation Hold first)")
	reason := fs.String("reason", "", "release: why, for the audit (required)")
	upn := fs.String("upn", "", "recover: UPN of the new account (default: the leaver's)")
	// Accept the reference before or after the flags.
	var ref string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		ref, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if ref == "" && fs.NArg() == 1 {
		ref = fs.Arg(0)
	}
	if ref == "" {
		return fmt.Errorf("usage: holdfast %s UPN|KEY [flags]", name)
	}
	st, err := adminStack(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	var c retention.Case
	switch name {
	case "release":
		c, err = st.Engine.Release(ctx, ref, *reason, adminActor())
	case "restore":
		c, err = st.Engine.RestoreTo(ctx, ref, *to, adminActor())
	case "recover":
		c, err = st.Engine.Recover(ctx, ref, *upn, adminActor())
	}
	if err != nil {
		return err
	}
	fmt.Printf("%s: %s (%s)\n", c.UPN, c.State, c.Reason)
	return nil
}

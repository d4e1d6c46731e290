// Command holdfast is both the Azure Functions custom handler (serve) and
// the project's CLI: the local stack, the scenario runner, the tenant
// simulator, configuration and publishing tools.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

const usage = `holdfast: keeps leavers' Microsoft 365 mailboxes from being purged.

Usage:
  holdfast serve                      run the custom handler (default when FUNCTIONS_CUSTOMHANDLER_PORT is set)
  holdfast dev [--scenario FILE] [--listen 127.0.0.1:PORT]
                                      run the local stack (Azurite, simulator, handler) and play the demo;
                                      with --listen, then serve the Api and dashboard until Ctrl-C
  holdfast scenario run FILE... [--report FILE] [--quiet]
                                      play scenario files against the local stack
  holdfast sim --listen 127.0.0.1:PORT [--tenant FILE] [--start RFC3339]
                                      run the tenant simulator alone
  holdfast config                     list the app settings the binary reads and which are set
  holdfast publish --queue NAME --file EVENT.json
                                      send an event to a Service Bus queue (managed identity or connection string)
  holdfast deadletters [--queue NAME] [--replay ID|all] [--max N] [--json]
                                      list dead-lettered messages, or replay them with a new retry budget
  holdfast reconcile                  inventory the tenant and open cases for what no event announced
  holdfast status [--json]            the Graph subscription holdfast owns: state, expiry, last notification, last reconcile
  holdfast cases [--all] [--planned]  cases at risk or needing a human, soonest deadline first
                                      (--planned: only those with actions observe-only mode planned)
  holdfast case UPN|KEY               one case: its record and audit timeline
  holdfast restore UPN --to TARGET    copy a soft-deleted or inactive mailbox into TARGET (New-MailboxRestoreRequest)
  holdfast recover UPN [--upn NEW]    rehire path: restore the user, or recover the inactive mailbox into a new account
  holdfast release UPN --reason TEXT  stop protecting (audited); the clock is still watched and warned
  holdfast verify-audit FILE [--head HASH] | --case UPN|KEY
                                      check a case's audit hash chain (an export, JSON or CSV, or as stored); names the first bad row
  holdfast bench [--out FILE] [--skip-cold-build] [--skip-tests]
                                      measure figures against side-by-side ceilings (make bench)
  holdfast chaos --scenarios N --seed S [--users U] [--faults] [--realistic=true|false] [--out DIR] [--workers W] [--only I]
                                      play randomized lifecycles and check the invariants (docs/reliability.md)
  holdfast probe --tenant ID [--auth device-code|azure-cli|managed-identity] [--out PREFIX]
                                      read-only survey of a tenant: every read holdfast depends on, compared
                                      with docs/contracts.md; writes a shapes-only report (no personal data)
  holdfast version
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tuneGC(os.LookupEnv)
	if err := run(ctx, os.Args[1:]); err != nil {
		var ex exitError
		if errors.As(err, &ex) {
			os.Exit(int(ex))
		}
		fmt.Fprintln(os.Stderr, "holdfast:", err)
		os.Exit(1)
	}
}

// exitError ends the process with a code, having printed its own message.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit %d", int(e)) }

func run(ctx context.Context, args []string) error {
	cmd := ""
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	if cmd == "" {
		if _, ok := os.LookupEnv("FUNCTIONS_CUSTOMHANDLER_PORT"); ok {
			cmd = "serve"
		}
	}
	switch cmd {
	case "serve":
		return serveCmd(ctx, args)
	case "dev":
		return devCmd(ctx, args)
	case "scenario":
		return scenarioCmd(ctx, args)
	case "sim":
		return simCmd(ctx, args)
	case "config":
		return configCmd(args)
	case "publish":
		return publishCmd(ctx, args)
	case "deadletters":
		return deadlettersCmd(ctx, args)
	case "reconcile":
		return reconcileCmd(ctx, args)
	case "cases":
		return casesCmd(ctx, args)
	case "status":
		return statusCmd(ctx, args)
	case "case":
		return caseCmd(ctx, args)
	case "verify-audit":
		return verifyAuditCmd(ctx, args)
	case "release", "restore", "recover":
		return adminCaseCmd(ctx, cmd, args)
	case "bench":
		return benchCmd(ctx, args)
	case "chaos":
		return chaosCmd(ctx, args)
	case "probe":
		return probeCmd(ctx, args)
	case "version":
		fmt.Println("holdfast", version)
		return nil
	case "", "help", "-h", "--help":
		fmt.Print(usage)
		return nil
	}
	fmt.Fprint(os.Stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

// version is set by the Makefile at link time.
var version = "dev"

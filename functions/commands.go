package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/holdfast/holdfast/shared/app"
	"github.com/holdfast/holdfast/shared/clock"
	"github.com/holdfast/holdfast/shared/config"
	"github.com/holdfast/holdfast/shared/customhandler"
	"github.com/holdfast/holdfast/shared/logging"
	"github.com/holdfast/holdfast/shared/servicebus"
	"github.com/holdfast/holdfast/shared/subscription"
	"github.com/holdfast/holdfast/shared/testbed/sim"
)

func hostFunctionTimeout(hostJSON []byte) (time.Duration, error) {
	var h struct {
		FunctionTimeout string `json:"functionTimeout"`
	}
	if err := json.Unmarshal(hostJSON, &h); err != nil {
		return 0, fmt.Errorf("host.json: %w", err)
	}
	if h.FunctionTimeout == "" {
		return 0, errors.New("host.json has no functionTimeout")
	}
	return customhandler.ParseTimeSpan(h.FunctionTimeout)
}

// configCmd prints every setting the binary reads, whether it is set, and
// the validation result. Secret values are never printed.
func configCmd(args []string) error {
	fs := flag.NewFlagSet("config", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SETTING\tSET\tVALUE\tDESCRIPTION")
	for _, s := range config.Settings() {
		v, ok := os.LookupEnv(s.Name)
		set, shown := "no", s.Default
		if ok && v != "" {
			set, shown = "yes", v
		}
		if s.Secret && shown != "" {
			shown = "(secret, hidden)"
		}
		if shown == "" {
			shown = "-"
		} else if set == "no" {
			shown += " (default)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, set, shown, s.Doc)
	}
	_ = tw.Flush()
	if _, err := config.FromEnv(); err != nil {
		fmt.Println()
		fmt.Println(err)
		return exitError(2)
	}
	fmt.Println("\nconfiguration valid")
	return nil
}

// simCmd runs the tenant simulator standalone.
func simCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:7071", "loopback address to serve on")
	tenantFile := fs.String("tenant", "", "JSON file with the tenant to seed (the scenario \"tenant\" object)")
	start := fs.String("start", "2026-03-02T09:00:00Z", "virtual clock start (RFC 3339)")
	tenantID := fs.String("tenant-id", "6f1c2d3e-4b5a-4978-8a6b-0c1d2e3f4a5b", "simulated tenant id")
	if err := fs.Parse(args); err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil || !(host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1") {
		return fmt.Errorf("--listen must be a loopback address, got %q", *listen)
	}
	t0, err := time.Parse(time.RFC3339, *start)
	if err != nil {
		return fmt.Errorf("--start: %w", err)
	}
	log := logging.New(os.Stderr, "info", nil)
	s := sim.New(sim.Options{Clock: clock.NewVirtual(t0), TenantID: *tenantID, Domain: "contoso.test", Log: log})
	if *tenantFile != "" {
		b, err := os.ReadFile(*tenantFile)
		if err != nil {
			return err
		}
		var spec sim.TenantSpec
		if err := json.Unmarshal(b, &spec); err != nil {
			return fmt.Errorf("%s: %w", *tenantFile, err)
		}
		if err := s.Load(spec); err != nil {
			return err
		}
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(os.Stderr, "tenant simulator on http://%s (Graph /v1.0, Exchange /adminapi/beta/%s/InvokeCommand, control /_sim)\n", l.Addr(), *tenantID)
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// publishCmd sends one event file to a queue.
func publishCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("publish", flag.ContinueOnError)
	queue := fs.String("queue", app.QueueHR, "queue: hr-offboarding or directory-events")
	file := fs.String("file", "", "event JSON file (CloudEvents 1.0); - for stdin")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *queue != app.QueueHR && *queue != app.QueueDirectory {
		return fmt.Errorf("--queue must be %s or %s", app.QueueHR, app.QueueDirectory)
	}
	if *file == "" {
		return errors.New("--file is required")
	}
	var body []byte
	var err error
	if *file == "-" {
		body, err = readAll(os.Stdin)
	} else {
		body, err = os.ReadFile(*file)
	}
	if err != nil {
		return err
	}
	c, err := serviceBusClient()
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	id, err := servicebus.Publish(ctx, c, *queue, body)
	if err != nil {
		return err
	}
	fmt.Printf("published message %s to %s\n", id, *queue)
	return nil
}

// reconcileCmd runs one reconciliation with a progress display.
func reconcileCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("reconcile", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	stack, err := adminStack(ctx)
	if err != nil {
		return err
	}
	defer stack.Close()
	last := time.Now()
	res, err := stack.Engine.Reconcile(zerolog.Ctx(ctx).WithContext(ctx), func(stage string, n int) {
		if time.Since(last) > 200*time.Millisecond {
			fmt.Fprintf(os.Stderr, "\r%-24s %8d", stage, n)
			last = time.Now()
		}
	})
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return err
	}
	fmt.Println(res)
	return nil
}

func readAll(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, 1<<20+1))
	if err != nil {
		return nil, err
	}
	if len(b) > 1<<20 {
		return nil, errors.New("input larger than 1 MiB")
	}
	return b, nil
}

// statusCmd shows the Graph subscription holdfast owns: state, expiry, the
// last notification received and the last reconcile, from Table Storage
// (no Graph call). Exit 1 when the subscription is missing, failing or
// expiring, so a monitor can run it.
func statusCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the status as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	stack, err := adminStack(ctx)
	if err != nil {
		return err
	}
	defer stack.Close()
	st, err := stack.Subscription.Status(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		b, _ := json.MarshalIndent(st, "", "  ")
		fmt.Println(string(b))
	} else {
		fmt.Print(formatStatus(st))
	}
	switch st.State {
	case "missing", "failing", "expiring":
		return exitError(1)
	}
	return nil
}

func formatStatus(st subscription.Status) string {
	when := func(t *time.Time) string {
		if t == nil {
			return "never"
		}
		return t.UTC().Format(time.RFC3339)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "subscription      %s\n", st.State)
	if st.SubscriptionID != "" {
		fmt.Fprintf(&b, "id                %s\n", st.SubscriptionID)
	}
	fmt.Fprintf(&b, "expires           %s", when(st.Expires))
	if st.ExpiresIn != "" {
		fmt.Fprintf(&b, " (in %s)", st.ExpiresIn)
	}
	fmt.Fprintf(&b, "\nlast renewal      %s (%d renewals, %d recreations)\n", when(st.LastRenewal), st.Renewals, st.Recreations)
	fmt.Fprintf(&b, "last notification %s\n", when(st.LastNotification))
	fmt.Fprintf(&b, "last reconcile    %s", when(st.LastReconcile))
	if st.LastReconcileRes != "" {
		fmt.Fprintf(&b, "  %s", st.LastReconcileRes)
	}
	b.WriteString("\n")
	if st.LastFailure != "" {
		fmt.Fprintf(&b, "last failure      %s  %s\n", when(st.LastFailureAt), st.LastFailure)
	}
	if st.LastLifecycle != "" {
		fmt.Fprintf(&b, "last lifecycle    %s  %s\n", when(st.LastLifecycleAt), st.LastLifecycle)
	}
	if st.LastGapFrom != nil {
		fmt.Fprintf(&b, "last gap          %s .. %s (reconciled)\n", when(st.LastGapFrom), when(st.LastGapTo))
	}
	return b.String()
}

// serviceBusClient connects the CLI to the namespace the app settings name:
// with your Azure login when only the namespace is set, else with the
// connection string (local and integration tests).
func serviceBusClient() (*azservicebus.Client, error) {
	conn := os.Getenv("ServiceBusConnection")
	ns := os.Getenv("ServiceBusConnection__fullyQualifiedNamespace")
	if conn == "" && ns == "" {
		return nil, errors.New("set ServiceBusConnection__fullyQualifiedNamespace (uses your Azure login) or ServiceBusConnection")
	}
	cred, err := cliCredential(ns != "" && conn == "")
	if err != nil {
		return nil, err
	}
	return servicebus.NewClient(conn, ns, cred)
}

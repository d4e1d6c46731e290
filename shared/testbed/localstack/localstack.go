// Package localstack runs holdfast on one machine without a cloud account:
// Azurite for Table Storage, the tenant simulator for Microsoft 365, and
// the real handler in this process behind the Functions host emulator
// (package host), which sends it invocations in the host's envelope
// format. Everything shares one virtual clock.
package localstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/app"
	"github.com/holdfast/holdfast/shared/clock"
	"github.com/holdfast/holdfast/shared/config"
	"github.com/holdfast/holdfast/shared/customhandler"
	"github.com/holdfast/holdfast/shared/ledger"
	"github.com/holdfast/holdfast/shared/testbed/azurite"
	"github.com/holdfast/holdfast/shared/testbed/host"
	"github.com/holdfast/holdfast/shared/testbed/sim"
)

// TenantID is the simulated tenant's id.
const TenantID = "6f1c2d3e-4b5a-4978-8a6b-0c1d2e3f4a5b"

// Options configure the local stack.
type Options struct {
	Start time.Time
	// Settings override app settings (HOLDFAST_* names) on top of the
	// local defaults.
	Settings map[string]string
	// AzuriteConnectionString reuses a running Azurite instead of
	// starting one.
	AzuriteConnectionString string
	// TablePrefix isolates stacks sharing one Azurite.
	TablePrefix string
	Log         zerolog.Logger
	// HandlerLog receives the handler's own JSON log lines (io.Discard
	// when nil).
	HandlerLog io.Writer
	// Sim and Clock, when both set, reuse another stack's simulator and
	// virtual clock instead of starting new ones: a second handler
	// instance on the same tenant (concurrency tests). The stack then
	// serves no simulator of its own; SimURL must be that simulator's
	// address.
	Sim    *sim.Sim
	Clock  *clock.Virtual
	SimURL string
	// Instance names the handler instance (sweep leases); default "local".
	Instance string
	// RetryDelay shortens the Graph and Exchange clients' backoff (see
	// app.Options); zero keeps the production defaults.
	RetryDelay time.Duration
	// Unpaced wires the clients without their limiters (app.Options).
	Unpaced bool
	// Broker models the Service Bus queues (scheduled messages, delivery
	// count, dead-lettering; host.Broker) and is the handler's retry
	// scheduler: send with Broker.Send and deliver with Pump. Without it,
	// Deliver plays Service Bus's immediate redelivery only.
	Broker bool
	// Ledger, when set, keeps the records instead of Azurite (none is
	// started): a memledger in fast tests, shared by stacks that share a
	// tenant. Counter is the counter it counts round trips in (App.Counter).
	Ledger  ledger.Store
	Counter *ledger.Counter
}

// Stack is a running local stack.
type Stack struct {
	Clock      *clock.Virtual
	Sim        *sim.Sim
	SimURL     string
	Azurite    *azurite.Instance
	App        *app.Stack
	HandlerURL string
	// Host is the Functions host emulator in front of the handler; a
	// harness may replace it (the chaos harness points it at a child
	// process through its killing transport).
	Host *host.Host
	// Broker is set when Options.Broker is.
	Broker  *host.Broker
	servers []*http.Server
	inproc  *host.Host
}

// Settings returns the local defaults for every setting the binary reads.
func Settings(simURL, storage string) map[string]string {
	return map[string]string{
		"HOLDFAST_MODE":              "local",
		"HOLDFAST_TENANT_ID":         TenantID,
		"AzureWebJobsStorage":        storage,
		"HOLDFAST_GRAPH_BASE_URL":    simURL + "/v1.0",
		"HOLDFAST_EXCHANGE_BASE_URL": simURL,
		"HOLDFAST_LOG_LEVEL":         "info",
	}
}

// HandlerSettings are the settings a handler on this stack runs with, in
// process or as a child process: Settings plus what the simulator hands
// out (the subscription's clientState, the SecureString public key). A
// child started with less would act differently from the in-process
// handler it is compared with.
func (s *Stack) HandlerSettings(storage string) map[string]string {
	settings := Settings(s.SimURL, storage)
	settings["HOLDFAST_GRAPH_CLIENT_STATE"] = s.Sim.ClientState()
	settings["HOLDFAST_EXO_SECURESTRING_KEY"] = s.Sim.SecureStringKeyXML()
	return settings
}

func serve(l net.Listener, h http.Handler) *http.Server {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return srv
}

// Start brings the stack up. Close it when done.
func Start(ctx context.Context, o Options) (_ *Stack, err error) {
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	}
	if o.HandlerLog == nil {
		o.HandlerLog = io.Discard
	}
	s := &Stack{Clock: o.Clock}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if o.Sim != nil && o.Clock != nil && o.SimURL != "" {
		s.Sim, s.SimURL = o.Sim, o.SimURL
	} else {
		s.Clock = clock.NewVirtual(o.Start)
		s.Sim = sim.New(sim.Options{Clock: s.Clock, TenantID: TenantID, Domain: "contoso.test", Log: o.Log})
		sl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		s.servers = append(s.servers, serve(sl, s.Sim.Handler()))
		s.SimURL = "http://" + sl.Addr().String()
	}

	storage := o.AzuriteConnectionString
	if o.Ledger != nil {
		// Required by the configuration, never opened.
		storage = "UseDevelopmentStorage=true"
	}
	if storage == "" {
		s.Azurite, err = azurite.Start(ctx, azurite.Options{})
		if err != nil {
			return nil, fmt.Errorf("azurite: %w", err)
		}
		storage = s.Azurite.ConnectionString
	}
	settings := s.HandlerSettings(storage)
	for k, v := range o.Settings {
		settings[k] = v
	}
	cfg, err := config.Load(func(n string) (string, bool) { v, ok := settings[n]; return v, ok })
	if err != nil {
		return nil, err
	}
	if o.Instance == "" {
		o.Instance = "local"
	}
	aopts := app.Options{Clock: s.Clock, Log: o.Log, Instance: o.Instance, TablePrefix: o.TablePrefix, RetryDelay: o.RetryDelay, Unpaced: o.Unpaced,
		Ledger: o.Ledger, Counter: o.Counter}
	if o.Broker {
		s.Broker = host.NewBroker(s.Clock.Now)
		aopts.Scheduler = s.Broker
	}
	s.App, err = app.Wire(ctx, cfg, aopts)
	if err != nil {
		return nil, err
	}
	hlog := zerolog.New(o.HandlerLog).With().Timestamp().Logger()
	srv := customhandler.NewServer(hlog, customhandler.ServerOptions{})
	// The handlers the served binary runs: storage outages answered
	// transiently, transient failures retried under the budget.
	app.NewLazy(s.App, hlog).Register(srv)
	s.inproc, err = host.InProcess(srv, s.Clock.Now, HostOptions())
	if err != nil {
		return nil, err
	}
	s.Host, s.HandlerURL = s.inproc, s.inproc.URL
	return s, nil
}

// Close stops everything.
func (s *Stack) Close() {
	for _, srv := range s.servers {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = srv.Shutdown(ctx)
		cancel()
	}
	if s.inproc != nil {
		s.inproc.Close()
	}
	if s.App != nil {
		s.App.Close()
	}
	if s.Azurite != nil {
		_ = s.Azurite.Stop()
	}
}

// HostOptions are the host emulator's settings for holdfast's functions:
// the Api function and the queue triggers of functions/*/function.json.
func HostOptions() host.Options {
	return host.Options{APIFunction: app.FnApi, Queues: []host.Binding{
		{Queue: app.QueueHR, Function: app.FnOnOffboarding},
		{Queue: app.QueueDirectory, Function: app.FnOnDirectoryEvent},
	}}
}

// ErrDeadLettered: a message kept failing and would be dead-lettered.
var ErrDeadLettered = host.ErrDeadLettered

// MaxDeliveryCount mirrors the queues' setting in infra/.
const MaxDeliveryCount = host.MaxDeliveryCount

// Deliver posts one Service Bus message to a queue-triggered function the
// way the host does, redelivering (DeliveryCount+1) while the handler asks
// for a retry, up to MaxDeliveryCount (host.Host.Deliver).
func (s *Stack) Deliver(ctx context.Context, function, messageID string, body []byte) (customhandler.Response, error) {
	return s.Host.Deliver(ctx, function, messageID, body)
}

// FireTimer invokes a timer-triggered function as the host does.
func (s *Stack) FireTimer(ctx context.Context, function string) (customhandler.Response, error) {
	return s.Host.FireTimer(ctx, function)
}

// CallAPI invokes the Api function with a GET of path (below
// /api/holdfast/).
func (s *Stack) CallAPI(ctx context.Context, path string) (customhandler.Response, error) {
	return s.Host.CallAPI(ctx, path)
}

// APIHandler is the host's HTTP front for the Api function
// (host.Host.APIHandler).
func (s *Stack) APIHandler() http.Handler { return s.Host.APIHandler() }

// Pump delivers the broker's visible messages (host.Host.Pump).
func (s *Stack) Pump(ctx context.Context) (host.PumpStats, error) {
	if s.Broker == nil {
		return host.PumpStats{}, errors.New("localstack: no broker (Options.Broker)")
	}
	return s.Host.Pump(ctx, s.Broker)
}

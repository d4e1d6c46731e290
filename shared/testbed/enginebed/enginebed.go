// Package enginebed is the engine's light test harness: one engine wired
// to the tenant simulator and a store, without the Functions host, the
// handler's envelope or the Graph SDK. The directory is the simulator's
// in-process Directory port (simdirectory, held to graph.Client's
// behaviour by the directorytest conformance suite); Exchange is the real
// azcore-based exo client over the simulator's HTTP listener; the engine
// keeps its records in a ledger: the in-memory one (memledger) by default,
// or Table Storage on Azurite. Everything shares one virtual clock.
//
// Tests of the Functions envelope, the Graph SDK or the host's retries use
// the local stack (package localstack) instead, which wires the served
// binary's app.Stack.
package enginebed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/clock"
	"github.com/holdfast/holdfast/shared/config"
	"github.com/holdfast/holdfast/shared/engine"
	"github.com/holdfast/holdfast/shared/events"
	"github.com/holdfast/holdfast/shared/exo"
	"github.com/holdfast/holdfast/shared/ledger"
	"github.com/holdfast/holdfast/shared/ledger/memledger"
	"github.com/holdfast/holdfast/shared/notify"
	"github.com/holdfast/holdfast/shared/observe"
	"github.com/holdfast/holdfast/shared/pacing"
	"github.com/holdfast/holdfast/shared/store"
	"github.com/holdfast/holdfast/shared/testbed/host"
	"github.com/holdfast/holdfast/shared/testbed/sim"
	"github.com/holdfast/holdfast/shared/testbed/sim/simdirectory"
)

// TenantID is the simulated tenant's id (the local stack's).
const TenantID = "6f1c2d3e-4b5a-4978-8a6b-0c1d2e3f4a5b"

// Options configure a Bed.
type Options struct {
	// Start is the virtual clock's start (default 2026-03-02 09:00 UTC).
	Start time.Time
	// Settings override app settings (HOLDFAST_* names: policy, actions)
	// on top of the local defaults, read by config.Load as in the served
	// binary.
	Settings map[string]string
	// Ledger keeps the records (a memledger: ForTest's default); Counter
	// is the counter it counts round trips in. Without a Ledger the bed
	// opens Table Storage at AzuriteConnectionString.
	Ledger  ledger.Store
	Counter *ledger.Counter
	// AzuriteConnectionString is the table storage when there is no
	// Ledger.
	AzuriteConnectionString string
	// TablePrefix isolates beds sharing one Azurite.
	TablePrefix string
	Log         zerolog.Logger
	// Instance names the engine instance (leases, audit rows); default
	// "local".
	Instance string
	// Peer, when set, is another bed whose simulator and clock this one
	// shares, and its ledger unless Ledger or AzuriteConnectionString is
	// given: a second instance of one app (concurrency tests).
	Peer *Bed
	// RetryDelay shortens the clients' backoff as app.Options does; zero
	// keeps the production defaults.
	RetryDelay time.Duration
}

// Bed is one engine on the simulator.
type Bed struct {
	Clock  *clock.Virtual
	Sim    *sim.Sim
	SimURL string
	Config config.Config
	Store  ledger.Store
	// Tables is the Table Storage store when the bed opened one.
	Tables    *store.Store
	Counter   *ledger.Counter
	Directory *simdirectory.Client
	Exchange  *exo.Client
	Engine    *engine.Engine
	// Recorder sees every alert the engine sends.
	Recorder *notify.Recorder
	closers  []func()
}

// Start wires a bed. Close it when done.
func Start(ctx context.Context, o Options) (_ *Bed, err error) {
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	}
	if o.Instance == "" {
		o.Instance = "local"
	}
	if o.Peer != nil && o.Ledger == nil && o.AzuriteConnectionString == "" && o.Peer.Tables == nil {
		o.Ledger, o.Counter = o.Peer.Store, o.Peer.Counter
	}
	storage := o.AzuriteConnectionString
	switch {
	case o.Ledger != nil:
		storage = "UseDevelopmentStorage=true" // required by the configuration, never opened
	case storage == "":
		return nil, errors.New("enginebed: a ledger or a table storage connection string is required")
	}
	if o.Counter == nil {
		o.Counter = &ledger.Counter{}
	}
	b := &Bed{Counter: o.Counter, Recorder: &notify.Recorder{}}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	if o.Peer != nil {
		b.Clock, b.Sim, b.SimURL = o.Peer.Clock, o.Peer.Sim, o.Peer.SimURL
	} else {
		b.Clock = clock.NewVirtual(o.Start)
		b.Sim = sim.New(sim.Options{Clock: b.Clock, TenantID: TenantID, Domain: "contoso.test", Log: o.Log})
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		srv := &http.Server{Handler: b.Sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(l) }()
		b.closers = append(b.closers, func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = srv.Shutdown(ctx)
		})
		b.SimURL = "http://" + l.Addr().String()
	}

	settings := map[string]string{
		"HOLDFAST_MODE":                 "local",
		"HOLDFAST_TENANT_ID":            TenantID,
		"AzureWebJobsStorage":           storage,
		"HOLDFAST_GRAPH_BASE_URL":       b.SimURL + "/v1.0",
		"HOLDFAST_EXCHANGE_BASE_URL":    b.SimURL,
		"HOLDFAST_GRAPH_CLIENT_STATE":   b.Sim.ClientState(),
		"HOLDFAST_EXO_SECURESTRING_KEY": b.Sim.SecureStringKeyXML(),
	}
	for k, v := range o.Settings {
		settings[k] = v
	}
	cfg, err := config.Load(func(n string) (string, bool) { v, ok := settings[n]; return v, ok })
	if err != nil {
		return nil, err
	}
	b.Config = cfg
	pol, err := cfg.Policy.Retention()
	if err != nil {
		return nil, err
	}

	// Paced as app.Prepare paces the served binary's clients.
	reads, writes := pacing.New("graph-reads", pacing.Unknown()), pacing.New("graph-writes", pacing.GraphWrites())
	b.Directory, err = simdirectory.New(simdirectory.Options{Transport: b.Sim.Transport(), RetryDelay: o.RetryDelay,
		Pacing: pacing.ByMethod(reads, writes)})
	if err != nil {
		return nil, err
	}
	b.Exchange, err = exo.New(exo.Options{BaseURL: cfg.ExchangeBaseURL, TenantID: cfg.TenantID, RetryDelay: o.RetryDelay,
		Pacer: pacing.New("exchange", pacing.Unknown()), SecureStringKey: cfg.ExchangeSecureStringKey})
	if err != nil {
		return nil, fmt.Errorf("exchange: %w", err)
	}
	if o.Ledger != nil {
		b.Store = o.Ledger
	} else {
		b.Tables, err = store.Open(ctx, store.Options{ConnectionString: cfg.TableConnectionString, Counter: b.Counter, TablePrefix: o.TablePrefix})
		if err != nil {
			return nil, fmt.Errorf("table storage: %w", err)
		}
		b.Store = b.Tables
	}
	alerts := notify.NewDispatcher(o.Log, b.Recorder).WithClock(b.Clock.Now)
	var (
		dir     engine.Directory = b.Directory
		exch    engine.Exchange  = b.Exchange
		alerter engine.Alerter   = alerts
	)
	if cfg.Actions == config.ActionsObserve {
		// As app.Stack.Open wires observe-only mode.
		dir, exch, alerter = observe.Directory{Directory: dir}, observe.WrapExchange(exch), observe.Alerter{Next: alerter}
	}
	b.Engine = engine.New(engine.Deps{
		TenantID: cfg.TenantID, ClientState: cfg.GraphClientState, Directory: dir, Exchange: exch, Store: b.Store,
		Alerts: alerter, Clock: b.Clock, Policy: pol, Log: o.Log, Instance: o.Instance,
	})
	return b, nil
}

// ForTest starts a bed for t, closed when t ends. Without a Ledger, an
// Azurite connection string or a Peer it keeps its records in a new
// in-memory ledger (memledger, held to Table Storage's semantics by
// ledgertest).
func ForTest(t testing.TB, o Options) *Bed {
	t.Helper()
	if o.Ledger == nil && o.AzuriteConnectionString == "" && o.Peer == nil {
		o.Counter = &ledger.Counter{}
		o.Ledger = memledger.New(memledger.Options{Counter: o.Counter})
	}
	b, err := Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// Close stops the simulator's listener (unless shared from a peer).
func (b *Bed) Close() {
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]()
	}
	b.closers = nil
}

// ErrDeadLettered: a message kept failing and Service Bus would
// dead-letter it.
var ErrDeadLettered = host.ErrDeadLettered

// Deliver hands one message to the engine as Service Bus and the host do
// without a retry scheduler: while the engine fails it, it is redelivered
// at once with DeliveryCount+1, up to host.MaxDeliveryCount; then it is
// dead-lettered (an error wrapping ErrDeadLettered).
func (b *Bed) Deliver(ctx context.Context, q events.Queue, messageID string, body []byte) (engine.Outcome, error) {
	var last error
	for n := 1; n <= host.MaxDeliveryCount; n++ {
		out, err := b.Engine.HandleMessage(ctx, engine.Message{Queue: q, Body: body, MessageID: messageID, DeliveryCount: n})
		if err == nil {
			return out, nil
		}
		last = err
		if ctx.Err() != nil {
			return engine.Outcome{}, ctx.Err()
		}
	}
	return engine.Outcome{}, fmt.Errorf("%w: %v", ErrDeadLettered, last)
}

// DeliverNotifications delivers directory notifications (the simulator's
// DrainEvents) to the directory queue, each under its CloudEvent id as
// the message id, as the Event Grid subscription forwards them.
func (b *Bed) DeliverNotifications(ctx context.Context, notifications []json.RawMessage) error {
	for _, ev := range notifications {
		var head struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(ev, &head); err != nil {
			return fmt.Errorf("enginebed: notification: %w", err)
		}
		if _, err := b.Deliver(ctx, events.QueueDirectory, head.ID, ev); err != nil {
			return err
		}
	}
	return nil
}

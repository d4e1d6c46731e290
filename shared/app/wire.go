package app

import (
	"time"

	"context"
	"fmt"
	"os"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/clock"
	"github.com/holdfast/holdfast/shared/config"
	"github.com/holdfast/holdfast/shared/dashboard"
	"github.com/holdfast/holdfast/shared/engine"
	"github.com/holdfast/holdfast/shared/exo"
	"github.com/holdfast/holdfast/shared/graph"
	"github.com/holdfast/holdfast/shared/ledger"
	"github.com/holdfast/holdfast/shared/notify"
	"github.com/holdfast/holdfast/shared/observe"
	"github.com/holdfast/holdfast/shared/pacing"
	"github.com/holdfast/holdfast/shared/redelivery"
	"github.com/holdfast/holdfast/shared/retention"
	"github.com/holdfast/holdfast/shared/servicebus"
	"github.com/holdfast/holdfast/shared/store"
	"github.com/holdfast/holdfast/shared/subscription"
	"github.com/holdfast/holdfast/shared/tenant"
)

// Stack is a wired holdfast: what `serve` runs and what the local stack
// and tests drive.
type Stack struct {
	Config config.Config
	Engine *engine.Engine
	// Store is the ledger everything keeps its records in: Tables, or
	// Options.Ledger when given.
	Store ledger.Store
	// Tables is the Table Storage store (nil with Options.Ledger): what
	// only it has, such as Drop and QueryStats.
	Tables    *store.Store
	Graph     *graph.Client
	Exchange  *exo.Client
	Functions *Functions
	// Subscription owns the Graph change-notification subscription.
	Subscription *subscription.Manager
	Counter      *ledger.Counter
	// Recorder sees every alert in local mode (the local stack reports
	// them); it stays empty in Azure.
	Recorder *notify.Recorder
	// Pacers pace the Graph and Exchange clients to the tenant's budgets.
	Pacers Pacers
	// Alerts dispatches to every configured channel; it works without
	// storage (the retry-budget alert needs that).
	Alerts *notify.Dispatcher
	// Scheduler sends retry copies; nil leaves transient failures to
	// Service Bus's immediate redelivery.
	Scheduler RetryScheduler
	Clock     clock.Clock
	closers   []func()

	opts Options
	cred azcore.TokenCredential
	pol  retention.Policy
}

// Pacers are the instance's request limiters, one per budget.
type Pacers struct {
	Exchange, GraphWrites, GraphReads *pacing.Limiter
}

// RetryScheduler sends a copy of a message to a queue, invisible until at
// (servicebus.Scheduler; the local stack's broker in tests).
type RetryScheduler interface {
	Schedule(ctx context.Context, queue string, c redelivery.Copy, at time.Time) error
}

// Close releases connections.
func (s *Stack) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
}

// Options adjust wiring for the local stack and tests.
type Options struct {
	Clock clock.Clock // default clock.System
	// Credential overrides the managed identity (tests); nil in local mode
	// means anonymous calls to loopback endpoints only.
	Credential azcore.TokenCredential
	Instance   string
	Log        zerolog.Logger
	// ExtraChannels receive alerts besides the configured ones.
	ExtraChannels []notify.Channel
	// TablePrefix isolates runs sharing one storage account (tests).
	TablePrefix string
	// RetryDelay, when set, is the Graph and Exchange clients' backoff base
	// for answers without Retry-After (the chaos harness shortens it: the
	// retries still happen, the waits cost it wall time only).
	RetryDelay time.Duration
	// Scheduler overrides the Service Bus retry scheduler (the local
	// stack's broker).
	Scheduler RetryScheduler
	// Unpaced leaves the Graph and Exchange clients without their limiters
	// (the bench's before-and-after comparison); production always paces.
	Unpaced bool
	// Ledger, when set, replaces Table Storage (an in-memory ledger in
	// tests; the storage settings are then not used). Counter should be
	// the counter it counts its round trips in.
	Ledger ledger.Store
	// Counter counts storage round trips (default: a new one).
	Counter *ledger.Counter
}

// PolicyFrom turns configuration into the domain policy
// (config.Policy.Retention).
func PolicyFrom(p config.Policy) (retention.Policy, error) { return p.Retention() }

// Wire builds the stack from configuration and opens the storage.
func Wire(ctx context.Context, cfg config.Config, o Options) (*Stack, error) {
	s, err := Prepare(cfg, o)
	if err != nil {
		return nil, err
	}
	if err := s.Open(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Prepare builds everything that needs no network: credentials, the Graph
// and Exchange clients, the alert channels and the retry scheduler. Its
// errors are configuration errors, which no retry fixes. Open then
// connects the storage; until it succeeds the stack has no Engine.
func Prepare(cfg config.Config, o Options) (*Stack, error) {
	if o.Clock == nil {
		o.Clock = clock.System{}
	}
	cred := o.Credential
	if cred == nil && cfg.Mode == config.ModeAzure {
		var err error
		opts := &azidentity.ManagedIdentityCredentialOptions{}
		if cfg.ManagedIdentityClientID != "" {
			opts.ID = azidentity.ClientID(cfg.ManagedIdentityClientID)
		}
		cred, err = azidentity.NewManagedIdentityCredential(opts)
		if err != nil {
			return nil, fmt.Errorf("managed identity: %w", err)
		}
	}
	counter := o.Counter
	if counter == nil {
		counter = &ledger.Counter{}
	}
	s := &Stack{Config: cfg, Counter: counter, Recorder: &notify.Recorder{}, Clock: o.Clock, opts: o, cred: cred}
	var err error
	// One limiter per budget for the whole instance: every concurrent
	// invocation shares it, so the instance keeps to the tenant's budget.
	s.Pacers = Pacers{
		Exchange:    pacing.New("exchange", pacing.Unknown()),
		GraphWrites: pacing.New("graph-writes", pacing.GraphWrites()),
		GraphReads:  pacing.New("graph-reads", pacing.Unknown()),
	}
	graphPacing, exoPacer := pacing.ByMethod(s.Pacers.GraphReads, s.Pacers.GraphWrites), s.Pacers.Exchange
	if o.Unpaced {
		graphPacing, exoPacer = nil, nil
	}
	s.Graph, err = graph.New(graph.Options{BaseURL: cfg.GraphBaseURL, Credential: cred, RetryDelay: o.RetryDelay, Pacing: graphPacing})
	if err != nil {
		return nil, fmt.Errorf("graph: %w", err)
	}
	s.Exchange, err = exo.New(exo.Options{BaseURL: cfg.ExchangeBaseURL, TenantID: cfg.TenantID, Credential: cred, RetryDelay: o.RetryDelay,
		Pacer: exoPacer, SecureStringKey: cfg.ExchangeSecureStringKey})
	if err != nil {
		return nil, fmt.Errorf("exchange: %w", err)
	}
	// The recorder keeps every alert in memory: for the local stack and its
	// reports only, never in a long-running Azure instance.
	var channels []notify.Channel
	if cfg.Mode == config.ModeLocal {
		channels = append(channels, s.Recorder)
	}
	channels = append(channels, o.ExtraChannels...)
	if cfg.Alerts.TeamsWebhookURL != "" {
		channels = append(channels, notify.NewTeams(cfg.Alerts.TeamsWebhookURL, nil))
	}
	observing := cfg.Actions == config.ActionsObserve
	if cfg.Alerts.MailFrom != "" {
		var mailer notify.Mailer = s.Graph
		if observing {
			// sendMail writes to the tenant (Sent Items): planned only.
			mailer = observe.PlannedMailer{Planned: func(from string, m tenant.Mail) {
				o.Log.Info().Str("subject", m.Subject).Int("recipients", len(m.To)).Msg("observe mode: alert mail not sent (would send through Graph sendMail)")
			}}
		}
		channels = append(channels, notify.NewMail(mailer, cfg.Alerts.MailFrom, cfg.Alerts.MailTo))
	}
	s.Scheduler = o.Scheduler
	if cfg.ServiceBusNamespace != "" || cfg.ServiceBusConnectionString != "" {
		sb, err := servicebus.NewClient(cfg.ServiceBusConnectionString, cfg.ServiceBusNamespace, cred)
		if err != nil {
			return nil, fmt.Errorf("service bus: %w", err)
		}
		s.closers = append(s.closers, func() { _ = sb.Close(context.Background()) })
		if s.Scheduler == nil {
			sch := servicebus.NewScheduler(sb)
			s.closers = append(s.closers, func() { sch.Close(context.Background()) })
			s.Scheduler = sch
		}
		if cfg.Mode == config.ModeAzure && cfg.Alerts.Topic != "" {
			ts, err := servicebus.NewTopicSender(sb, cfg.Alerts.Topic)
			if err != nil {
				return nil, fmt.Errorf("alerts topic: %w", err)
			}
			channels = append(channels, notify.NewTopic(ts))
		}
	}
	if s.pol, err = PolicyFrom(cfg.Policy); err != nil {
		return nil, err
	}
	s.Alerts = notify.NewDispatcher(o.Log, channels...).WithClock(o.Clock.Now)
	return s, nil
}

// Open connects the table storage (creating the tables) and builds the
// engine and the function handlers. It fails while the storage does not
// answer; call it again later (Lazy does, with backoff).
func (s *Stack) Open(ctx context.Context) error {
	o, cfg := s.opts, s.Config
	if o.Ledger != nil {
		s.Store = o.Ledger
	} else {
		st, err := store.Open(ctx, store.Options{
			ConnectionString: cfg.TableConnectionString, ServiceURL: cfg.TableServiceURL, Credential: s.cred, Counter: s.Counter, TablePrefix: o.TablePrefix,
		})
		if err != nil {
			return fmt.Errorf("table storage: %w", err)
		}
		s.Store, s.Tables = st, st
	}
	instance := o.Instance
	if instance == "" {
		instance, _ = os.Hostname()
	}
	var (
		dir    engine.Directory = s.Graph
		exch   engine.Exchange  = s.Exchange
		alerts engine.Alerter   = s.Alerts
	)
	if cfg.Actions == config.ActionsObserve {
		// Observe-only rollout: reads pass through, writes become planned
		// actions on the cases, the engine's alerts say nothing was done.
		dir, exch, alerts = observe.Directory{Directory: dir}, observe.WrapExchange(exch), observe.Alerter{Next: alerts}
		o.Log.Warn().Msg("HOLDFAST_ACTIONS=observe: no tenant writes; holds, rescues and alert mail are recorded as planned actions")
	}
	s.Engine = engine.New(engine.Deps{
		TenantID: cfg.TenantID, ClientState: cfg.GraphClientState, Directory: dir, Exchange: exch, Store: s.Store,
		Alerts: alerts, Clock: o.Clock, Policy: s.pol, Log: o.Log, Instance: instance,
	})
	s.Subscription = subscription.New(subscription.Options{
		NotificationURL: cfg.Subscription.NotificationURL, ClientState: cfg.GraphClientState,
		AlertMargin: cfg.Subscription.AlertMargin, Instance: instance,
	}, subscription.Deps{Graph: s.Graph, Store: s.Store, Reconciler: s.Engine, Alerts: s.Alerts, Clock: o.Clock, Log: o.Log})
	if s.Subscription.Configured() {
		s.Engine.WatchSubscription(s.Subscription)
	}
	s.Functions = &Functions{Engine: s.Engine, Reader: s.Store, Mode: cfg.Mode, Clock: o.Clock, Runs: s.Store, Subscription: s.Subscription}
	var subs dashboard.SubscriptionSource
	if s.Subscription.Configured() {
		subs = subscriptionSource{m: s.Subscription}
	}
	var err error
	s.Functions.Dashboard, err = dashboard.New(dashboard.Deps{Reader: s.Store, Admin: s.Engine, Clock: o.Clock, Mode: string(cfg.Mode),
		Plans: planSource{cases: s.Store}, Subscriptions: subs})
	if err != nil {
		return err
	}
	return nil
}

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
	"github.com/holdfast/holdfast/shared/engine"
	"github.com/holdfast/holdfast/shared/exo"
	"github.com/holdfast/holdfast/shared/graph"
	"github.com/holdfast/holdfast/shared/notify"
	"github.com/holdfast/holdfast/shared/retention"
	"github.com/holdfast/holdfast/shared/servicebus"
	"github.com/holdfast/holdfast/shared/store"
)

// Stack is a wired holdfast: what `serve` runs and what the local stack
// and tests drive.
type Stack struct {
	Config    config.Config
	Engine    *engine.Engine
	Store     *store.Store
	Graph     *graph.Client
	Exchange  *exo.Client
	Functions *Functions
	Counter   *store.Counter
	// Recorder sees every alert in local mode (the local stack reports
	// them); it stays empty in Azure.
	Recorder *notify.Recorder
	closers  []func()
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
}

// PolicyFrom turns configuration into the domain policy.
func PolicyFrom(p config.Policy) (retention.Policy, error) {
	pol := retention.Policy{
		DefaultRetention: p.DefaultRetention, HoldDurationDays: p.HoldDurationDays, HoldPropagation: p.HoldPropagation,
		ExchangeLag: p.ExchangeLag, WarnThresholds: p.WarnThresholds, RescueMode: p.RescueMode, RescueMargin: p.RescueMargin, ArchiveTarget: p.ArchiveTarget,
	}
	if p.PolicyFile != "" {
		named, err := retention.LoadPolicyFile(p.PolicyFile)
		if err != nil {
			return pol, err
		}
		pol.Named = named
	}
	return pol, nil
}

// Wire builds the stack from configuration.
func Wire(ctx context.Context, cfg config.Config, o Options) (*Stack, error) {
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
	s := &Stack{Config: cfg, Counter: &store.Counter{}, Recorder: &notify.Recorder{}}
	var err error
	s.Store, err = store.Open(ctx, store.Options{
		ConnectionString: cfg.TableConnectionString, ServiceURL: cfg.TableServiceURL, Credential: cred, Counter: s.Counter, TablePrefix: o.TablePrefix,
	})
	if err != nil {
		return nil, fmt.Errorf("table storage: %w", err)
	}
	s.Graph, err = graph.New(graph.Options{BaseURL: cfg.GraphBaseURL, Credential: cred, RetryDelay: o.RetryDelay})
	if err != nil {
		return nil, fmt.Errorf("graph: %w", err)
	}
	s.Exchange, err = exo.New(exo.Options{BaseURL: cfg.ExchangeBaseURL, TenantID: cfg.TenantID, Credential: cred, RetryDelay: o.RetryDelay})
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
	if cfg.Alerts.MailFrom != "" {
		channels = append(channels, notify.NewMail(s.Graph, cfg.Alerts.MailFrom, cfg.Alerts.MailTo))
	}
	if cfg.Mode == config.ModeAzure && (cfg.ServiceBusNamespace != "" || cfg.ServiceBusConnectionString != "") && cfg.Alerts.Topic != "" {
		sb, err := servicebus.NewClient(cfg.ServiceBusConnectionString, cfg.ServiceBusNamespace, cred)
		if err != nil {
			return nil, fmt.Errorf("service bus: %w", err)
		}
		s.closers = append(s.closers, func() { _ = sb.Close(context.Background()) })
		ts, err := servicebus.NewTopicSender(sb, cfg.Alerts.Topic)
		if err != nil {
			return nil, fmt.Errorf("alerts topic: %w", err)
		}
		channels = append(channels, notify.NewTopic(ts))
	}
	pol, err := PolicyFrom(cfg.Policy)
	if err != nil {
		return nil, err
	}
	instance := o.Instance
	if instance == "" {
		instance, _ = os.Hostname()
	}
	s.Engine = engine.New(engine.Deps{
		TenantID: cfg.TenantID, ClientState: cfg.GraphClientState, Directory: s.Graph, Exchange: s.Exchange, Store: s.Store,
		Alerts: notify.NewDispatcher(o.Log, channels...).WithClock(o.Clock.Now), Clock: o.Clock, Policy: pol, Log: o.Log, Instance: instance,
	})
	s.Functions = &Functions{Engine: s.Engine, Reader: s.Store, Mode: cfg.Mode, Clock: o.Clock}
	return s, nil
}

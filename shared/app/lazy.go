package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/alert"
	"github.com/holdfast/holdfast/shared/customhandler"
	"github.com/holdfast/holdfast/shared/redelivery"
)

// ErrUnavailable: a dependency (the table storage) does not answer yet.
// Invocations fail transiently meanwhile; nothing is lost.
var ErrUnavailable = errors.New("holdfast is waiting for its storage")

// openTimeout bounds one attempt at opening the storage, so an invocation
// that triggers it still answers well within the host's timeout.
const openTimeout = 20 * time.Second

// Lazy serves the functions of a prepared Stack whatever its dependencies
// do. The storage is opened on demand: at most one attempt at a time, and
// after a failure not again before an exponential backoff (0.5 s doubling,
// jittered, at most 30 s, so a recovered storage is used within a minute).
// Until it is open, queue invocations fail transiently, timers fail (the
// next run catches up) and the Api answers 503 with the reason. A queue
// invocation that fails transiently is retried with growing delays under
// the retry budget (see retry).
type Lazy struct {
	stack  *Stack
	log    zerolog.Logger
	policy redelivery.Policy

	opened atomic.Bool
	sem    chan struct{} // one open attempt at a time; guards the fields below
	last   error
	next   time.Time
	bo     *backoff.ExponentialBackOff

	mu      sync.Mutex
	alerted map[string]bool // original message ids whose budget alert went out
	// The last queue outcomes (wall time): health reports a dependency
	// that storage alone does not show (Graph, Exchange) from real
	// traffic, without calls of its own.
	lastOK, lastFail time.Time
	lastCause        string
}

// failingFor is how long after a transient failure, with no success
// since, health keeps answering 503.
const failingFor = 5 * time.Minute

// NewLazy serves s, which Prepare built (Open may or may not have run).
func NewLazy(s *Stack, log zerolog.Logger) *Lazy {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = 500 * time.Millisecond
	bo.MaxInterval = 30 * time.Second
	l := &Lazy{
		stack:   s,
		log:     log,
		policy:  redelivery.Policy{Budget: s.Config.RetryBudget},
		sem:     make(chan struct{}, 1),
		bo:      bo,
		alerted: map[string]bool{},
	}
	l.opened.Store(s.Functions != nil)
	return l
}

// Stack is the stack served.
func (l *Lazy) Stack() *Stack { return l.stack }

// Ready opens the storage if it is not open yet and the backoff allows an
// attempt now. The error wraps ErrUnavailable.
func (l *Lazy) Ready(ctx context.Context) error {
	if l.opened.Load() {
		return nil
	}
	select {
	case l.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
	}
	defer func() { <-l.sem }()
	if l.opened.Load() {
		return nil
	}
	if wait := time.Until(l.next); wait > 0 {
		return fmt.Errorf("%w: %v (next attempt in %s)", ErrUnavailable, l.last, wait.Round(100*time.Millisecond))
	}
	actx, cancel := context.WithTimeout(ctx, openTimeout)
	err := l.stack.Open(actx)
	cancel()
	if err != nil {
		l.last = err
		delay := l.bo.NextBackOff()
		l.next = time.Now().Add(delay)
		l.log.Warn().Err(err).Dur("retryIn", delay).Msg("storage not reachable; invocations fail transiently until it is")
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	l.opened.Store(true)
	l.log.Info().Msg("storage and clients ready")
	return nil
}

// Handlers maps each function to its handler.
func (l *Lazy) Handlers() map[string]customhandler.HandlerFunc {
	return map[string]customhandler.HandlerFunc{
		FnOnOffboarding:    l.queue(FnOnOffboarding, QueueHR),
		FnOnDirectoryEvent: l.queue(FnOnDirectoryEvent, QueueDirectory),
		FnExpirySweep:      l.plain(FnExpirySweep),
		FnReconcile:        l.plain(FnReconcile),
		FnSubscription:     l.plain(FnSubscription),
		FnApi:              l.api,
	}
}

// Register adds every function to srv.
func (l *Lazy) Register(srv *customhandler.Server) {
	for name, h := range l.Handlers() {
		srv.Handle(name, h)
	}
}

func (l *Lazy) plain(name string) customhandler.HandlerFunc {
	return func(ctx context.Context, inv *customhandler.Invocation) (customhandler.Response, error) {
		if err := l.Ready(ctx); err != nil {
			return customhandler.Response{}, err
		}
		return l.stack.Functions.Handlers()[name](ctx, inv)
	}
}

func (l *Lazy) api(ctx context.Context, inv *customhandler.Invocation) (customhandler.Response, error) {
	if err := l.Ready(ctx); err != nil {
		return httpOut(http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "reason": err.Error(), "time": l.stack.Clock.Now()}), nil
	}
	resp, err := l.stack.Functions.api(ctx, inv)
	if req, rerr := inv.HTTPRequest("req"); err == nil && rerr == nil && strings.Trim(req.Params["path"], "/") == "health" {
		if out, ok := resp.Outputs["res"].(customhandler.HTTPOutput); ok && out.StatusCode == http.StatusOK {
			if cause, failing := l.failing(); failing {
				return httpOut(http.StatusServiceUnavailable, map[string]any{"status": "unavailable",
					"reason": "the last queue deliveries failed transiently: " + cause, "time": l.stack.Clock.Now()}), nil
			}
		}
	}
	return resp, err
}

// record notes a queue outcome for health.
func (l *Lazy) record(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil {
		l.lastOK = time.Now()
		return
	}
	l.lastFail, l.lastCause = time.Now(), oneLine(err)
}

// failing reports a transient failure within failingFor with no success
// after it.
func (l *Lazy) failing() (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lastFail.After(l.lastOK) && time.Since(l.lastFail) < failingFor {
		return l.lastCause, true
	}
	return "", false
}

func (l *Lazy) queue(name, queue string) customhandler.HandlerFunc {
	return func(ctx context.Context, inv *customhandler.Invocation) (customhandler.Response, error) {
		err := l.Ready(ctx)
		if err == nil {
			var resp customhandler.Response
			resp, err = l.stack.Functions.Handlers()[name](ctx, inv)
			l.record(err)
			if err == nil {
				return resp, nil
			}
		}
		return l.retry(ctx, queue, inv, err)
	}
}

// retry handles a transient failure of a queue message: redeliver at once
// for the first deliveries, then complete it and schedule a copy with a
// growing delay, and once the budget is spent keep failing so Service Bus
// dead-letters it, with one alert.
func (l *Lazy) retry(ctx context.Context, queue string, inv *customhandler.Invocation, cause error) (customhandler.Response, error) {
	log := zerolog.Ctx(ctx)
	msg, err := inv.ServiceBusMessage("msg", customhandler.BodyBinary)
	if err != nil || l.stack.Scheduler == nil {
		// No scheduler (local serve without Service Bus): Service Bus's
		// own redelivery is all there is.
		return customhandler.Response{}, cause
	}
	s, perr := redelivery.Read(msg.ApplicationProperties, msg.StableID(), msg.DeliveryCount)
	if perr != nil {
		log.Warn().Err(perr).Msg("retry properties unreadable; counting from this failure")
	}
	now := l.stack.Clock.Now()
	d := l.policy.Decide(s, now)
	ev := log.Warn().Err(cause).Str("queue", queue).Str("originalMessageId", s.OriginalID).Int("deliveries", s.Deliveries()).
		Int("retries", s.Retries).Dur("budgetSpent", d.Spent).Str("action", d.Action.String())
	switch d.Action {
	case redelivery.Schedule:
		c := redelivery.NextCopy(s, d, msg.Body, msg.ContentType, msg.ApplicationProperties)
		if err := l.stack.Scheduler.Schedule(ctx, queue, c, d.At); err != nil {
			ev.AnErr("scheduleErr", err).Msg("transient failure; scheduling a retry failed, Service Bus redelivers")
			return customhandler.Response{}, fmt.Errorf("%w (and scheduling a retry failed: %v)", cause, err)
		}
		ev.Time("retryAt", d.At).Msg("transient failure; retry scheduled")
		line := fmt.Sprintf("%s message %s failed transiently (%s); retry %d scheduled for %s as %s",
			queue, s.OriginalID, oneLine(cause), s.Retries+1, d.At.UTC().Format(time.RFC3339), c.MessageID)
		return customhandler.Response{Logs: []string{line}, ReturnValue: MessageResult{
			Result: ResultRetryScheduled, Reason: oneLine(cause), Queue: queue, MessageID: msg.StableID(),
		}}, nil
	case redelivery.GiveUp:
		ev.Msg("retry budget spent; the message is left to the dead-letter queue")
		l.alertGiveUp(ctx, queue, s, d, cause)
		return customhandler.Response{}, fmt.Errorf("retry budget %s spent: %w", l.policy.Budget, cause)
	}
	ev.Msg("transient failure; Service Bus redelivers")
	return customhandler.Response{}, cause
}

// maxAlerted bounds the memory of sent budget alerts; forgetting only
// costs a repeated alert.
const maxAlerted = 1000

func (l *Lazy) alertGiveUp(ctx context.Context, queue string, s redelivery.State, d redelivery.Decision, cause error) {
	l.mu.Lock()
	if l.alerted[s.OriginalID] {
		l.mu.Unlock()
		return
	}
	if len(l.alerted) >= maxAlerted {
		clear(l.alerted)
	}
	l.alerted[s.OriginalID] = true
	l.mu.Unlock()
	a := alert.Alert{
		ID: "retryBudgetSpent:" + queue + ":" + s.OriginalID, Kind: alert.KindRetryBudgetSpent, Severity: alert.SeverityCritical,
		Action: fmt.Sprintf("message %s on %s failed for %s (%d deliveries, %d scheduled retries); Service Bus dead-letters it after its remaining deliveries",
			s.OriginalID, queue, d.Spent.Round(time.Minute), s.Deliveries(), s.Retries),
		Remedy:  "fix the cause (" + oneLine(cause) + "), then run `holdfast deadletters --queue " + queue + " --replay " + s.OriginalID + "`",
		At:      l.stack.Clock.Now(),
		Details: map[string]string{"queue": queue, "messageId": s.OriginalID, "firstFailure": d.FirstFailure.UTC().Format(time.RFC3339)},
	}
	if err := l.stack.Alerts.Send(ctx, a); err != nil {
		zerolog.Ctx(ctx).Error().Err(err).Str("alertId", a.ID).Msg("retry budget alert not delivered")
	}
}

func oneLine(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

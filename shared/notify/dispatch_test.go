package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/alert"
)

// scripted is a Channel answering from a list of errors (nil = success);
// after the list it repeats the last answer.
type scripted struct {
	name string
	mu   sync.Mutex
	errs []error
	got  []alert.Alert
	// gate, when set, is waited on before answering.
	gate <-chan struct{}
}

func (s *scripted) Name() string { return s.name }

func (s *scripted) Send(ctx context.Context, a alert.Alert) error {
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.got)
	s.got = append(s.got, a)
	switch {
	case len(s.errs) == 0:
		return nil
	case n < len(s.errs):
		return s.errs[n]
	default:
		return s.errs[len(s.errs)-1]
	}
}

func (s *scripted) calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

var errFlaky = errors.New("flaky: try again")

func quick(d *Dispatcher) *Dispatcher {
	return d.WithRetry(RetryPolicy{Attempts: 3, Backoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
}

// manualClock replaces the dispatcher's clock for cooldown tests.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func withClock(d *Dispatcher) (*Dispatcher, *manualClock) {
	c := &manualClock{t: time.Date(2026, 3, 8, 9, 0, 0, 0, time.UTC)}
	return d.WithClock(c.now), c
}

func TestDispatcherRetriesFlakyChannel(t *testing.T) {
	flaky := &scripted{name: "flaky", errs: []error{errFlaky, errFlaky, nil}}
	rec := &Recorder{}
	d := quick(NewDispatcher(zerolog.Nop(), flaky, rec))
	if err := d.Send(context.Background(), sampleAlert()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if flaky.calls() != 3 {
		t.Errorf("flaky channel called %d times, want 3", flaky.calls())
	}
	if len(rec.Alerts()) != 1 {
		t.Errorf("recorder got %d alerts, want 1", len(rec.Alerts()))
	}
}

func TestDispatcherReportsFailingChannelWithoutBlockingOthers(t *testing.T) {
	// "slow" answers only after "good" has delivered. Were channels tried
	// one after another (slow first), Send would hang until the context
	// ended and slow would be reported as failed.
	goodDone := make(chan struct{})
	good := &recordingThen{done: goodDone}
	slow := &scripted{name: "slow", gate: goodDone}
	broken := &scripted{name: "broken", errs: []error{errFlaky}}
	d := quick(NewDispatcher(zerolog.Nop(), slow, broken, good))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := d.Send(ctx, sampleAlert())
	var de *DeliveryError
	if !errors.As(err, &de) {
		t.Fatalf("want *DeliveryError, got %v", err)
	}
	if len(de.Failed) != 1 || de.Failed[0].Channel != "broken" {
		t.Fatalf("failed channels %+v, want only broken", de.Failed)
	}
	if !errors.Is(err, errFlaky) {
		t.Error("DeliveryError does not unwrap to the channel's error")
	}
	if de.AlertID != sampleAlert().ID {
		t.Errorf("AlertID %q", de.AlertID)
	}
	if fmt.Sprint(de.Delivered) != "[slow good]" {
		t.Errorf("Delivered %v, want [slow good]", de.Delivered)
	}
	if broken.calls() != 3 {
		t.Errorf("broken channel tried %d times, want 3 (bounded)", broken.calls())
	}
	if slow.calls() != 1 || good.calls() != 1 {
		t.Errorf("slow %d, good %d calls; want 1 each", slow.calls(), good.calls())
	}
}

// recordingThen succeeds and closes done.
type recordingThen struct {
	done chan struct{}
	mu   sync.Mutex
	n    int
}

func (r *recordingThen) Name() string { return "good" }
func (r *recordingThen) Send(context.Context, alert.Alert) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	if r.n == 1 {
		close(r.done)
	}
	return nil
}
func (r *recordingThen) calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

func TestDispatcherDoesNotRetryPermanentErrors(t *testing.T) {
	bad := &scripted{name: "bad", errs: []error{Permanent(errors.New("HTTP 400"))}}
	d := quick(NewDispatcher(zerolog.Nop(), bad))
	err := d.Send(context.Background(), sampleAlert())
	if err == nil || !IsPermanent(err) {
		t.Fatalf("want a permanent failure reported, got %v", err)
	}
	if bad.calls() != 1 {
		t.Errorf("permanent failure tried %d times, want 1", bad.calls())
	}
}

func TestDispatcherResendsOnlyToChannelsMissingTheAlert(t *testing.T) {
	mail := &scripted{name: "mail"}
	teams := &scripted{name: "teams", errs: []error{errFlaky, errFlaky, errFlaky, nil}}
	d, clock := withClock(quick(NewDispatcher(zerolog.Nop(), mail, teams)))
	a := sampleAlert()

	// First sweep: mail gets it, Teams is down.
	err := d.Send(context.Background(), a)
	var de *DeliveryError
	if !errors.As(err, &de) || len(de.Failed) != 1 || de.Failed[0].Channel != "teams" {
		t.Fatalf("first Send: %v", err)
	}
	// Next sweep: only Teams is tried again.
	clock.advance(5 * time.Minute)
	if err := d.Send(context.Background(), a); err != nil {
		t.Fatalf("second Send: %v", err)
	}
	if mail.calls() != 1 {
		t.Errorf("mail sent %d times, want 1", mail.calls())
	}
	if teams.calls() != 4 {
		t.Errorf("teams tried %d times, want 4", teams.calls())
	}
	// Fully delivered: the memory is cleared, so a deliberate resend goes
	// everywhere again.
	if err := d.Send(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if mail.calls() != 2 {
		t.Errorf("mail sent %d times after the memory was cleared, want 2", mail.calls())
	}
}

func TestDispatcherStopsWhenContextEnds(t *testing.T) {
	down := &scripted{name: "down", errs: []error{errFlaky}}
	d := NewDispatcher(zerolog.Nop(), down).WithRetry(RetryPolicy{Attempts: 1000, Backoff: time.Hour, MaxBackoff: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := d.Send(ctx, sampleAlert())
	var de *DeliveryError
	if !errors.As(err, &de) {
		t.Fatalf("want DeliveryError, got %v", err)
	}
	if down.calls() != 1 {
		t.Errorf("tried %d times after the context ended, want 1", down.calls())
	}
}

func TestDispatcherLongRetryAfterEndsRound(t *testing.T) {
	throttled := &scripted{name: "teams", errs: []error{&webhookError{status: 429, retryAfter: time.Hour}}}
	d := quick(NewDispatcher(zerolog.Nop(), throttled))
	if err := d.Send(context.Background(), sampleAlert()); err == nil {
		t.Fatal("want an error")
	}
	if throttled.calls() != 1 {
		t.Errorf("tried %d times despite Retry-After of an hour, want 1", throttled.calls())
	}
}

func TestDispatcherRefusesAlertWithoutID(t *testing.T) {
	rec := &Recorder{}
	d := NewDispatcher(zerolog.Nop(), rec)
	a := sampleAlert()
	a.ID = ""
	if err := d.Send(context.Background(), a); err == nil {
		t.Fatal("an alert without id was accepted")
	}
	if len(rec.Alerts()) != 0 {
		t.Error("an alert without id was delivered")
	}
}

func TestDispatcherNoChannels(t *testing.T) {
	if err := NewDispatcher(zerolog.Nop()).Send(context.Background(), sampleAlert()); err != nil {
		t.Fatal(err)
	}
}

func TestDispatcherLogsFailures(t *testing.T) {
	var buf bytes.Buffer
	down := &scripted{name: "down", errs: []error{errFlaky}}
	d := quick(NewDispatcher(zerolog.New(&buf), down))
	_ = d.Send(context.Background(), sampleAlert())
	for _, want := range []string{`"channel":"down"`, `"alertId":"` + sampleAlert().ID, "kept pending"} {
		if !bytes.Contains(buf.Bytes(), []byte(want)) {
			t.Errorf("log lacks %s:\n%s", want, buf.String())
		}
	}
}

func TestDispatcherMemoryIsBounded(t *testing.T) {
	ok := &scripted{name: "ok"}
	down := &scripted{name: "down", errs: []error{Permanent(errFlaky)}}
	d := quick(NewDispatcher(zerolog.Nop(), ok, down))
	for i := range maxRemembered + 10 {
		a := sampleAlert()
		a.ID = fmt.Sprint("alert-", i)
		_ = d.Send(context.Background(), a)
	}
	d.mu.Lock()
	n, m := len(d.delivered), len(d.order)
	d.mu.Unlock()
	if n != maxRemembered || m != maxRemembered {
		t.Errorf("remembered %d (order %d), want %d", n, m, maxRemembered)
	}
}

func TestDispatcherCoolsDownChannelThatIsDown(t *testing.T) {
	down := &scripted{name: "teams", errs: []error{errFlaky, errFlaky, errFlaky, nil}}
	rec := &Recorder{}
	d, clock := withClock(quick(NewDispatcher(zerolog.Nop(), rec, down)))
	ctx := context.Background()
	alert := func(id string) alert.Alert { a := sampleAlert(); a.ID = id; return a }

	if err := d.Send(ctx, alert("a")); err == nil {
		t.Fatal("want a failure")
	}
	if down.calls() != 3 {
		t.Fatalf("first round: %d calls, want 3", down.calls())
	}
	// Seconds later, another pending alert: Teams is skipped, not retried
	// again for the whole budget; the recorder still gets the alert.
	clock.advance(10 * time.Second)
	err := d.Send(ctx, alert("b"))
	var cool *CoolingDownError
	if !errors.As(err, &cool) || !errors.Is(err, errFlaky) {
		t.Fatalf("want a CoolingDownError wrapping the last failure, got %v", err)
	}
	if down.calls() != 3 {
		t.Errorf("a cooling channel was called (%d calls)", down.calls())
	}
	if n := len(rec.Alerts()); n != 2 {
		t.Errorf("recorder got %d alerts, want 2", n)
	}
	// After the cooldown it is tried again, and success clears it.
	clock.advance(time.Minute)
	if err := d.Send(ctx, alert("c")); err != nil {
		t.Fatalf("after cooldown: %v", err)
	}
	if err := d.Send(ctx, alert("b")); err != nil {
		t.Fatalf("pending alert after recovery: %v", err)
	}
	if down.calls() != 5 {
		t.Errorf("%d calls, want 5", down.calls())
	}
}

func TestDispatcherPermanentFailureDoesNotCoolDown(t *testing.T) {
	bad := &scripted{name: "teams", errs: []error{Permanent(errors.New("HTTP 400")), nil}}
	d, _ := withClock(quick(NewDispatcher(zerolog.Nop(), bad)))
	_ = d.Send(context.Background(), sampleAlert())
	a := sampleAlert()
	a.ID = "other"
	if err := d.Send(context.Background(), a); err != nil {
		t.Fatalf("a card rejected for one alert blocked the next: %v", err)
	}
}

func TestDispatcherBudgetBoundsHangingChannel(t *testing.T) {
	hang := &scripted{name: "hang", gate: make(chan struct{})} // never opens
	rec := &Recorder{}
	d := NewDispatcher(zerolog.Nop(), hang, rec).WithRetry(RetryPolicy{Attempts: 3, Backoff: time.Millisecond, Budget: 50 * time.Millisecond})
	err := d.Send(context.Background(), sampleAlert())
	var de *DeliveryError
	if !errors.As(err, &de) || len(de.Failed) != 1 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want the hanging channel reported with its deadline, got %v", err)
	}
	if len(rec.Alerts()) != 1 {
		t.Error("the other channel did not get the alert")
	}
}

func TestDispatcherCooldownHonoursRetryAfter(t *testing.T) {
	throttled := &scripted{name: "teams", errs: []error{&webhookError{status: 429, retryAfter: 10 * time.Minute}, nil}}
	d, clock := withClock(quick(NewDispatcher(zerolog.Nop(), throttled)))
	_ = d.Send(context.Background(), sampleAlert())
	clock.advance(5 * time.Minute) // past the 1-minute cooldown, not past Retry-After
	if err := d.Send(context.Background(), sampleAlert()); err == nil {
		t.Fatal("sent during the Retry-After the service asked for")
	}
	clock.advance(6 * time.Minute)
	if err := d.Send(context.Background(), sampleAlert()); err != nil {
		t.Fatal(err)
	}
	if throttled.calls() != 2 {
		t.Errorf("%d calls, want 2", throttled.calls())
	}
}

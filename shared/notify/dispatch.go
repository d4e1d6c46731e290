package notify

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/alert"
)

// RetryPolicy bounds how hard the Dispatcher tries within one Send. What is
// still failing after that is reported, not dropped: the engine keeps the
// alert in the case's outbox and the next sweep sends it again.
type RetryPolicy struct {
	// Attempts per channel per Send, including the first.
	Attempts int
	// Backoff before the second attempt; it doubles up to MaxBackoff, with
	// ±20% jitter so instances sweeping together don't retry in step.
	Backoff time.Duration
	// MaxBackoff caps the wait. A channel asking for a longer Retry-After
	// ends the round for that channel: the next sweep is the retry.
	MaxBackoff time.Duration
	// Budget caps the time one channel may take in one Send, retries
	// included, so a hanging endpoint cannot stall a sweep.
	Budget time.Duration
	// Cooldown: after a channel used up a round without success, Sends in
	// the next Cooldown skip it at once (reporting it as failed) instead of
	// paying the Budget again for every pending alert of the sweep.
	// Negative disables it.
	Cooldown time.Duration
}

// DefaultRetry is what NewDispatcher uses: three attempts within 30 s per
// channel, on top of each channel's own retries (the Teams pipeline and the
// Service Bus client retry transient failures themselves), and a one-minute
// cooldown for a channel that is down. A sweep runs every 5 minutes, so
// every sweep tries a down channel again.
func DefaultRetry() RetryPolicy {
	return RetryPolicy{Attempts: 3, Backoff: time.Second, MaxBackoff: 10 * time.Second, Budget: 30 * time.Second, Cooldown: time.Minute}
}

// maxRemembered bounds the partial-delivery memory.
const maxRemembered = 1024

// Dispatcher sends each alert to every channel concurrently, so a slow or
// failing channel never holds up the others.
//
// When some channels took an alert and others did not, the Dispatcher
// remembers which (in memory, bounded) and a later Send of the same alert
// id goes only to the channels still missing it: a Teams outage does not
// make the mail go out twice. After a restart the memory is gone and a
// channel may see a repeat; the alert id lets receivers drop it.
type Dispatcher struct {
	log      zerolog.Logger
	channels []Channel
	retry    RetryPolicy
	now      func() time.Time // the cooldown's clock (see WithClock); backoff sleeps are real time

	mu        sync.Mutex
	delivered map[string]map[int]bool // alert id -> indexes of channels that have it
	order     []string                // insertion order of delivered, for eviction
	coolUntil map[int]time.Time       // channel index -> skip until
	coolErr   map[int]error           // channel index -> the failure that started the cooldown
}

// NewDispatcher returns a Dispatcher over channels with DefaultRetry.
func NewDispatcher(log zerolog.Logger, channels ...Channel) *Dispatcher {
	return &Dispatcher{
		log:       log,
		channels:  append([]Channel(nil), channels...),
		retry:     DefaultRetry(),
		now:       time.Now,
		delivered: map[string]map[int]bool{},
		coolUntil: map[int]time.Time{},
		coolErr:   map[int]error{},
	}
}

// WithClock sets the clock the cooldown is measured on (default time.Now)
// and returns d. The app passes its own clock: the same as time.Now in
// Azure, and on a virtual clock the cooldown then spans sweeps the way it
// does in production (a sweep every 5 minutes outlasts a 1-minute
// cooldown), rather than hundreds of sweeps played within one wall minute.
func (d *Dispatcher) WithClock(now func() time.Time) *Dispatcher {
	d.now = now
	return d
}

// WithRetry sets the retry policy (zero fields keep their defaults) and
// returns d. Call it before the first Send.
func (d *Dispatcher) WithRetry(p RetryPolicy) *Dispatcher {
	def := DefaultRetry()
	if p.Attempts <= 0 {
		p.Attempts = def.Attempts
	}
	if p.Backoff <= 0 {
		p.Backoff = def.Backoff
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = max(def.MaxBackoff, p.Backoff)
	}
	if p.Budget <= 0 {
		p.Budget = def.Budget
	}
	if p.Cooldown == 0 {
		p.Cooldown = def.Cooldown
	}
	d.retry = p
	return d
}

// ChannelError is one channel's failure.
type ChannelError struct {
	Channel string
	Err     error
}

func (e ChannelError) Error() string { return e.Channel + ": " + e.Err.Error() }
func (e ChannelError) Unwrap() error { return e.Err }

// DeliveryError lists the channels an alert did not reach. The caller keeps
// the alert pending and sends it again later.
type DeliveryError struct {
	AlertID   string
	Failed    []ChannelError
	Delivered []string // channels that have the alert (this call or earlier)
}

func (e *DeliveryError) Error() string {
	parts := make([]string, len(e.Failed))
	for i, f := range e.Failed {
		parts[i] = f.Error()
	}
	return "alert " + e.AlertID + " not delivered to " + strings.Join(parts, "; ")
}

// Unwrap exposes each channel's error to errors.Is and errors.As.
func (e *DeliveryError) Unwrap() []error {
	out := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		out[i] = f
	}
	return out
}

// CoolingDownError is reported for a channel skipped because it failed a
// full round moments ago. It wraps that failure.
type CoolingDownError struct {
	Until time.Time
	Err   error
}

func (e *CoolingDownError) Error() string {
	return fmt.Sprintf("not tried: failing, next try after %s: %v", e.Until.UTC().Format(time.TimeOnly), e.Err)
}
func (e *CoolingDownError) Unwrap() error { return e.Err }

// Send delivers a to every channel that does not have it yet. It returns
// nil when all have it, or a *DeliveryError naming those that still failed.
func (d *Dispatcher) Send(ctx context.Context, a alert.Alert) error {
	if a.ID == "" {
		// Without an id a repeat cannot be recognised; refuse loudly.
		return errors.New("notify: alert has no id")
	}
	have, cooling := d.state(a.ID)
	errs := make([]error, len(d.channels))
	var wg sync.WaitGroup
	for i, ch := range d.channels {
		if have[i] {
			continue
		}
		if err := cooling[i]; err != nil {
			errs[i] = err
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = d.deliver(ctx, i, ch, a)
		}()
	}
	wg.Wait()

	de := &DeliveryError{AlertID: a.ID}
	for i, ch := range d.channels {
		switch {
		case have[i]:
			de.Delivered = append(de.Delivered, ch.Name())
		case errs[i] != nil:
			de.Failed = append(de.Failed, ChannelError{Channel: ch.Name(), Err: errs[i]})
		default:
			have[i] = true
			de.Delivered = append(de.Delivered, ch.Name())
		}
	}
	if len(de.Failed) == 0 {
		d.forget(a.ID)
		return nil
	}
	if len(de.Delivered) > 0 {
		d.remember(a.ID, have)
	}
	return de
}

// deliver tries one channel until it succeeds, fails permanently, runs out
// of attempts or time.
func (d *Dispatcher) deliver(parent context.Context, idx int, ch Channel, a alert.Alert) error {
	ctx, cancel := context.WithTimeout(parent, d.retry.Budget)
	defer cancel()
	backoff := d.retry.Backoff
	for attempt := 1; ; attempt++ {
		err := ch.Send(ctx, a)
		if err == nil {
			if attempt > 1 {
				d.log.Info().Str("channel", ch.Name()).Str("alertId", a.ID).Int("attempt", attempt).Msg("alert delivered after retry")
			}
			d.cool(idx, nil, 0)
			return nil
		}
		wait, asked := jitter(backoff), time.Duration(0)
		var ra retryAfter
		if errors.As(err, &ra) && ra.RetryAfter() > 0 {
			wait, asked = ra.RetryAfter(), ra.RetryAfter()
		}
		stop := ""
		switch {
		case IsPermanent(err):
			stop = "not retryable"
		case attempt >= d.retry.Attempts:
			stop = "attempts exhausted"
		case ctx.Err() != nil:
			stop = "out of time"
		case asked > d.retry.MaxBackoff:
			stop = "service asked to wait longer than this round allows"
		}
		if dl, ok := ctx.Deadline(); ok && stop == "" && time.Until(dl) < wait {
			stop = "out of time"
		}
		ev := d.log.Warn().Str("channel", ch.Name()).Str("alertId", a.ID).Str("kind", a.Kind).Int("attempt", attempt).Err(err)
		if stop != "" {
			ev.Str("giveUp", stop).Msg("alert delivery failed; kept pending for the next sweep")
			// A channel that is down (not one that refused this alert, and
			// not because our caller gave up) is skipped for a while.
			if !IsPermanent(err) && parent.Err() == nil {
				d.cool(idx, err, asked)
			}
			return err
		}
		ev.Dur("retryIn", wait).Msg("alert delivery failed; retrying")
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			if parent.Err() == nil {
				d.cool(idx, err, asked)
			}
			return err
		case <-t.C:
		}
		backoff = min(backoff*2, d.retry.MaxBackoff)
	}
}

// jitter spreads d by ±20%.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	span := int64(d) * 2 / 5
	if span <= 0 {
		return d
	}
	return time.Duration(int64(d) - span/2 + rand.Int64N(span+1))
}

// state returns the channels that already have alert id and, for channels
// cooling down, the error to report.
func (d *Dispatcher) state(id string) (have map[int]bool, cooling map[int]error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	have, cooling = map[int]bool{}, map[int]error{}
	for i := range d.delivered[id] {
		have[i] = true
	}
	now := d.now()
	for i, until := range d.coolUntil {
		if now.Before(until) {
			cooling[i] = &CoolingDownError{Until: until, Err: d.coolErr[i]}
		}
	}
	return have, cooling
}

// cool starts a cooldown for channel idx after err, at least as long as
// the Retry-After the service asked for, or ends it (err nil).
func (d *Dispatcher) cool(idx int, err error, asked time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err == nil || d.retry.Cooldown < 0 {
		delete(d.coolUntil, idx)
		delete(d.coolErr, idx)
		return
	}
	d.coolUntil[idx] = d.now().Add(max(d.retry.Cooldown, asked))
	d.coolErr[idx] = err
}

func (d *Dispatcher) remember(id string, have map[int]bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.delivered[id]; !ok {
		d.order = append(d.order, id)
	}
	d.delivered[id] = have
	for len(d.order) > maxRemembered {
		delete(d.delivered, d.order[0])
		d.order = d.order[1:]
	}
}

func (d *Dispatcher) forget(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.delivered[id]; !ok {
		return
	}
	delete(d.delivered, id)
	for i, o := range d.order {
		if o == id {
			d.order = append(d.order[:i], d.order[i+1:]...)
			break
		}
	}
}

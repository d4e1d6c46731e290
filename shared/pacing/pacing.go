// Package pacing spaces requests to a throttled API so that they arrive at
// the rate its budget allows instead of bouncing off 429s and sleeping
// whole Retry-After seconds.
//
// A Limiter is a token bucket (golang.org/x/time/rate) for one budget: the
// Exchange admin API, Graph identity writes or Graph reads. One Limiter per
// API is shared by every concurrent invocation of an instance, so the
// instance as a whole keeps to the budget. It learns from the answers:
//
//   - Rate-Limit-Limit / Rate-Limit-Remaining / Rate-Limit-Reset (Exchange
//     admin API): requests go while the remaining budget, less the requests
//     still in flight, is positive; with nothing left they wait for the
//     reset instant (millisecond precision, not whole seconds), when a new
//     window of Rate-Limit-Limit begins. Spending a fixed window at once
//     and waiting for its end finishes a backlog sooner than spreading it
//     evenly, and is never answered 429 by the window it counted.
//   - 429 with Retry-After (or retry-after-ms): no request leaves before the
//     time the service asked for, except that with rate headers the reset
//     instant they name (which the whole-second Retry-After rounds up) ends
//     the wait. Without rate headers the Limiter learns the window instead
//     (window.go): the requests a window allowed, counted from the 429, and
//     its length, bounded by the honoured Retry-After and first guessed as a
//     whole number of seconds; each later window then sends that many and
//     waits for the window's estimated end, so in-flight requests do not
//     bounce and nothing sleeps a whole second past the reset.
//   - 429 without any Retry-After: the rate drops to 90 % of what was being
//     sent, then creeps back up by 0.5 % a second while answers succeed; 30
//     seconds without a 429 and the learnt rate is forgotten.
//
// The wait is the Limiter's: Policy hands the retry policy above it an
// answer saying retry-after-ms: 1 when the Limiter holds the pause itself,
// so the retry policy does not sleep the whole seconds on top.
//
// Policy plugs a Limiter into an azcore pipeline (the Exchange client);
// Transport wraps an http.RoundTripper (the Graph client's Kiota
// middleware chain). Both sit below the retry logic, so every attempt,
// retries included, is paced and observed.
package pacing

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"golang.org/x/time/rate"

	"github.com/holdfast/holdfast/shared/tenant"
)

// ErrExhausted is returned by Wait when the budget would keep a request
// waiting longer than MaxWait: better rescheduled by the caller (a
// redelivery, the next sweep) than slept through inside an invocation. It
// wraps tenant.ErrThrottled, which callers already handle that way.
var ErrExhausted = fmt.Errorf("pacing: budget exhausted for longer than a request may wait: %w", tenant.ErrThrottled)

// MaxWait is the longest a request waits for its turn; the Exchange client
// likewise gives up on a Retry-After of more than a minute.
const MaxWait = time.Minute

// Budget is what a Limiter starts from.
type Budget struct {
	// Requests per Per is the documented budget; zero means unknown: no
	// pacing until the service's answers say otherwise.
	Requests int
	Per      time.Duration
	// Burst is how many requests may leave at once (default 1: evenly
	// spaced).
	Burst int
}

// GraphWrites is the documented identity write quota: 3,000 requests per
// 2 minutes 30 seconds per application and tenant (Learn
// graph/throttling-limits; docs/contracts.md, "Throttling budgets and rate
// headers"). The burst stays small so that a restarted instance cannot spend
// a bucket its predecessor already drained.
func GraphWrites() Budget { return Budget{Requests: 3000, Per: 150 * time.Second, Burst: 30} }

// Unknown is the starting point of the Exchange admin API (whose window is
// not documented) and of Graph reads (resource units per tenant size):
// unpaced until the answers teach the budget.
func Unknown() Budget { return Budget{} }

// Stats count what a Limiter did.
type Stats struct {
	Requests  int64         // requests let through
	Throttled int64         // 429 answers observed
	Waited    time.Duration // total time requests spent waiting
	// The window learnt from 429s without rate headers (zero: none).
	WindowBudget int
	Window       time.Duration
}

// Limiter paces one API. It is safe for concurrent use.
type Limiter struct {
	name  string
	now   func() time.Time
	sleep func(context.Context, time.Duration) error // tests run it on a virtual clock

	mu       sync.Mutex
	lim      *rate.Limiter
	ceiling  rate.Limit // documented rate; additive increase stops here
	until    time.Time  // no request before this (Retry-After, exhausted window)
	inflight int
	// Rate-Limit-* state for the current window.
	reset     time.Time
	remaining int
	window    time.Duration // learnt from consecutive resets
	limit     int
	headers   bool // the service sends Rate-Limit-*: ignore AIMD
	// observed send rate: requests started in the current and previous
	// second.
	secStart      time.Time
	thisSec, prev int
	lastGrow      time.Time
	last429       time.Time
	win           window // inferred from 429s without rate headers

	requests, throttled, waited atomic.Int64
}

// New returns a Limiter for budget b. name labels it in logs and stats.
func New(name string, b Budget) *Limiter {
	l := &Limiter{name: name, now: time.Now, sleep: sleep, ceiling: rate.Inf}
	burst := max(b.Burst, 1)
	if b.Requests > 0 && b.Per > 0 {
		l.ceiling = rate.Limit(float64(b.Requests) / b.Per.Seconds())
	}
	l.lim = rate.NewLimiter(l.ceiling, burst)
	return l
}

// Name is the label given to New.
func (l *Limiter) Name() string { return l.name }

// Rate is the token bucket's pace in requests per second (+Inf: unpaced,
// or paced by the service's window alone).
func (l *Limiter) Rate() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r := l.lim.Limit(); r != rate.Inf {
		return float64(r)
	}
	return math.Inf(1)
}

// Stats returns the counters.
func (l *Limiter) Stats() Stats {
	l.mu.Lock()
	b, w := l.win.budget, l.win.est
	l.mu.Unlock()
	return Stats{Requests: l.requests.Load(), Throttled: l.throttled.Load(), Waited: time.Duration(l.waited.Load()), WindowBudget: b, Window: w}
}

// Wait blocks until a request may leave, then counts it as in flight; every
// successful Wait must be followed by one Done. A wait longer than MaxWait
// fails at once with ErrExhausted.
func (l *Limiter) Wait(ctx context.Context) error {
	_, err := l.wait(ctx)
	return err
}

// Done records the answer to a request let through by Wait (resp nil when
// the request failed without one).
func (l *Limiter) Done(resp *http.Response) { l.done(ticket{}, resp) }

// ticket says which inferred window a request was sent in.
type ticket struct {
	episode int64
	sent    time.Time
}

func (l *Limiter) wait(ctx context.Context) (ticket, error) {
	start := l.now()
	for {
		l.mu.Lock()
		until := l.until
		l.mu.Unlock()
		d := until.Sub(l.now())
		if d <= 0 {
			break
		}
		if d > MaxWait {
			return ticket{}, fmt.Errorf("%w: %s paused for %s", ErrExhausted, l.name, d.Round(time.Millisecond))
		}
		if err := l.sleep(ctx, d); err != nil {
			return ticket{}, err
		}
	}
	res := l.lim.Reserve()
	if d := res.Delay(); d > MaxWait {
		res.Cancel()
		return ticket{}, fmt.Errorf("%w: %s queue is %s long", ErrExhausted, l.name, d.Round(time.Millisecond))
	} else if err := l.sleep(ctx, d); err != nil {
		res.Cancel()
		return ticket{}, err
	}
	// The service's own account of the window (or the one inferred from
	// its 429s) gates the request.
	var now time.Time
	var tk ticket
	for {
		l.mu.Lock()
		now = l.now()
		d := l.gateLocked(now)
		if d <= 0 {
			d = l.win.gate(now)
		}
		if d <= 0 {
			l.inflight++
			l.tickLocked(now)
			l.thisSec++
			tk = ticket{episode: l.win.send(now), sent: now}
			l.mu.Unlock()
			break
		}
		l.mu.Unlock()
		if d > MaxWait {
			return ticket{}, fmt.Errorf("%w: %s window spent for %s", ErrExhausted, l.name, d.Round(time.Millisecond))
		}
		if err := l.sleep(ctx, d); err != nil {
			return ticket{}, err
		}
	}
	l.requests.Add(1)
	l.waited.Add(int64(now.Sub(start)))
	return tk, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// gateLocked returns how long a request must still wait for the window the
// service described (0: it may go now).
func (l *Limiter) gateLocked(now time.Time) time.Duration {
	if d := l.until.Sub(now); d > 0 {
		return d
	}
	if !l.headers || l.reset.IsZero() {
		return 0
	}
	if !now.Before(l.reset.Add(resetMargin)) {
		// The window is over: the next holds Rate-Limit-Limit again. Its
		// end is known when the window length has been seen, otherwise the
		// next answer tells.
		l.remaining = l.limit
		if l.window > 0 {
			l.reset = l.reset.Add(l.window * (now.Sub(l.reset)/l.window + 1))
		} else {
			l.reset = time.Time{}
			return 0
		}
	}
	if l.remaining-l.inflight > 0 {
		return 0
	}
	return l.reset.Add(resetMargin).Sub(now)
}

// resetMargin covers the skew between the service's clock, which names the
// reset instant, and ours.
const resetMargin = 50 * time.Millisecond

// tickLocked rolls the one-second send counters.
func (l *Limiter) tickLocked(now time.Time) {
	switch el := now.Sub(l.secStart); {
	case el >= 2*time.Second:
		l.secStart, l.prev, l.thisSec = now, 0, 0
	case el >= time.Second:
		l.secStart, l.prev, l.thisSec = l.secStart.Add(time.Second), l.thisSec, 0
	}
}

// done records the answer to the request tk let through; it returns the
// pause the Limiter now holds after a 429 (0: none), which the caller's
// retry need not sleep again.
func (l *Limiter) done(tk ticket, resp *http.Response) time.Duration {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inflight = max(0, l.inflight-1)
	if resp == nil {
		return 0
	}
	h := resp.Header
	if lim, rem, reset, ok := rateHeaders(h); ok {
		l.observeWindowLocked(lim, rem, reset)
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		l.throttled.Add(1)
		ra, ok := retryAfter(h, now)
		switch {
		case ok && l.headers && !l.reset.IsZero() && l.reset.After(now) && l.reset.Before(now.Add(ra)):
			// Retry-After is whole seconds rounded up; the reset instant the
			// same answer names is when the window really ends.
			l.pauseLocked(l.reset.Add(resetMargin))
		case ok:
			l.pauseLocked(now.Add(ra))
			if !l.headers {
				l.win.throttled(tk, now, ra)
			}
		case !l.headers:
			l.decreaseLocked(now)
		}
		return max(0, l.until.Sub(now))
	}
	if resp.StatusCode < 500 {
		l.win.succeeded(tk)
	}
	if !l.headers && resp.StatusCode < 500 {
		l.increaseLocked(now)
	}
	return 0
}

func (l *Limiter) pauseLocked(until time.Time) {
	if until.After(l.until) {
		l.until = until
	}
}

// observeWindowLocked records the service's account of the window. Answers
// arrive out of order: within one window the lowest Remaining counts.
func (l *Limiter) observeWindowLocked(limit, remaining int, reset time.Time) {
	if !l.headers {
		l.headers = true
		l.setRateLocked(l.ceiling) // the window, not a learnt rate, paces now
	}
	switch {
	case l.reset.IsZero() || reset.After(l.reset.Add(time.Millisecond)):
		if !l.reset.IsZero() && reset.Sub(l.reset) < 24*time.Hour {
			l.window = reset.Sub(l.reset)
		}
		l.reset, l.remaining = reset, remaining
	case reset.Before(l.reset.Add(-time.Millisecond)):
		return // an answer from an earlier window, overtaken
	default:
		l.remaining = min(l.remaining, remaining)
	}
	l.limit = limit
}

// decreaseLocked: a 429 without rate headers means the observed send rate is
// above the budget.
func (l *Limiter) decreaseLocked(now time.Time) {
	l.tickLocked(now)
	observed := rate.Limit(max(l.prev, l.thisSec))
	cur := l.lim.Limit()
	next := 0.9 * observed
	if cur != rate.Inf && 0.9*cur < next {
		next = 0.9 * cur
	}
	l.setRateLocked(max(next, 1))
	l.lastGrow, l.last429 = now, now
}

// learntFor is how long a rate learnt from 429s holds without another 429.
// A lone 429 at low traffic (a transient limit, another caller's burst)
// must not pin the instance to a crawl when a layoff starts later.
const learntFor = 30 * time.Second

// increaseLocked grows a learnt rate by 0.5 % a second of success, up to the
// documented ceiling.
func (l *Limiter) increaseLocked(now time.Time) {
	cur := l.lim.Limit()
	if cur == rate.Inf || cur >= l.ceiling {
		return
	}
	if now.Sub(l.last429) > learntFor {
		l.setRateLocked(l.ceiling)
		return
	}
	el := now.Sub(l.lastGrow)
	if el < 100*time.Millisecond {
		return
	}
	l.lastGrow = now
	next := cur * rate.Limit(1+0.005*el.Seconds())
	if next > l.ceiling {
		next = l.ceiling
	}
	l.setRateLocked(next)
}

func (l *Limiter) setRateLocked(r rate.Limit) {
	if r <= 0 || math.IsNaN(float64(r)) {
		return
	}
	l.lim.SetLimit(r)
	if r != rate.Inf && l.ceiling == rate.Inf {
		// A learnt rate may bank 50 ms of requests, so a stall in the
		// caller (a slow table write) is made up instead of lost.
		l.lim.SetBurst(max(1, int(r/20)))
	}
}

// rateHeaders reads Rate-Limit-Limit, Rate-Limit-Remaining and
// Rate-Limit-Reset (an RFC 3339 instant, as the Exchange admin API sends).
func rateHeaders(h http.Header) (limit, remaining int, reset time.Time, ok bool) {
	lv, rv, tv := h.Get("Rate-Limit-Limit"), h.Get("Rate-Limit-Remaining"), h.Get("Rate-Limit-Reset")
	if lv == "" || rv == "" || tv == "" {
		return 0, 0, time.Time{}, false
	}
	limit, err1 := strconv.Atoi(lv)
	remaining, err2 := strconv.Atoi(rv)
	reset, err3 := time.Parse(time.RFC3339Nano, tv)
	if err1 != nil || err2 != nil || err3 != nil || limit <= 0 || remaining < 0 {
		return 0, 0, time.Time{}, false
	}
	return limit, remaining, reset, true
}

// retryAfter reads retry-after-ms / x-ms-retry-after-ms (milliseconds) or
// Retry-After (seconds or an HTTP date).
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	for _, k := range []string{"retry-after-ms", "x-ms-retry-after-ms"} {
		if v := h.Get(k); v != "" {
			if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 {
				return time.Duration(ms * float64(time.Millisecond)), true
			}
		}
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// Policy returns an azcore per-retry policy that paces every attempt.
func Policy(l *Limiter) policy.Policy { return pacePolicy{l} }

type pacePolicy struct{ l *Limiter }

func (p pacePolicy) Do(req *policy.Request) (*http.Response, error) {
	tk, err := p.l.wait(req.Raw().Context())
	if err != nil {
		return nil, err
	}
	resp, err := req.Next()
	if held := p.l.done(tk, resp); held > 0 && held <= MaxWait && resp != nil {
		// The Limiter holds the pause for every invocation of the
		// instance and ends it at the reset instant when it knows one:
		// the retry policy above (azcore reads retry-after-ms first)
		// retries at once into Wait instead of sleeping whole seconds.
		// Retry-After stays for anyone reading the answer.
		resp.Header.Set("retry-after-ms", "1")
	}
	return resp, err
}

// Router picks the Limiter for a request; nil leaves it unpaced.
type Router func(*http.Request) *Limiter

// ByMethod paces GET and HEAD with reads and everything else with writes
// (Graph's identity write quota counts POST, PATCH, PUT and DELETE).
func ByMethod(reads, writes *Limiter) Router {
	return func(r *http.Request) *Limiter {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			return reads
		}
		return writes
	}
}

// Transport wraps next so that each request waits for its Limiter.
func Transport(next http.RoundTripper, route Router) http.RoundTripper {
	return transport{next: next, route: route}
}

type transport struct {
	next  http.RoundTripper
	route Router
}

func (t transport) RoundTrip(r *http.Request) (*http.Response, error) {
	l := t.route(r)
	if l == nil {
		return t.next.RoundTrip(r)
	}
	tk, err := l.wait(r.Context())
	if err != nil {
		return nil, err
	}
	resp, err := t.next.RoundTrip(r)
	l.done(tk, resp)
	return resp, err
}

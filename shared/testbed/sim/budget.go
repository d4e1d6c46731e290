package sim

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/holdfast/holdfast/shared/config"
)

// Budgets are the services' own request budgets, enforced in wall-clock
// time (clients pace and back off in wall time). They compose with the
// fault rules and the Faults.Graph/Exchange budgets: a request must pass
// every one of them. Shapes and sources: docs/contracts.md, "Throttling
// budgets and rate headers (issue 16)".
type Budgets struct {
	// Exchange is the admin API's budget per tenant: at most Requests per
	// fixed Window (windows follow each other from the moment the budget
	// is set). Every Exchange answer carries Rate-Limit-Limit,
	// Rate-Limit-Remaining and Rate-Limit-Reset (the end of the current
	// window, RFC 3339 with milliseconds), as the real service does; beyond
	// the budget it answers 429 with Retry-After in whole seconds, rounded
	// up, until the reset.
	Exchange *WindowBudget `json:"exchange,omitempty"`
	// GraphWrites is the identity write quota per application and tenant,
	// a token bucket (Learn describes the identity limits as one): Requests
	// tokens, refilled at Requests per Window, one per POST, PATCH, PUT or
	// DELETE on users and licences. Throttled writes count too (Learn:
	// throttled requests count toward the limits), down to a debt of one
	// full bucket. Beyond it: 429 with Retry-After (whole seconds).
	// DocumentedGraphWrites is the documented 3,000 per 2.5 minutes.
	GraphWrites *WindowBudget `json:"graphWrites,omitempty"`
}

// WindowBudget is Requests per Window.
type WindowBudget struct {
	Requests int    `json:"requests"`
	Window   string `json:"window"` // e.g. "1s", "150s", "1h"
}

// DocumentedGraphWrites is Graph's identity write quota per application
// and tenant: 3,000 requests per 2 minutes and 30 seconds.
func DocumentedGraphWrites() *WindowBudget { return &WindowBudget{Requests: 3000, Window: "150s"} }

func (b *WindowBudget) window() time.Duration {
	d, err := config.ParseDuration(b.Window)
	if err != nil || d <= 0 {
		return time.Second
	}
	return d
}

func (b *WindowBudget) validate(name string) error {
	if b == nil {
		return nil
	}
	if d, err := config.ParseDuration(b.Window); err != nil || d <= 0 || b.Requests <= 0 {
		return fmt.Errorf("sim: budgets %s needs requests > 0 and a window like 1s", name)
	}
	return nil
}

// Validate checks both budgets.
func (b *Budgets) Validate() error {
	if b == nil {
		return nil
	}
	if err := b.Exchange.validate("exchange"); err != nil {
		return err
	}
	return b.GraphWrites.validate("graphWrites")
}

// budgetRun is the live state of the Budgets in force; guarded by Sim.mu.
type budgetRun struct {
	cfg Budgets
	// Exchange fixed windows.
	epoch    time.Time
	winStart time.Time
	used     int
	// Graph write bucket.
	tokens float64
	filled time.Time
}

// graphWrite reports whether a Graph operation is an identity write (POST,
// PATCH or DELETE on users and licences).
func graphWrite(op string) bool {
	switch op {
	case "patchUser", "deleteUser", "restoreDeletedUser", "purgeDeletedUser", "assignLicense":
		return true
	}
	return false
}

// SetBudgets replaces the budgets in force (nil lifts them) and restarts
// their windows and buckets.
func (s *Sim) SetBudgets(b *Budgets) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setBudgetsLocked(b)
}

func (s *Sim) setBudgetsLocked(b *Budgets) {
	if b == nil || (b.Exchange == nil && b.GraphWrites == nil) {
		s.budget = nil
		return
	}
	now := time.Now()
	s.budget = &budgetRun{cfg: *b, epoch: now, winStart: now, filled: now}
	if b.GraphWrites != nil {
		s.budget.tokens = float64(b.GraphWrites.Requests)
	}
}

// budgetLocked counts one request against the budgets and returns 429 and
// the Retry-After seconds when it is over; status 0 lets it through.
func (s *Sim) budgetLocked(api, op string) (status, retryAfter int) {
	b := s.budget
	if b == nil {
		return 0, 0
	}
	now := time.Now()
	switch {
	case api == "exchange" && b.cfg.Exchange != nil:
		b.rollLocked(now)
		if b.used >= b.cfg.Exchange.Requests {
			wait := b.winStart.Add(b.cfg.Exchange.window()).Sub(now)
			return http.StatusTooManyRequests, max(1, int(math.Ceil(wait.Seconds())))
		}
		b.used++
	case api == "graph" && b.cfg.GraphWrites != nil && graphWrite(op):
		gw := b.cfg.GraphWrites
		per := float64(gw.Requests) / gw.window().Seconds()
		b.tokens = min(float64(gw.Requests), b.tokens+now.Sub(b.filled).Seconds()*per)
		b.filled = now
		if b.tokens < 1 {
			b.tokens = max(b.tokens-1, -float64(gw.Requests))
			return http.StatusTooManyRequests, max(1, int(math.Ceil((1-b.tokens)/per)))
		}
		b.tokens--
	}
	return 0, 0
}

// rollLocked moves the Exchange window forward to the one holding now.
func (b *budgetRun) rollLocked(now time.Time) {
	w := b.cfg.Exchange.window()
	if el := now.Sub(b.winStart); el >= w {
		b.winStart = b.winStart.Add(el.Truncate(w))
		b.used = 0
	}
}

// exchangeRateHeaders sets Rate-Limit-* on an Exchange answer from the
// window in force when it is written.
func (s *Sim) exchangeRateHeaders(h http.Header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.budget
	if b == nil || b.cfg.Exchange == nil {
		return
	}
	b.rollLocked(time.Now())
	reset := b.winStart.Add(b.cfg.Exchange.window())
	h.Set("Rate-Limit-Limit", strconv.Itoa(b.cfg.Exchange.Requests))
	h.Set("Rate-Limit-Remaining", strconv.Itoa(max(0, b.cfg.Exchange.Requests-b.used)))
	h.Set("Rate-Limit-Reset", reset.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
}

package sim

import (
	"fmt"
	"maps"
	"math"
	"time"

	"github.com/holdfast/holdfast/shared/config"
)

// Area wire: scripted faults, load throttling and request statistics.

// Faults configure throttling and failure injection (POST /_sim/faults).
type Faults struct {
	// Rules by key: a Graph operation name (getUser, listUsers, patchUser,
	// deleteUser, listDeletedUsers, getDeletedUser, restoreDeletedUser,
	// purgeDeletedUser, assignLicense, licenseDetails, subscribedSkus,
	// sendMail, batch), a cmdlet name (Set-Mailbox, ...), "graph",
	// "exchange", or "*". The most specific key wins.
	Rules map[string]FaultRule `json:"rules,omitempty"`
	// Graph and Exchange budgets: at most Budget requests per Window of
	// wall-clock time (clients back off in wall time), answered with 429
	// and Retry-After beyond that.
	Graph    *Budget `json:"graph,omitempty"`
	Exchange *Budget `json:"exchange,omitempty"`
	// Budgets are the services' own budgets, with their rate headers
	// (budget.go).
	Budgets *Budgets `json:"budgets,omitempty"`
	// RestoreFailOnce makes the next restore request fail half-way once
	// (Resume-MailboxRestoreRequest or a new request then succeeds).
	RestoreFailOnce bool `json:"restoreFailOnce,omitempty"`
	// RestoreStatuses scripts the next restore request: half-way through
	// it passes through each listed status in order (Retrying and Synced
	// for a while, AutoSuspended and Suspended until resumed, Failed), and
	// CompletedWithWarning makes it end so, with items skipped.
	RestoreStatuses []string `json:"restoreStatuses,omitempty"`
}

// scriptable are the statuses Faults.RestoreStatuses may name.
func scriptable(st string) bool {
	switch st {
	case "Retrying", "Synced", "AutoSuspended", "Suspended", "Failed", "CompletedWithWarning":
		return true
	}
	return false
}

// FaultRule injects faults into the requests it matches. Draws are
// deterministic given Options.Seed and the order of requests.
type FaultRule struct {
	Throttle    float64 `json:"throttle,omitempty"`    // share answered 429
	RetryAfter  int     `json:"retryAfter,omitempty"`  // seconds; default 1
	Unavailable float64 `json:"unavailable,omitempty"` // share answered 503
	Latency     string  `json:"latency,omitempty"`     // added wall-clock latency, e.g. "50ms"
}

// Budget is a per-window request budget.
type Budget struct {
	Budget int    `json:"budget"`
	Window string `json:"window"` // e.g. "1s", "10s"
}

type budgetState struct {
	start time.Time
	n     int
}

// Stats counts what the simulator served.
type Stats struct {
	Total       int64            `json:"total"`
	Throttled   int64            `json:"throttled"`   // 429s served
	Unavailable int64            `json:"unavailable"` // 503s served
	Requests    map[string]int64 `json:"requests"`    // by "graph:<op>" / "exchange:<cmdlet>"
	Throttles   map[string]int64 `json:"throttles"`   // 429s by op
	Errors      map[string]int64 `json:"errors"`      // other error answers by op
}

func newStats() Stats {
	return Stats{Requests: map[string]int64{}, Throttles: map[string]int64{}, Errors: map[string]int64{}}
}

// Stats returns a copy of the counters.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.stats
	out.Requests = maps.Clone(s.stats.Requests)
	out.Throttles = maps.Clone(s.stats.Throttles)
	out.Errors = maps.Clone(s.stats.Errors)
	return out
}

// Validate checks shares, latencies and budgets.
func (f Faults) Validate() error {
	for k, r := range f.Rules {
		if r.Throttle < 0 || r.Throttle > 1 || r.Unavailable < 0 || r.Unavailable > 1 {
			return fmt.Errorf("sim: faults %s: shares must be between 0 and 1", k)
		}
		if r.Latency != "" {
			if _, err := config.ParseDuration(r.Latency); err != nil {
				return fmt.Errorf("sim: faults %s latency: %w", k, err)
			}
		}
	}
	for _, st := range f.RestoreStatuses {
		if !scriptable(st) {
			return fmt.Errorf("sim: faults restoreStatuses: %q is not one of Retrying, Synced, AutoSuspended, Suspended, Failed, CompletedWithWarning", st)
		}
	}
	for _, b := range []*Budget{f.Graph, f.Exchange} {
		if b == nil {
			continue
		}
		if _, err := config.ParseDuration(b.Window); err != nil || b.Budget < 0 {
			return fmt.Errorf("sim: faults budget needs budget >= 0 and a window like 1s")
		}
	}
	return f.Budgets.Validate()
}

// SetFaults replaces the fault configuration. Call Faults.Validate first:
// invalid latencies and windows are ignored.
func (s *Sim) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
	s.failNext = f.RestoreFailOnce
	s.nextScript = append([]string(nil), f.RestoreStatuses...)
	s.budgets = map[string]*budgetState{}
	s.setBudgetsLocked(f.Budgets)
}

// Faults returns the current fault configuration.
func (s *Sim) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// verdict is what fault injection decided for one request.
type verdict struct {
	status     int // 0: serve normally; 429 or 503
	retryAfter int
	latency    time.Duration
}

// decide counts the request and draws its faults. api is "graph" or
// "exchange".
func (s *Sim) decide(api, op string) verdict {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := api + ":" + op
	s.stats.Total++
	s.stats.Requests[key]++
	var v verdict
	rule, ok := s.faults.Rules[op]
	if !ok {
		rule, ok = s.faults.Rules[api]
	}
	if !ok {
		rule, ok = s.faults.Rules["*"]
	}
	if ok {
		if rule.Latency != "" {
			v.latency, _ = config.ParseDuration(rule.Latency)
		}
		ra := rule.RetryAfter
		if ra <= 0 {
			ra = 1
		}
		switch x := s.faultRng.Float64(); {
		case x < rule.Throttle:
			v.status, v.retryAfter = 429, ra
		case x < rule.Throttle+rule.Unavailable:
			v.status = 503
		}
	}
	b := s.faults.Graph
	if api == "exchange" {
		b = s.faults.Exchange
	}
	if v.status == 0 && b != nil {
		win, err := config.ParseDuration(b.Window)
		if err != nil || win <= 0 {
			win = time.Second
		}
		st := s.budgets[api]
		now := time.Now()
		if st == nil || now.Sub(st.start) >= win {
			st = &budgetState{start: now}
			s.budgets[api] = st
		}
		if st.n >= b.Budget {
			v.status = 429
			v.retryAfter = max(1, int(math.Ceil(st.start.Add(win).Sub(now).Seconds())))
		} else {
			st.n++
		}
	}
	if v.status == 0 {
		v.status, v.retryAfter = s.budgetLocked(api, op)
	}
	if v.status == 0 {
		if refused, ra := s.loadThrottled(api); refused {
			v.status, v.retryAfter = 429, ra
		}
	}
	switch v.status {
	case 429:
		s.stats.Throttled++
		s.stats.Throttles[key]++
	case 503:
		s.stats.Unavailable++
	}
	return v
}

func (s *Sim) countError(api, op string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Errors[api+":"+op]++
}

// throttleState is a LoadThrottle's current window.
type throttleState struct {
	start  time.Time
	n      int
	budget int
}

// loadThrottled counts one request against the LoadThrottle of api and
// reports whether it must be answered 429, with the seconds to wait.
// Callers hold mu.
func (s *Sim) loadThrottled(api string) (bool, int) {
	lt := s.realism.Throttle
	if lt == nil {
		return false, 0
	}
	win, err := config.ParseDuration(lt.Window)
	if err != nil || win <= 0 || lt.Floor < 1 {
		return false, 0
	}
	if s.loads == nil {
		s.loads = map[string]*throttleState{}
	}
	now := time.Now()
	st := s.loads[api]
	switch {
	case st == nil:
		st = &throttleState{start: now, budget: lt.Budget}
		s.loads[api] = st
	case now.Sub(st.start) >= win:
		switch {
		case st.n >= st.budget: // used up: tighten
			st.budget = max(lt.Floor, st.budget/2)
		case st.n < st.budget/2: // quiet: recover
			st.budget = min(lt.Budget, st.budget*2)
		}
		st.start, st.n = now, 0
	}
	if st.n >= st.budget {
		st.n++ // refused requests count as load too
		return true, max(1, int(math.Ceil(st.start.Add(win).Sub(now).Seconds())))
	}
	st.n++
	return false, 0
}

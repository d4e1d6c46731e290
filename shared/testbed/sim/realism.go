package sim

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/holdfast/holdfast/shared/config"
)

// Realism makes the simulator as slow and inconsistent as Microsoft 365
// (issue 17; bounds and sources in docs/simulator.md). Every knob is
// optional; a nil or zero knob behaves as the service would at its best.
type Realism struct {
	// Notifications: Graph change notifications arrive late, out of order
	// and sometimes twice.
	Notifications *Notifications `json:"notifications,omitempty"`
	// HoldVisible: how long after Set-Mailbox changes Litigation Hold
	// Get-Mailbox still shows the previous setting (Min..Max; Shows is
	// ignored).
	HoldVisible *Lag `json:"holdVisible,omitempty"`
	// Throttle: a request budget that tightens under load.
	Throttle *LoadThrottle `json:"throttle,omitempty"`
	// ExchangeLag: how long Exchange Online shows a mailbox in its old
	// scope, or in none, after a directory change made in Entra ID.
	ExchangeLag *ExchangeLag `json:"exchangeLag,omitempty"`
}

// Profile is the default realism profile of chaos --realistic (scenario
// files spell out their knobs). Documented bounds where Microsoft
// publishes them, pessimistic ones where it does not (docs/simulator.md):
//   - notifications: mean 2m, at most 15m, 5% delivered twice; Learn's
//     latency table gives "Unknown" for users, so these are the
//     figures of its slower rows, not a promise;
//   - Exchange lag after a delete or restore: up to 2h, in the old scope
//     or in none (drawn); after a licence that provisions a mailbox: up to
//     1h in no scope (no documented bound);
//   - hold visible to Get-Mailbox up to 15m after Set-Mailbox;
//   - a request budget of 60/s per service that halves under load down
//     to 10/s.
func Profile() Realism {
	return Realism{
		Notifications: &Notifications{Mean: "2m", Max: "15m", Duplicates: 0.05},
		ExchangeLag: &ExchangeLag{
			AfterDelete:  &Lag{Max: "2h", Shows: "either"},
			AfterRestore: &Lag{Max: "2h", Shows: "either"},
			AfterLicence: &Lag{Max: "1h", Shows: "none"},
		},
		HoldVisible: &Lag{Max: "15m"},
		Throttle:    &LoadThrottle{Budget: 60, Floor: 10, Window: "1s"},
	}
}

// LoadThrottle is a per-service request budget per window of wall time
// that halves after every window that used it up, down to Floor, and
// recovers by doubling after a window used less than half: the harder a
// client pushes, the less it gets (429 with Retry-After beyond it).
type LoadThrottle struct {
	Budget int    `json:"budget"` // requests per window when quiet
	Floor  int    `json:"floor"`  // the tightest budget, >= 1
	Window string `json:"window"` // e.g. "1s"
}

// Notifications shapes the delivery of directory change notifications.
// Each is delayed by a draw from an exponential distribution of mean Mean,
// capped at Max; delays are independent, so notifications overtake each
// other. Duplicates is the share delivered a second time, with its own
// delay (delivery is at least once).
type Notifications struct {
	Mean       string  `json:"mean"`                 // e.g. "2m"
	Max        string  `json:"max"`                  // e.g. "15m"
	Duplicates float64 `json:"duplicates,omitempty"` // 0..1
}

func (n *Notifications) bounds() (mean, hi time.Duration, err error) {
	if n == nil {
		return 0, 0, nil
	}
	if mean, err = config.ParseDuration(n.Mean); err != nil {
		return 0, 0, fmt.Errorf("mean: %w", err)
	}
	if hi, err = config.ParseDuration(n.Max); err != nil {
		return 0, 0, fmt.Errorf("max: %w", err)
	}
	if mean < 0 || hi < mean || n.Duplicates < 0 || n.Duplicates > 1 {
		return 0, 0, fmt.Errorf("want 0 <= mean <= max and duplicates in [0,1]")
	}
	return mean, hi, nil
}

// ExchangeLag configures the lag per kind of directory change.
type ExchangeLag struct {
	// AfterDelete: user deleted in Entra (Graph or admin): Get-Mailbox
	// still shows the mailbox active, or in no scope.
	AfterDelete *Lag `json:"afterDelete,omitempty"`
	// AfterRestore: user restored from the recycle bin: Get-Mailbox still
	// shows the mailbox soft-deleted or inactive, or in no scope.
	AfterRestore *Lag `json:"afterRestore,omitempty"`
	// AfterLicence: a licence that provisions a new mailbox: the mailbox
	// is in no scope until the lag has passed.
	AfterLicence *Lag `json:"afterLicence,omitempty"`
}

// Lag is a duration drawn uniformly from [Min, Max] and what Exchange
// shows meanwhile.
type Lag struct {
	Min string `json:"min,omitempty"` // e.g. "0s"; default 0
	Max string `json:"max"`           // e.g. "1h"
	// Shows: "old" (the previous scope), "none" (no scope) or "either"
	// (drawn per change). Default "none", the harder of the two.
	Shows string `json:"shows,omitempty"`
}

func (l *Lag) bounds() (lo, hi time.Duration, err error) {
	if l == nil {
		return 0, 0, nil
	}
	if l.Min != "" {
		if lo, err = config.ParseDuration(l.Min); err != nil {
			return 0, 0, fmt.Errorf("min: %w", err)
		}
	}
	if hi, err = config.ParseDuration(l.Max); err != nil {
		return 0, 0, fmt.Errorf("max: %w", err)
	}
	if lo < 0 || hi < lo {
		return 0, 0, fmt.Errorf("want 0 <= min <= max, got %s..%s", l.Min, l.Max)
	}
	switch l.Shows {
	case "", "old", "none", "either":
	default:
		return 0, 0, fmt.Errorf("shows %q: want old, none or either", l.Shows)
	}
	return lo, hi, nil
}

// Validate checks every knob.
func (r Realism) Validate() error {
	if _, _, err := r.Notifications.bounds(); err != nil {
		return fmt.Errorf("sim: realism notifications: %w", err)
	}
	if _, _, err := r.HoldVisible.bounds(); err != nil {
		return fmt.Errorf("sim: realism holdVisible: %w", err)
	}
	if t := r.Throttle; t != nil {
		if w, err := config.ParseDuration(t.Window); err != nil || w <= 0 || t.Floor < 1 || t.Budget < t.Floor {
			return fmt.Errorf("sim: realism throttle: want 1 <= floor <= budget and a window like 1s")
		}
	}
	if x := r.ExchangeLag; x != nil {
		for name, l := range map[string]*Lag{"afterDelete": x.AfterDelete, "afterRestore": x.AfterRestore, "afterLicence": x.AfterLicence} {
			if _, _, err := l.bounds(); err != nil {
				return fmt.Errorf("sim: realism exchangeLag.%s: %w", name, err)
			}
		}
	}
	return nil
}

// SetRealism replaces the realism profile. Call Realism.Validate first.
// Seeding (Load) is never lagged.
func (s *Sim) SetRealism(r Realism) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.realism = r
}

// Realism returns the current profile.
func (s *Sim) Realism() Realism {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.realism
}

// lagView is what Get-Mailbox shows of a mailbox until Exchange catches
// up with the directory.
type lagView struct {
	until      time.Time
	none       bool    // in no scope
	state      mbState // else: this state ...
	userActive bool    // ... with the user in this state
}

// lagKind selects an ExchangeLag knob.
type lagKind int

const (
	lagDelete lagKind = iota
	lagRestore
	lagLicence
)

// startLag makes Get-Mailbox show m as it was (old state, userActive)
// or in no scope, for a duration drawn from the profile. Callers hold mu.
func (s *Sim) startLag(m *mailbox, k lagKind, old mbState, userActive bool, t time.Time) {
	x := s.realism.ExchangeLag
	if m == nil || x == nil {
		return
	}
	l := [...]*Lag{x.AfterDelete, x.AfterRestore, x.AfterLicence}[k]
	d := s.draw(l)
	if d <= 0 {
		return
	}
	none := l.Shows == "" || l.Shows == "none" || l.Shows == "either" && s.realRng.IntN(2) == 0
	m.view = &lagView{until: t.Add(d), none: none, state: old, userActive: userActive}
}

// shown is m as Get-Mailbox shows it now: nil when Exchange has not
// caught up and shows it in no scope, a copy in its old state while it
// shows the old scope, else m itself.
func (s *Sim) shown(m *mailbox) *mailbox {
	now := s.now()
	if h := m.holdView; h != nil && now.Before(h.until) {
		c := *m
		c.holdEnabled, c.holdSetAt, c.holdView = h.enabled, h.setAt, nil
		return s.shown(&c)
	}
	v := m.view
	if v == nil || !now.Before(v.until) {
		return m
	}
	if v.none {
		return nil
	}
	c := *m
	c.state = v.state
	if v.state == mbActive {
		c.softDeletedAt, c.byRemove, c.byDisable = nil, false, false
	}
	if m.user != nil {
		u := *m.user
		u.state = userDeleted
		if v.userActive {
			u.state = userActive
		}
		c.user = &u
	}
	return &c
}

// restoreUserFromEntra restores u (Graph or admin) and lets Exchange lag
// behind: the mailbox may still show soft-deleted or inactive.
func (s *Sim) restoreUserFromEntra(u *user, t time.Time) error {
	m := u.mailbox
	var old mbState
	if m != nil {
		old = m.state
	}
	if err := s.restoreUser(u, t); err != nil {
		return err
	}
	if m != nil && m.user == u && (old == mbSoftDeleted || old == mbInactive) {
		s.startLag(m, lagRestore, old, false, t)
	}
	return nil
}

// pendingEvent is a notification on its way.
type pendingEvent struct {
	at  time.Time
	seq int64
	b   []byte
}

// queueEvents moves the notifications emitted since the last call into
// the delivery queue, each with its drawn delay (and maybe a duplicate).
// Callers hold mu.
func (s *Sim) queueEvents() {
	n := s.realism.Notifications
	mean, hi, err := n.bounds()
	for _, b := range s.events {
		var head struct {
			Time time.Time `json:"time"`
		}
		_ = json.Unmarshal(b, &head)
		at := head.Time
		if at.IsZero() {
			at = s.now()
		}
		copies := 1
		if n != nil && err == nil && n.Duplicates > 0 && s.realRng.Float64() < n.Duplicates {
			copies = 2
		}
		for range copies {
			d := time.Duration(0)
			if n != nil && err == nil && mean > 0 {
				d = min(time.Duration(s.realRng.ExpFloat64()*float64(mean)), hi)
			}
			s.evSeq++
			s.pending = append(s.pending, pendingEvent{at: at.Add(d), seq: s.evSeq, b: b})
		}
	}
	s.events = nil
	sort.SliceStable(s.pending, func(i, j int) bool {
		if !s.pending[i].at.Equal(s.pending[j].at) {
			return s.pending[i].at.Before(s.pending[j].at)
		}
		return s.pending[i].seq < s.pending[j].seq
	})
}

// takeDue returns the queued notifications due by now, in delivery order.
// Callers hold mu.
func (s *Sim) takeDue() []json.RawMessage {
	s.queueEvents()
	now := s.now()
	var out []json.RawMessage
	i := 0
	for ; i < len(s.pending) && !s.pending[i].at.After(now); i++ {
		out = append(out, s.pending[i].b)
	}
	s.pending = s.pending[i:]
	return out
}

// NextEventAt reports when the next queued notification is due.
func (s *Sim) NextEventAt() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	s.queueEvents()
	if len(s.pending) == 0 {
		return time.Time{}, false
	}
	return s.pending[0].at, true
}

// DiscardEmitted loses the notifications emitted since they were last
// queued or drained: an action's notifications lost upstream.
func (s *Sim) DiscardEmitted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	n := len(s.events)
	s.events = nil
	return n
}

// draw returns a duration drawn uniformly from l's bounds (0 without).
// Callers hold mu.
func (s *Sim) draw(l *Lag) time.Duration {
	lo, hi, err := l.bounds()
	if l == nil || err != nil || hi <= 0 {
		return 0
	}
	if hi > lo {
		return lo + time.Duration(s.realRng.Int64N(int64(hi-lo+1)))
	}
	return lo
}

// startHoldLag makes Get-Mailbox keep showing m's current hold setting
// for a while after Set-Mailbox changes it. Callers hold mu and call it
// before the change.
func (s *Sim) startHoldLag(m *mailbox, t time.Time) {
	d := s.draw(s.realism.HoldVisible)
	if d <= 0 {
		return
	}
	m.holdView = &holdView{until: t.Add(d), enabled: m.holdEnabled, setAt: m.holdSetAt}
}

// holdView is the hold setting Get-Mailbox shows until Exchange has
// caught up with a Set-Mailbox.
type holdView struct {
	until   time.Time
	enabled bool
	setAt   time.Time
}

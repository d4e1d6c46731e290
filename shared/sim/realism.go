package sim

import (
	"fmt"
	"time"

	"github.com/holdfast/holdfast/shared/config"
)

// Realism makes the simulator as slow and inconsistent as Microsoft 365
// (issue 17; bounds and sources in docs/simulator.md). Every knob is
// optional; a nil or zero knob behaves as the service would at its best.
type Realism struct {
	// ExchangeLag: how long Exchange Online shows a mailbox in its old
	// scope, or in none, after a directory change made in Entra ID.
	ExchangeLag *ExchangeLag `json:"exchangeLag,omitempty"`
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
	lo, hi, err := l.bounds()
	if l == nil || err != nil || hi <= 0 {
		return
	}
	d := lo
	if hi > lo {
		d += time.Duration(s.faultRng.Int64N(int64(hi - lo + 1)))
	}
	if d <= 0 {
		return
	}
	none := l.Shows == "" || l.Shows == "none" || l.Shows == "either" && s.faultRng.IntN(2) == 0
	m.view = &lagView{until: t.Add(d), none: none, state: old, userActive: userActive}
}

// shown is m as Get-Mailbox shows it now: nil when Exchange has not
// caught up and shows it in no scope, a copy in its old state while it
// shows the old scope, else m itself.
func (s *Sim) shown(m *mailbox) *mailbox {
	v := m.view
	if v == nil || !s.now().Before(v.until) {
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

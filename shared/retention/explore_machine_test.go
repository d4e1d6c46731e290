package retention

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
)

// The exhaustive exploration of the case machine (Step, PlanCase and the
// evidence rule together): every sequence of facts up to a depth (HR
// decisions in every order, admin actions on the tenant, time passing to
// each wake-up, action failures), from a set of starting tenants, with the
// invariants of docs/reliability.md checked on every transition.
//
// The decisions are the real ones (Step). What the engine does around
// them is played by a driver that mirrors it: it performs the actions an
// outcome asks for on a small model of the tenant (the simulator's
// lifecycle, shared/testbed/sim/lifecycle.go), and records what a read of
// the tenant finds the way engine.refresh does. The driver is a model of
// the engine, not the engine: the engine's own tests and the scenario and
// chaos runs check that one.

var machineDepth = flag.Int("explore.machine.depth", 5, "facts per sequence in the exhaustive exploration of the case machine")

type userState int8

const (
	userActive userState = iota
	userDeleted
	userPurged
)

type mailboxState int8

const (
	mbActive mailboxState = iota
	mbSoftDeleted
	mbInactive
	mbGone
)

// tenantModel is the truth about one leaver's user and mailbox.
type tenantModel struct {
	User             userState
	Licensed         bool
	LicensedAtDelete bool
	HoldOK           bool // the licence includes Litigation Hold
	AutoExpanding    bool
	Mailbox          mailboxState
	HoldOn           bool
	HoldAt           time.Time // placed at; in effect after the propagation window
	GraceFrom        time.Time // licence removed from the active mailbox
	SoftPurgeAt      time.Time // a soft-deleted mailbox is purged then
	LostOnSchedule   bool      // purged by Microsoft 365's own clock
	LostAt           time.Time
	LostByAdmin      bool // purged from the recycle bin by an admin
	// Failures injected into the next tenant write.
	FailNext       bool // transient (throttled, 5xx)
	RefuseHoldNext bool // Set-Mailbox answers that the licence does not allow the hold
	// LoseSendNext: the next hold request is recorded by a committed
	// decision and lost on its way to Exchange (an HR offboarding's,
	// sent after the commit).
	LoseSendNext    bool
	Recovered       bool // the mailbox was recovered into a new account
	RecoverAttempts int
}

func (tn *tenantModel) holdEffective(now time.Time, p Policy) bool {
	return tn.HoldOn && !now.Before(tn.HoldAt.Add(p.HoldPropagation))
}

// advance lets Microsoft 365's clocks run to now.
func (tn *tenantModel) advance(now time.Time, p Policy) {
	switch tn.Mailbox {
	case mbActive:
		if !tn.Licensed && !tn.GraceFrom.IsZero() && !now.Before(tn.GraceFrom.Add(Window)) && !tn.holdEffective(tn.GraceFrom.Add(Window), p) {
			tn.Mailbox, tn.LostOnSchedule, tn.LostAt = mbGone, true, now
		}
	case mbSoftDeleted:
		if !now.Before(tn.SoftPurgeAt) {
			tn.Mailbox, tn.LostOnSchedule, tn.LostAt = mbGone, true, now
		}
	}
}

func (tn *tenantModel) deleteUser(now time.Time, p Policy) {
	tn.User, tn.LicensedAtDelete, tn.Licensed = userDeleted, tn.Licensed, false
	if tn.Mailbox != mbActive {
		return
	}
	if tn.holdEffective(now, p) {
		tn.Mailbox = mbInactive
		return
	}
	tn.Mailbox, tn.SoftPurgeAt = mbSoftDeleted, now.Add(Window)
	if !tn.GraceFrom.IsZero() && tn.GraceFrom.Add(Window).Before(tn.SoftPurgeAt) {
		tn.SoftPurgeAt = tn.GraceFrom.Add(Window) // the earlier clock wins
	}
}

func (tn *tenantModel) restoreUser(now time.Time) {
	tn.User, tn.Licensed = userActive, tn.LicensedAtDelete
	if tn.Mailbox == mbSoftDeleted || tn.Mailbox == mbInactive {
		tn.Mailbox, tn.SoftPurgeAt = mbActive, time.Time{}
		if !tn.Licensed && tn.GraceFrom.IsZero() {
			tn.GraceFrom = now
		}
	}
}

func (tn *tenantModel) purgeUser(now time.Time) {
	tn.User = userPurged
	if tn.Mailbox != mbSoftDeleted {
		return
	}
	if tn.LicensedAtDelete && tn.GraceFrom.IsZero() {
		tn.SoftPurgeAt = now.Add(Window) // purged with its licence: 30 more days
		return
	}
	tn.Mailbox, tn.LostByAdmin = mbGone, true
}

func (tn *tenantModel) sighting() Sighting {
	switch tn.Mailbox {
	case mbActive:
		return SightActive
	case mbSoftDeleted:
		return SightSoftDeleted
	case mbInactive:
		return SightInactive
	}
	return SightNone
}

// mworld is one reachable state.
type mworld struct {
	C       Case
	T       tenantModel
	Now     time.Time
	RetryAt *time.Time // a failed sweep's retry timer
	// History the invariants need.
	Holds, Intents    int       // holds placed; retain decisions and admin hold removals
	Rescues, Episodes int       // successful rescues; licence removals and deletions
	RiskAt            time.Time // when the current risk episode began
	Warned            int       `json:"-"` // warnings delivered by the last transition
	Repeats           []string  `json:"-"` // alerts the machine asked for again
}

func (w mworld) clone() mworld {
	n := w
	n.C = w.C.Clone()
	n.Warned, n.Repeats = 0, nil
	return n
}

func (w mworld) key() string {
	b, err := json.Marshal(w)
	if err != nil {
		panic(err)
	}
	return string(b)
}

var errTransient = errors.New("transient failure")

// stepFunc is Step, swappable so each invariant can be shown to catch a
// broken machine.
type stepFunc func(c *Case, f Fact, p Policy, now time.Time) Outcome

// driver plays the engine around Step.
type driver struct {
	p     Policy
	step0 stepFunc
}

// step applies f and delivers its alerts once each, as the engine's
// outbox and flush do; an alert already sent that the machine asks for
// again is noted (blockers excepted: acting again on a blocked case blocks
// again, and the engine relies on the alert not being repeated).
func (d driver) step(w *mworld, f Fact) Outcome {
	o := d.step0(&w.C, f, d.p, w.Now)
	for _, a := range o.Alerts {
		if w.C.AlertSent(a.ID) {
			if a.Kind != AlertBlocker {
				w.Repeats = append(w.Repeats, a.ID)
			}
			continue
		}
		w.C.MarkAlertSent(a.ID)
		if a.Kind == AlertWarning {
			w.Warned++
		}
	}
	return o
}

func (d driver) write(w *mworld) error {
	if w.T.FailNext {
		w.T.FailNext = false
		return errTransient
	}
	return nil
}

// reading is what Get-Mailbox says of the model's mailbox.
func (d driver) reading(w *mworld) MailboxReading {
	tn := &w.T
	m := MailboxReading{ExchangeGUID: w.C.ExchangeGUID, AutoExpandingArchive: tn.AutoExpanding,
		LitigationHoldEnabled: tn.HoldOn, Inactive: tn.Mailbox == mbInactive}
	if tn.HoldOn {
		at := tn.HoldAt
		m.LitigationHoldDate = &at
	}
	return m
}

// confirmGone mirrors engine.confirmGone.
func (d driver) confirmGone(w *mworld, inPlace ...Sighting) bool {
	s := w.T.sighting()
	for _, ok := range inPlace {
		if s == ok {
			ObserveInPlace(&w.C)
			return false
		}
	}
	if ObserveOutOfPlace(&w.C, s, w.Now, d.p) == VerdictUnconfirmed {
		return false
	}
	d.step(w, Fact{Kind: FactWrittenOff})
	return true
}

// observe is engine.refresh: the model's readings handed to the real
// facts in the engine's order.
func (d driver) observe(w *mworld) {
	c, tn := &w.C, &w.T
	switch tn.User {
	case userActive:
		// The engine's refresh: the real facts, with the model's readings.
		u := UserReading{UPN: c.UPN}
		if tn.Licensed {
			u.SKUs = []string{"E3"}
		}
		d.step(w, Fact{Kind: FactUserActive, User: u})
		f := Fact{Kind: FactUserLicences, User: u}
		if tn.Mailbox == mbActive {
			m := d.reading(w)
			f.Mailbox = &m
		}
		if d.step(w, f).Next == NextConfirmGone && !d.confirmGone(w, SightActive) {
			d.step(w, Fact{Kind: FactNotConfirmedGone})
		}
		return
	case userDeleted:
		d.step(w, Fact{Kind: FactUserDeleted, User: UserReading{UPN: c.UPN}})
	case userPurged:
		d.step(w, Fact{Kind: FactUserPurged})
	}
	switch tn.Mailbox {
	case mbInactive:
		m := d.reading(w)
		d.step(w, Fact{Kind: FactMailboxInactive, Mailbox: &m})
	case mbSoftDeleted:
		m := d.reading(w)
		at := tn.SoftPurgeAt.Add(-Window) // WhenSoftDeleted, as Exchange reports it
		m.WhenSoftDeleted = &at
		d.step(w, Fact{Kind: FactMailboxSoftDeleted, Mailbox: &m})
	default:
		if d.step(w, Fact{Kind: FactMailboxMissing}).Next == NextConfirmGone && !d.confirmGone(w, SightSoftDeleted, SightInactive) {
			d.step(w, Fact{Kind: FactNotConfirmedGone})
		}
	}
}

// protect mirrors engine.protect.
func (d driver) protect(w *mworld) error {
	o := d.step(w, Fact{Kind: FactProtect})
	if o.Err != nil || o.Next != NextPlaceHold {
		return o.Err
	}
	if err := d.write(w); err != nil {
		return err
	}
	switch {
	case w.T.RefuseHoldNext || !w.T.HoldOK:
		w.T.RefuseHoldNext = false
		d.step(w, Fact{Kind: FactBlocked, Blocker: Blocker{Kind: BlockHoldNotAllowed, Why: "not allowed"}})
		return nil
	case w.T.Mailbox != mbActive:
		d.step(w, Fact{Kind: FactBlocked, Blocker: Blocker{Kind: BlockNoMailbox, Why: "no mailbox"}})
		return nil
	}
	if w.T.LoseSendNext {
		// engine.sendHolds: the decision recorded the request and read
		// the mailbox without it; the send fails after the commit.
		w.T.LoseSendNext = false
		d.step(w, Fact{Kind: FactHoldPlaced})
		d.step(w, Fact{Kind: FactHoldNotShown})
		d.step(w, Fact{Kind: FactHoldSendFailed, Words: "lost"})
		return nil
	}
	w.T.HoldOn, w.T.HoldAt = true, w.Now
	w.Holds++
	d.step(w, Fact{Kind: FactHoldPlaced})
	m := d.reading(w)
	d.step(w, Fact{Kind: FactHoldShown, Mailbox: &m})
	return nil
}

// decided mirrors engine.decided.
func (d driver) decided(w *mworld) error {
	if d.step(w, Fact{Kind: FactDecided}).Next != NextProtect {
		return nil
	}
	if err := d.protect(w); err != nil {
		return err
	}
	d.step(w, Fact{Kind: FactLateDecision})
	return nil
}

// rescue mirrors the sweep's rescue (without an archive target, so a
// mailbox only a copy could save blocks).
func (d driver) rescue(w *mworld) error {
	c := &w.C
	episode := w.Now
	if c.Deadline != nil {
		episode = *c.Deadline
	}
	d.step(w, Fact{Kind: FactRescueBegun})
	d.observe(w)
	if !NeedsRescue(c) {
		d.step(w, Fact{Kind: FactSettle})
		return nil
	}
	switch {
	case CopyToArchive(c) && c.UnconfirmedSince != nil && w.Now.Sub(*c.UnconfirmedSince) <= d.p.Lag():
		return nil
	case CopyToArchive(c):
		if c.AutoExpandingArchive {
			d.step(w, Fact{Kind: FactBlocked, Blocker: Blocker{Kind: BlockAutoExpandingArchive, Why: "auto-expanding"}})
			return nil
		}
		d.step(w, Fact{Kind: FactBlocked, Blocker: Blocker{Kind: BlockNoArchiveTarget, Why: "no archive target"}})
		return nil
	case c.DeletedAt != nil && c.UserPurgedAt == nil:
		if err := d.write(w); err != nil {
			return err
		}
		w.T.restoreUser(w.Now)
	case c.DeletedAt == nil && c.LicenceRemovedAt != nil:
	default:
		return fmt.Errorf("no rescue path in state %s", c.State)
	}
	d.step(w, Fact{Kind: FactAccountBack})
	d.observe(w)
	if !c.Licensed {
		if err := d.write(w); err != nil {
			return err
		}
		w.T.Licensed, w.T.GraceFrom = true, time.Time{}
		d.step(w, Fact{Kind: FactLicenceAssigned})
		d.observe(w)
	}
	w.Rescues++
	d.step(w, Fact{Kind: FactRescued, At: w.Now, AccountBack: true})
	if err := d.protect(w); err != nil {
		return err
	}
	d.step(w, Fact{Kind: FactRescueRecorded, Episode: episode})
	return nil
}

// sweep mirrors engine.work: the due plan, warnings first.
func (d driver) sweep(w *mworld) {
	w.RetryAt = nil
	pl := PlanCase(&w.C, d.p, w.Now, 0)
	var err error
	for _, a := range pl.Actions {
		if a.Kind == ActWarn {
			d.step(w, Fact{Kind: FactWarned, Action: a})
		}
	}
	for _, a := range pl.Actions {
		switch a.Kind {
		case ActConfirmHold:
			switch w.T.Mailbox {
			case mbActive, mbInactive:
				if !w.T.HoldOn {
					d.step(w, Fact{Kind: FactHoldMissing})
					err = d.protect(w)
					break
				}
				m := d.reading(w)
				d.step(w, Fact{Kind: FactHoldInEffect, Mailbox: &m})
			default:
				d.observe(w)
				d.step(w, Fact{Kind: FactSettle})
			}
		case ActRescue:
			err = d.rescue(w)
		case ActRecheck:
			d.observe(w)
			d.step(w, Fact{Kind: FactSettle})
		case ActCheckDeadline:
			d.observe(w)
			if w.C.Deadline != nil && !w.Now.Before(*w.C.Deadline) && w.C.MailboxPurgedAt == nil {
				at := w.Now.Add(time.Hour) // purged lazily: look again
				w.RetryAt = &at
				continue
			}
			d.step(w, Fact{Kind: FactSettle})
		}
		if err != nil {
			break
		}
	}
	if err != nil {
		w.C.Failures++
		at := w.Now.Add(RetryInterval)
		w.RetryAt = &at
	} else {
		w.C.Failures = 0
	}
}

// event mirrors HandleMessage: an event that fails is redelivered and
// applied again to the case as last committed.
func (d driver) event(w *mworld, apply func(w *mworld) error) {
	before := w.C.Clone()
	if err := apply(w); err != nil {
		w.C = before
		if err := apply(w); err != nil {
			panic(err) // a second failure is not injected
		}
	}
}

func (d driver) directoryChange(w *mworld) {
	d.event(w, func(w *mworld) error {
		d.step(w, Fact{Kind: FactUndecided})
		d.observe(w)
		d.step(w, Fact{Kind: FactSettle})
		return nil
	})
}

// nextWake is the earliest instant after now at which the case needs
// the sweep: its plan's wake-ups and a retry.
func (d driver) nextWake(w *mworld) (time.Time, bool) {
	var ts []time.Time
	for _, t := range PlanCase(&w.C, d.p, w.Now, 0).Wake {
		if t.After(w.Now) {
			ts = append(ts, t)
		}
	}
	if w.RetryAt != nil && w.RetryAt.After(w.Now) {
		ts = append(ts, *w.RetryAt)
	}
	if len(ts) == 0 {
		return time.Time{}, false
	}
	return SortTimes(ts)[0], true
}

// reconcileEvery is the Reconcile interval: each run re-reads the user
// and mailbox of every open case (engine.observeTracked), which is how a
// change no notification announces (a hold removed) is noticed.
const reconcileEvery = 6 * time.Hour

// advance lets time pass by at most by (to the next wake-up if sooner; by
// when nothing is planned), with a Reconcile every reconcileEvery on the
// way, and runs the sweep where it stops, as ExpirySweep does.
func (d driver) advance(w *mworld, by time.Duration) {
	to := w.Now.Add(by)
	for len(PlanCase(&w.C, d.p, w.Now, 0).Actions) == 0 {
		if wake, ok := d.nextWake(w); ok && wake.Before(to) {
			to = wake
		}
		if !w.Now.Before(to) {
			break
		}
		step := min(to.Sub(w.Now), reconcileEvery)
		w.Now = w.Now.Add(step)
		w.T.advance(w.Now, d.p)
		if step == reconcileEvery && Watched(&w.C) {
			d.directoryChange(w)
		}
	}
	d.sweep(w)
}

type machineFact struct {
	name  string
	apply func(d driver, w *mworld) bool // false: not applicable here
}

func machineFacts() []machineFact {
	hr := func(ret string) func(d driver, w *mworld) bool {
		return func(d driver, w *mworld) bool {
			if ret == Retain {
				w.Intents++
			}
			d.event(w, func(w *mworld) error {
				d.step(w, Fact{Kind: FactOffboarding, Decision: Decision{Retention: ret, Source: "hr"}})
				d.observe(w)
				return d.decided(w)
			})
			return true
		}
	}
	risk := func(w *mworld) {
		w.Episodes++
		if w.RiskAt.IsZero() || !AtRisk(&w.C) {
			w.RiskAt = w.Now
		}
	}
	return []machineFact{
		{"hr:retain", hr(Retain)},
		{"hr:release", hr(Release)},
		{"hr:cancel", func(d driver, w *mworld) bool {
			d.event(w, func(w *mworld) error {
				d.step(w, Fact{Kind: FactWithdrawn})
				d.observe(w)
				if d.step(w, Fact{Kind: FactCancelled}).Next == NextDecide {
					return d.decided(w)
				}
				return nil
			})
			return true
		}},
		{"hr:rehire", func(d driver, w *mworld) bool {
			d.event(w, func(w *mworld) error {
				d.step(w, Fact{Kind: FactWithdrawn})
				d.observe(w)
				back := false
				switch PlanRehire(&w.C) {
				case RehireRestoreUser:
					if err := d.write(w); err != nil {
						return err
					}
					w.T.restoreUser(w.Now)
					d.step(w, Fact{Kind: FactAccountBack})
					d.observe(w)
					back = true
				case RehireRecoverInactive:
					if err := d.write(w); err != nil {
						return err
					}
					// New-Mailbox -InactiveMailbox: a new, unlicensed account
					// and an active mailbox without the hold; no licence grace
					// runs on it (the simulator clears it; the 30 days to
					// license the account are the case's own clock).
					w.T.User, w.T.Licensed, w.T.Mailbox, w.T.HoldOn, w.T.Recovered = userActive, false, mbActive, false, true
					w.T.GraceFrom = time.Time{}
					d.step(w, Fact{Kind: FactRecovered, Recovery: Recovery{ObjectID: "new", UPN: "u@x", ExchangeGUID: "g"}})
					return nil
				case RehireUndoSoftDelete:
					return nil // Remove-Mailbox is not modelled
				}
				if d.step(w, Fact{Kind: FactRehired, AccountBack: back}).Next == NextDecide {
					w.Intents++
					return d.decided(w)
				}
				return nil
			})
			return true
		}},
		{"admin:removeLicence", func(d driver, w *mworld) bool {
			if w.T.User != userActive || !w.T.Licensed || w.T.Recovered {
				return false
			}
			w.T.Licensed = false
			if w.T.Mailbox == mbActive {
				w.T.GraceFrom = w.Now
			}
			risk(w)
			d.directoryChange(w)
			return true
		}},
		{"admin:deleteUser", func(d driver, w *mworld) bool {
			if w.T.User != userActive || w.T.Recovered {
				return false
			}
			w.T.deleteUser(w.Now, d.p)
			risk(w)
			d.directoryChange(w)
			return true
		}},
		{"admin:restoreUser", func(d driver, w *mworld) bool {
			if w.T.User != userDeleted {
				return false
			}
			w.T.restoreUser(w.Now)
			d.directoryChange(w)
			return true
		}},
		{"admin:purgeUser", func(d driver, w *mworld) bool {
			if w.T.User != userDeleted {
				return false
			}
			w.T.purgeUser(w.Now)
			d.directoryChange(w)
			return true
		}},
		{"admin:removeHold", func(d driver, w *mworld) bool {
			if !w.T.HoldOn || w.T.Mailbox != mbActive {
				return false
			}
			// No notification: holdfast notices at its next read. A hold
			// removed from an unlicensed mailbox past its grace purges it
			// at once: that loss is learned when it happens.
			w.T.HoldOn = false
			w.Intents++
			w.Episodes++
			w.RiskAt = w.Now
			return true
		}},
		{"fail:transient", func(d driver, w *mworld) bool {
			if w.T.FailNext {
				return false
			}
			w.T.FailNext = true
			return true
		}},
		{"fail:holdSendLost", func(d driver, w *mworld) bool {
			if w.T.LoseSendNext {
				return false
			}
			w.T.LoseSendNext = true
			return true
		}},
		{"fail:holdNotAllowed", func(d driver, w *mworld) bool {
			if w.T.RefuseHoldNext {
				return false
			}
			w.T.RefuseHoldNext = true
			return true
		}},
		{"tick:wake", func(d driver, w *mworld) bool { d.advance(w, 31*24*time.Hour); return true }},
		{"tick:1d", func(d driver, w *mworld) bool { d.advance(w, 24*time.Hour); return true }},
	}
}

// checkMachine checks the invariants across one transition.
func checkMachine(prev, next mworld, p Policy) (string, string) {
	c := &next.C
	// 1. No retained mailbox is lost while holdfast had time to act: a
	// mailbox Microsoft 365 purged on its own schedule, of a case that
	// policy keeps, that a human need not unblock (a licence that allows
	// the hold, no auto-expanding archive), learned more than the margin
	// before the purge.
	if next.T.LostOnSchedule && !prev.T.LostOnSchedule && prev.C.Retained() && next.T.HoldOK && !next.T.AutoExpanding &&
		!next.T.LostByAdmin && prev.C.State != StateBlocked && next.T.LostAt.Sub(next.RiskAt) > p.RescueMargin {
		return "lostWhileSavable", fmt.Sprintf("mailbox purged on schedule at %s, case %s (retention %s), risk learned at %s",
			next.T.LostAt.Format(time.RFC3339), prev.C.State, prev.C.Retention, next.RiskAt.Format(time.RFC3339))
	}
	// 3. At most one side effect per intent.
	if next.Holds > max(1, next.Intents)+next.Rescues {
		return "holdTwice", fmt.Sprintf("%d holds for %d intents and %d rescues", next.Holds, next.Intents, next.Rescues)
	}
	if next.Rescues > max(1, next.Episodes) {
		return "rescueTwice", fmt.Sprintf("%d rescues for %d risk episodes", next.Rescues, next.Episodes)
	}
	if next.Warned > 1 {
		return "alertTwice", fmt.Sprintf("%d warnings in one sweep", next.Warned)
	}
	if len(next.Repeats) > 0 {
		return "alertTwice", fmt.Sprintf("asked again for an alert already sent: %s (%d times)", next.Repeats[0], len(next.Repeats))
	}
	// 6. A hold request lost on its way to Exchange is sent again within
	// HoldResendDelay, not at the end of the propagation window: the case
	// is due by then.
	if c.State == StateProtecting && !next.T.HoldOn && next.T.Mailbox == mbActive && c.HoldRequestedAt != nil && c.HoldVerifiedAt == nil {
		pl := PlanCase(c, p, next.Now, 0)
		due := len(pl.Actions) > 0
		for _, t := range pl.Wake {
			due = due || !t.After(next.Now.Add(HoldResendDelay))
		}
		if !due {
			return "lostRequestWaits", fmt.Sprintf("hold requested at %s, not on the mailbox, next wake-ups %v", c.HoldRequestedAt.Format(time.RFC3339), pl.Wake)
		}
	}
	// 4, 5. The case matches the truth: never written off while the
	// mailbox exists; inactive only when it is.
	if c.MailboxPurgedAt != nil && next.T.Mailbox != mbGone {
		return "writtenOffWhileExists", fmt.Sprintf("case %s says purged, mailbox state %d", c.State, next.T.Mailbox)
	}
	if c.MailboxPurgedAt != nil && c.State != StatePurged && c.State != StateRestored {
		return "purgedNotSaid", fmt.Sprintf("the case knows the mailbox is purged but says %s", c.State)
	}
	if c.State == StateInactive && next.T.Mailbox != mbInactive {
		return "inactiveWhileNot", fmt.Sprintf("case inactive, mailbox state %d", next.T.Mailbox)
	}
	// No case stuck: a case that is not final and has something at stake
	// (a clock, evidence awaiting a re-read, a hold awaiting its
	// confirmation) has an action due or a wake-up.
	if !c.State.Terminal() && (c.Deadline != nil && c.MailboxPurgedAt == nil || c.UnconfirmedSince != nil || c.State == StateProtecting) {
		pl := PlanCase(c, p, next.Now, 0)
		wake := len(pl.Actions) > 0 || next.RetryAt != nil
		for _, t := range pl.Wake {
			wake = wake || t.After(next.Now)
		}
		if !wake {
			return "noWake", fmt.Sprintf("state %s, deadline %v, unconfirmed since %v: nothing due and no wake-up", c.State, c.Deadline, c.UnconfirmedSince)
		}
	}
	return "", ""
}

// machineStarts are the starting tenants: a licensed leaver not yet
// decided on; the same with a licence that does not include Litigation
// Hold; one already protected under a retain decision; one whose licence
// was removed 26 days ago with no decision (the default retains); one
// released whose licence grace ends in 4 hours; one with an
// auto-expanding archive.
func machineStarts(t0 time.Time, p Policy) map[string]mworld {
	base := func() mworld {
		return mworld{
			C:   Case{Key: "t_u", ObjectID: "u", UPN: "u@x", ExchangeGUID: "g", Licensed: true, State: StateTracking, OpenedAt: t0},
			T:   tenantModel{User: userActive, Licensed: true, HoldOK: true, Mailbox: mbActive},
			Now: t0,
		}
	}
	d := driver{p, Step}
	decide := func(w *mworld, ret string) {
		if err := Decide(&w.C, Decision{Retention: ret, Source: "hr"}, p); err != nil {
			panic(err)
		}
	}
	undecided := base()
	decide(&undecided, p.DefaultRetention)
	undecided.C.DecisionSource = "default"
	noHold := undecided.clone()
	noHold.T.HoldOK = false
	autoExp := undecided.clone()
	autoExp.T.AutoExpanding, autoExp.C.AutoExpandingArchive = true, true
	protected := base()
	decide(&protected, Retain)
	protected.Intents = 1
	if err := d.protect(&protected); err != nil {
		panic(err)
	}
	protected.Now = t0.Add(p.HoldPropagation)
	d.sweep(&protected)
	graceRunning := undecided.clone()
	removed := t0.Add(-26 * 24 * time.Hour)
	graceRunning.T.Licensed, graceRunning.T.GraceFrom = false, removed
	graceRunning.Now, graceRunning.RiskAt, graceRunning.Episodes = removed, removed, 1
	d.directoryChange(&graceRunning)
	graceRunning.Now = t0
	releasedEnding := base()
	decide(&releasedEnding, Release)
	removed = t0.Add(-Window + 4*time.Hour)
	releasedEnding.T.Licensed, releasedEnding.T.GraceFrom = false, removed
	releasedEnding.Now, releasedEnding.RiskAt, releasedEnding.Episodes = removed, removed, 1
	d.directoryChange(&releasedEnding)
	releasedEnding.Now = t0
	return map[string]mworld{"undecided": undecided, "licenceWithoutHold": noHold, "autoExpandingArchive": autoExp,
		"protected": protected, "graceRunning": graceRunning, "releasedGraceEnding": releasedEnding}
}

type machineExploration struct {
	states, transitions int
	byState             map[State]int
	violations          []violation
}

func exploreMachine(p Policy, depth int, step stepFunc, stopAt string) machineExploration {
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	d := driver{p, step}
	facts := machineFacts()
	ex := machineExploration{byState: map[State]int{}}
	res := walk[mworld]{
		key:   mworld.key,
		moves: moveNames(facts, func(f machineFact) string { return f.name }),
		step: func(prev mworld, i int) (mworld, bool, string, string) {
			w := prev.clone()
			if f := facts[i].name; !strings.HasPrefix(f, "tick:") && !strings.HasPrefix(f, "fail:") {
				// People act a minute apart: two risk episodes in the
				// same instant would share their deadline.
				w.Now = w.Now.Add(time.Minute)
				w.T.advance(w.Now, p)
			}
			if !facts[i].apply(d, &w) {
				return w, false, "", ""
			}
			inv, detail := checkMachine(prev, w, p)
			return w, true, inv, detail
		},
		visit: func(w mworld) { ex.byState[w.C.State]++ },
	}.run(byName(machineStarts(t0, p)), depth, stopAt)
	ex.states, ex.transitions, ex.violations = res.states, res.transitions, res.violations
	return ex
}

func machinePolicy() Policy {
	return Policy{DefaultRetention: Retain, HoldPropagation: 24 * time.Hour, RescueMargin: 72 * time.Hour, MaxFailures: 3,
		WarnThresholds: []time.Duration{14 * 24 * time.Hour, 7 * 24 * time.Hour, 24 * time.Hour}, ExchangeLag: 6 * time.Hour}
}

// TestExploreCaseMachine explores the case machine; any violation fails
// with the facts that led to it.
func TestExploreCaseMachine(t *testing.T) {
	start := time.Now()
	ex := exploreMachine(machinePolicy(), *machineDepth, Step, "")
	var states []string
	for s, n := range ex.byState {
		states = append(states, fmt.Sprintf("%s %d", s, n))
	}
	sort.Strings(states)
	t.Logf("depth %d: %d states, %d transitions, %d violations, %s; states reached: %s",
		*machineDepth, ex.states, ex.transitions, len(ex.violations), time.Since(start).Round(time.Millisecond), strings.Join(states, ", "))
	for i, v := range ex.violations {
		if i == 8 {
			t.Errorf("... and %d more", len(ex.violations)-8)
			break
		}
		t.Errorf("invariant %s violated: %s\n  after %s", v.invariant, v.detail, strings.Join(v.trail, " → "))
	}
	for _, s := range []State{StateProtected, StateAtRisk, StateInactive, StateBlocked, StateReleased, StateCancelled, StatePurged} {
		if ex.byState[s] == 0 {
			t.Errorf("no sequence reached state %s: the exploration does not reach the machine's decisions", s)
		}
	}
}

// TestExploreMachineCatchesBrokenDecisions shows the invariants can fail:
// deliberately broken copies of Step are explored and each must be caught
// by the invariant it breaks.
func TestExploreMachineCatchesBrokenDecisions(t *testing.T) {
	cases := []struct {
		name string
		step stepFunc
		want string
	}{
		{"a cancellation stops a running clock", func(c *Case, f Fact, p Policy, now time.Time) Outcome {
			if f.Kind == FactCancelled && c.MailboxPurgedAt == nil {
				c.State = StateCancelled
				c.ClearDeadline()
				return Outcome{To: c.State}
			}
			return Step(c, f, p, now)
		}, "lostWhileSavable"},
		{"a verified hold gets no effective time", func(c *Case, f Fact, p Policy, now time.Time) Outcome {
			o := Step(c, f, p, now)
			if f.Kind == FactHoldShown {
				c.HoldEffectiveAt = nil
			}
			return o
		}, "noWake"},
		{"a soft-deleted mailbox is written off at its first reading", func(c *Case, f Fact, p Policy, now time.Time) Outcome {
			if f.Kind == FactSettle && c.DeletedAt != nil && c.DeadlineKind == ClockSoftDelete && c.MailboxPurgedAt == nil {
				at := now
				c.MailboxPurgedAt = &at
			}
			return Step(c, f, p, now)
		}, "writtenOffWhileExists"},
		{"the recovery alert is raised on every settle", func(c *Case, f Fact, p Policy, now time.Time) Outcome {
			o := Step(c, f, p, now)
			if f.Kind == FactSettle && c.RecoveredAt != nil {
				o.Alerts = append(o.Alerts, Alert{ID: c.Key + ":recovered", Kind: AlertRecovered})
			}
			return o
		}, "alertTwice"},
		{"a deletion under hold is believed preserved", func(c *Case, f Fact, p Policy, now time.Time) Outcome {
			if f.Kind == FactSettle && c.DeletedAt != nil && c.HoldEnabled {
				c.MailboxInactive = true
			}
			return Step(c, f, p, now)
		}, "inactiveWhileNot"},
		{"a lost hold request waits for the propagation window", func(c *Case, f Fact, p Policy, now time.Time) Outcome {
			if f.Kind == FactHoldSendFailed {
				return Outcome{From: c.State, To: c.State}
			}
			return Step(c, f, p, now)
		}, "lostRequestWaits"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ex := exploreMachine(machinePolicy(), 5, tc.step, tc.want)
			for _, v := range ex.violations {
				if v.invariant == tc.want {
					t.Logf("caught after %d states: %s after %s", ex.states, v.detail, strings.Join(v.trail, " → "))
					return
				}
			}
			found := map[string]int{}
			for _, v := range ex.violations {
				found[v.invariant]++
			}
			t.Fatalf("broken machine not caught by %s (violations: %v, %d states)", tc.want, found, ex.states)
		})
	}
}

package retention

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestStep checks the decision each fact leads to from a few cases: the
// state, what the engine must do next, and the alerts raised.
func TestStep(t *testing.T) {
	day := 24 * time.Hour
	grace := func(c *Case) *Case {
		at := t0.Add(-10 * day)
		c.LicenceRemovedAt = &at
		c.SetDeadline(ClockLicenceGrace, at)
		return c
	}
	purged := func(c *Case) *Case {
		at := t0.Add(-time.Hour)
		c.MailboxPurgedAt = &at
		return c
	}
	held := func(c *Case) *Case {
		eff := t0.Add(-time.Hour)
		c.HoldEnabled, c.HoldEffectiveAt = true, &eff
		return c
	}
	mk := func(ret string, st State) *Case {
		return &Case{Key: "t_u", UPN: "u@x", ExchangeGUID: "g", Licensed: true, Retention: ret, State: st}
	}
	cases := []struct {
		name      string
		c         *Case
		f         Fact
		want      State
		next      Next
		alert     AlertKind // one alert of this kind, or none when empty
		err       error
		noClock   bool // the deadline is cleared
		rescueNow bool // RescueNowFor is set
	}{
		{"offboarding reopens a cancelled case", mk(Retain, StateCancelled), Fact{Kind: FactOffboarding, Decision: Decision{Retention: Retain}}, StateTracking, NextNothing, "", nil, false, false},
		{"offboarding unblocks", mk(Retain, StateBlocked), Fact{Kind: FactOffboarding, Decision: Decision{Retention: Retain}}, StateTracking, NextNothing, "", nil, false, false},
		{"offboarding leaves a protected case", mk(Retain, StateProtected), Fact{Kind: FactOffboarding, Decision: Decision{Retention: Retain}}, StateProtected, NextNothing, "", nil, false, false},
		{"cancel rests a case with nothing at risk", mk(Retain, StateProtected), Fact{Kind: FactCancelled}, StateCancelled, NextNothing, "", nil, true, false},
		{"cancel of a mailbox at risk acts on the default", grace(mk(Retain, StateAtRisk)), Fact{Kind: FactCancelled}, StateTracking, NextDecide, "", nil, false, false},
		{"cancel that finds the mailbox purged says so", purged(mk(Retain, StateAtRisk)), Fact{Kind: FactCancelled}, StatePurged, NextNothing, AlertPurged, nil, false, false},
		{"decided release", mk(Release, StateTracking), Fact{Kind: FactDecided}, StateReleased, NextNothing, "", nil, false, false},
		{"decided retain protects", mk(Retain, StateTracking), Fact{Kind: FactDecided}, StateTracking, NextProtect, "", nil, false, false},
		{"late decision asks for the rescue now", grace(mk(Retain, StateAtRisk)), Fact{Kind: FactLateDecision}, StateAtRisk, NextNothing, "", nil, false, true},
		{"protect places the hold", mk(Retain, StateTracking), Fact{Kind: FactProtect}, StateTracking, NextPlaceHold, "", nil, false, false},
		{"protect without identity fails", &Case{Key: "t_u", Retention: Retain, State: StateTracking}, Fact{Kind: FactProtect}, StateTracking, NextNothing, "", ErrNoMailboxIdentity, false, false},
		{"protect blocks an auto-expanding archive", func() *Case { c := mk(Retain, StateTracking); c.AutoExpandingArchive = true; return c }(),
			Fact{Kind: FactProtect}, StateBlocked, NextNothing, AlertBlocker, nil, false, false},
		{"protect settles a hold in effect", held(mk(Retain, StateTracking)), Fact{Kind: FactProtect}, StateProtected, NextNothing, "", nil, false, false},
		{"protect leaves an unlicensed mailbox to the rescue", func() *Case { c := grace(mk(Retain, StateTracking)); c.Licensed = false; return c }(),
			Fact{Kind: FactProtect}, StateAtRisk, NextNothing, "", nil, false, false},
		{"hold shown stops the licence grace", grace(mk(Retain, StateTracking)), Fact{Kind: FactHoldShown}, StateProtecting, NextNothing, "", nil, true, false},
		{"hold not shown is not yet safe", mk(Retain, StateTracking), Fact{Kind: FactHoldNotShown}, StateProtecting, NextNothing, "", nil, false, false},
		{"hold missing places it again", held(mk(Retain, StateProtecting)), Fact{Kind: FactHoldMissing}, StateProtecting, NextProtect, "", nil, false, false},
		{"hold in effect protects", held(mk(Retain, StateProtecting)), Fact{Kind: FactHoldInEffect}, StateProtected, NextNothing, "", nil, false, false},
		{"a hold found gone is placed again", mk(Retain, StateProtected), Fact{Kind: FactSettle}, StateProtecting, NextNothing, "", nil, false, false},
		{"blocked", mk(Retain, StateTracking), Fact{Kind: FactBlocked, Blocker: Blocker{Kind: BlockNoLicenceUnits}}, StateBlocked, NextNothing, AlertBlocker, nil, false, false},
		{"rehire with nothing at risk", mk(Retain, StateProtected), Fact{Kind: FactRehired}, StateCancelled, NextNothing, "", nil, true, false},
		{"rehire of a mailbox at risk keeps it", grace(mk(Release, StateReleased)), Fact{Kind: FactRehired}, StateTracking, NextDecide, "", nil, false, false},
		{"rehire of a purged mailbox", purged(mk(Retain, StateAtRisk)), Fact{Kind: FactRehired, AccountBack: true}, StatePurged, NextNothing, AlertPurged, nil, false, false},
		{"recovered into a new account", mk(Retain, StateInactive), Fact{Kind: FactRecovered, Recovery: Recovery{ObjectID: "n", UPN: "n@x"}}, StateAtRisk, NextNothing, AlertRecovered, nil, false, false},
		{"recovered account licensed", func() *Case { c := mk(Retain, StateAtRisk); c.SetDeadline(ClockRecoveredLicence, t0); return c }(),
			Fact{Kind: FactUserLicences, User: UserReading{SKUs: []string{"E3"}}, Mailbox: &MailboxReading{ExchangeGUID: "g"}}, StateCancelled, NextNothing, "", nil, true, false},
		{"licence gone, mailbox active: the grace starts", mk(Retain, StateTracking), Fact{Kind: FactUserLicences, Mailbox: &MailboxReading{ExchangeGUID: "g"}},
			StateTracking, NextNothing, "", nil, false, false},
		{"licence gone, mailbox not active: every scope is read", grace(mk(Retain, StateAtRisk)), Fact{Kind: FactUserLicences},
			StateAtRisk, NextConfirmGone, "", nil, false, false},
		{"restore started", grace(mk(Retain, StateAtRisk)), Fact{Kind: FactRestoreStarted, Restores: []RestoreJob{{Part: "primary"}}}, StateRescuing, NextNothing, AlertRestoreStarted, nil, false, false},
		{"restore finished", grace(mk(Retain, StateRescuing)), Fact{Kind: FactRestoreFinished}, StateRestored, NextNothing, AlertRestored, nil, true, false},
		{"written off, then settled", mk(Retain, StateUnconfirmed), Fact{Kind: FactWrittenOff}, StateUnconfirmed, NextNothing, "", nil, true, false},
		{"released by an admin", grace(mk(Retain, StateAtRisk)), Fact{Kind: FactReleasedByAdmin, Actor: "a", Words: "legal"}, StateReleased, NextNothing, "", nil, false, false},
		{"rescued places the hold again", held(grace(mk(Retain, StateAtRisk))), Fact{Kind: FactRescued, At: t0, AccountBack: true}, StateAtRisk, NextProtect, "", nil, true, false},
		{"unknown fact", mk(Retain, StateTracking), Fact{Kind: "nonsense"}, StateTracking, NextNothing, "", nil, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := Step(tc.c, tc.f, policy(), t0)
			if tc.c.State != tc.want || o.To != tc.want || o.Next != tc.next {
				t.Fatalf("state %s (outcome %s), next %q; want %s, next %q", tc.c.State, o.To, o.Next, tc.want, tc.next)
			}
			switch {
			case tc.err != nil && !errors.Is(o.Err, tc.err):
				t.Fatalf("err %v, want %v", o.Err, tc.err)
			case tc.err == nil && tc.f.Kind != "nonsense" && o.Err != nil:
				t.Fatalf("err %v", o.Err)
			case tc.f.Kind == "nonsense" && o.Err == nil:
				t.Fatal("an unknown fact gave no error")
			}
			var got []AlertKind
			for _, a := range o.Alerts {
				got = append(got, a.Kind)
			}
			if tc.alert == "" && len(got) > 0 || tc.alert != "" && (len(got) != 1 || got[0] != tc.alert) {
				t.Fatalf("alerts %v, want %q", got, tc.alert)
			}
			if tc.noClock && tc.c.Deadline != nil {
				t.Fatalf("deadline %v kept", tc.c.Deadline)
			}
			if tc.rescueNow != (tc.c.RescueNowFor != nil) {
				t.Fatalf("RescueNowFor %v, want set %v", tc.c.RescueNowFor, tc.rescueNow)
			}
		})
	}
}

// TestStepRecordsTransitions: a change of state is audited with both ends.
func TestStepRecordsTransitions(t *testing.T) {
	c := &Case{Key: "t_u", Retention: Retain, State: StateTracking, UPN: "u@x"}
	o := Step(c, Fact{Kind: FactHoldShown}, policy(), t0)
	if o.From != StateTracking || o.To != StateProtecting {
		t.Fatalf("outcome %s -> %s", o.From, o.To)
	}
	found := false
	for _, a := range o.Audit {
		found = found || a.Action == "transition" && a.Detail == "tracking -> protecting"
	}
	if !found {
		t.Fatalf("no transition row in %+v", o.Audit)
	}
}

func TestPlanRehire(t *testing.T) {
	at := t0
	cases := []struct {
		name string
		c    Case
		want RehirePath
	}{
		{"removed in Exchange", Case{DeletedAt: &at, DeletionSource: DeletedInExchange, ExchangeGUID: "g"}, RehireUndoSoftDelete},
		{"in the recycle bin", Case{DeletedAt: &at, DeletionSource: DeletedInEntra}, RehireRestoreUser},
		{"purged user, inactive mailbox", Case{DeletedAt: &at, UserPurgedAt: &at, MailboxInactive: true}, RehireRecoverInactive},
		{"purged user and mailbox", Case{DeletedAt: &at, UserPurgedAt: &at, MailboxInactive: true, MailboxPurgedAt: &at}, RehireSettle},
		{"active", Case{}, RehireSettle},
	}
	for _, tc := range cases {
		if got := PlanRehire(&tc.c); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestStepSweepFailures: failures are counted in a row, the alert goes out
// once the count reaches MaxFailures, and a success starts the count again.
func TestStepSweepFailures(t *testing.T) {
	p := policy()
	p.MaxFailures = 3
	c := &Case{Key: "t_u", UPN: "u@x", Retention: Retain, State: StateProtecting}
	steps := []struct {
		f        Fact
		failures int
		alert    bool
	}{
		{Fact{Kind: FactSweepFailed, Words: "read mailbox: 503"}, 1, false},
		{Fact{Kind: FactSweepFailed, Words: "read mailbox: 503"}, 2, false},
		{Fact{Kind: FactSweepFailed, Words: "read mailbox: 503"}, 3, true},
		{Fact{Kind: FactSweepFailed, Words: "read mailbox: 503"}, 4, true},
		{Fact{Kind: FactSweepSucceeded}, 0, false},
		{Fact{Kind: FactSweepFailed, Words: "place hold: 500"}, 1, false},
	}
	for i, s := range steps {
		o := Step(c, s.f, p, t0)
		if c.Failures != s.failures {
			t.Fatalf("step %d: failures %d, want %d", i, c.Failures, s.failures)
		}
		if got := len(o.Alerts) == 1 && o.Alerts[0].Kind == AlertCaseFailing; got != s.alert {
			t.Fatalf("step %d: alerts %+v, want caseFailing %v", i, o.Alerts, s.alert)
		}
		if s.alert && o.Alerts[0].ID != fmt.Sprintf("t_u:failing:%d", s.failures) {
			t.Fatalf("step %d: alert id %q", i, o.Alerts[0].ID)
		}
		if c.State != StateProtecting {
			t.Fatalf("step %d: state %s; failures change no state", i, c.State)
		}
		if s.f.Kind == FactSweepFailed && c.LastError != s.f.Words || s.f.Kind == FactSweepSucceeded && c.LastError != "" {
			t.Fatalf("step %d: last error %q", i, c.LastError)
		}
	}
}

// A hold request lost after its commit is planned again after
// HoldResendDelay; the read then places a missing hold, or finds it there
// and counts the propagation window from when Exchange placed it.
func TestHoldSendFailedPlansResend(t *testing.T) {
	p := policy()
	requested := func() *Case {
		c := &Case{Key: "t_u", UPN: "u@x", ExchangeGUID: "g", Retention: Retain, State: StateTracking, Licensed: true}
		Step(c, Fact{Kind: FactHoldPlaced}, p, t0)
		Step(c, Fact{Kind: FactHoldNotShown}, p, t0)
		return c
	}
	resendAt := t0.Add(HoldResendDelay)
	firstEff := t0.Add(p.HoldPropagation)
	placedAt := t0.Add(time.Minute)
	later := resendAt.Add(p.HoldPropagation)
	tests := []struct {
		name     string
		facts    []Fact
		at       time.Time
		wantNext Next
		wantEff  *time.Time // nil: no effective time
		wantPlan ActionKind // "" : nothing due at resendAt
		wantWake time.Time  // first wake-up seen at t0 after the facts
		state    State
	}{
		{name: "planned", facts: []Fact{{Kind: FactHoldSendFailed, Words: "503"}}, at: t0,
			wantEff: &firstEff, wantPlan: ActConfirmHold, wantWake: resendAt, state: StateProtecting},
		{name: "missing at the resend read: place again", at: resendAt,
			facts:    []Fact{{Kind: FactHoldSendFailed, Words: "503"}, {Kind: FactHoldMissing}},
			wantNext: NextProtect, state: StateProtecting},
		{name: "there at the resend read, date known", at: resendAt,
			facts: []Fact{{Kind: FactHoldSendFailed, Words: "503"},
				{Kind: FactHoldInEffect, Mailbox: &MailboxReading{LitigationHoldEnabled: true, LitigationHoldDate: &placedAt}}},
			wantEff: ptrTime(placedAt.Add(p.HoldPropagation)), state: StateProtecting},
		{name: "there at the resend read, no date: from now", at: resendAt,
			facts:   []Fact{{Kind: FactHoldSendFailed, Words: "503"}, {Kind: FactHoldInEffect}},
			wantEff: &later, state: StateProtecting},
		{name: "superseded by a hold already shown", at: t0,
			facts:   []Fact{{Kind: FactHoldShown, Mailbox: &MailboxReading{LitigationHoldEnabled: true}}, {Kind: FactHoldSendFailed, Words: "503"}},
			wantEff: &firstEff, wantWake: firstEff, state: StateProtecting},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := requested()
			var o Outcome
			for _, f := range tt.facts {
				o = Step(c, f, p, tt.at)
			}
			if o.Next != tt.wantNext {
				t.Errorf("next %q, want %q", o.Next, tt.wantNext)
			}
			if c.State != tt.state {
				t.Errorf("state %s, want %s", c.State, tt.state)
			}
			if c.SafeToDelete(tt.at) {
				t.Error("safe to delete before any read confirmed the hold in effect")
			}
			switch {
			case tt.wantEff == nil && c.HoldEffectiveAt != nil:
				t.Errorf("effective at %v, want none", c.HoldEffectiveAt)
			case tt.wantEff != nil && (c.HoldEffectiveAt == nil || !c.HoldEffectiveAt.Equal(*tt.wantEff)):
				t.Errorf("effective at %v, want %v", c.HoldEffectiveAt, *tt.wantEff)
			}
			if !tt.wantWake.IsZero() {
				if pl := PlanCase(c, p, t0, 0); len(pl.Wake) == 0 || !pl.Wake[0].Equal(tt.wantWake) {
					t.Errorf("wake-ups %v, want first %v", pl.Wake, tt.wantWake)
				}
			}
			if tt.wantPlan != "" {
				pl := PlanCase(c, p, resendAt, 0)
				if len(pl.Actions) == 0 || pl.Actions[0].Kind != tt.wantPlan {
					t.Errorf("plan at the resend time %+v, want %s", pl.Actions, tt.wantPlan)
				}
			}
		})
	}
}

func ptrTime(t time.Time) *time.Time { return &t }

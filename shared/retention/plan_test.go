package retention

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func policy() Policy {
	return Policy{DefaultRetention: Retain, HoldPropagation: time.Hour, RescueMargin: 72 * time.Hour, RescueMode: "undelete",
		WarnThresholds: []time.Duration{14 * 24 * time.Hour, 7 * 24 * time.Hour, 3 * 24 * time.Hour, 24 * time.Hour}}
}

func kinds(p Plan) []ActionKind {
	var out []ActionKind
	for _, a := range p.Actions {
		out = append(out, a.Kind)
	}
	return out
}

func TestPlanCase(t *testing.T) {
	day := 24 * time.Hour
	deleted := func(ret string, state State) *Case {
		c := &Case{Key: "t_u", Retention: ret, State: state}
		c.DeletedAt = &t0
		c.SetDeadline(ClockSoftDelete, t0)
		return c
	}
	eff := t0.Add(time.Hour)
	cases := []struct {
		name     string
		c        *Case
		now      time.Time
		want     []ActionKind
		wantWake time.Time // earliest wake, zero if none
		warn     time.Duration
	}{
		{"protecting before effect waits", &Case{Retention: Retain, State: StateProtecting, HoldEnabled: true, HoldEffectiveAt: &eff},
			t0.Add(30 * time.Minute), nil, eff, 0},
		{"protecting after effect confirms", &Case{Retention: Retain, State: StateProtecting, HoldEnabled: true, HoldEffectiveAt: &eff},
			t0.Add(61 * time.Minute), []ActionKind{ActConfirmHold}, time.Time{}, 0},
		{"fresh deletion wakes at first warning", deleted(Retain, StateAtRisk), t0.Add(time.Hour), nil, t0.Add(16 * day), 0},
		{"14 days before: warn", deleted(Retain, StateAtRisk), t0.Add(16*day + time.Minute), []ActionKind{ActWarn}, t0.Add(23 * day), 14 * day},
		{"late start sends only the most urgent warning", deleted(Retain, StateAtRisk), t0.Add(26 * day), []ActionKind{ActWarn}, t0.Add(27 * day), 7 * day},
		{"rescue at deadline minus margin", deleted(Retain, StateAtRisk), t0.Add(27 * day), []ActionKind{ActWarn, ActRescue}, t0.Add(29 * day), 3 * day},
		{"release never rescues", deleted(Release, StateReleased), t0.Add(27 * day), []ActionKind{ActWarn}, t0.Add(29 * day), 3 * day},
		{"past deadline checks purge", deleted(Release, StateReleased), t0.Add(30 * day), []ActionKind{ActCheckDeadline}, time.Time{}, 0},
		{"blocked case is warned but not rescued", deleted(Retain, StateBlocked), t0.Add(27 * day), []ActionKind{ActWarn}, t0.Add(29 * day), 3 * day},
		{"inactive mailbox needs nothing", func() *Case { c := deleted(Retain, StateInactive); c.MailboxInactive = true; return c }(), t0.Add(27 * day), nil, time.Time{}, 0},
		{"terminal case needs nothing", deleted(Retain, StatePurged), t0.Add(40 * day), nil, time.Time{}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.Key = "t_u"
			pl := PlanCase(tc.c, policy(), tc.now, 0)
			got := kinds(pl)
			if len(got) != len(tc.want) {
				t.Fatalf("actions = %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("actions = %v, want %v", got, tc.want)
				}
			}
			var first time.Time
			if len(pl.Wake) > 0 {
				first = pl.Wake[0]
			}
			if !first.Equal(tc.wantWake) {
				t.Errorf("first wake = %v, want %v", first, tc.wantWake)
			}
			if tc.warn != 0 && pl.Actions[0].Threshold != tc.warn {
				t.Errorf("warn threshold = %v, want %v", pl.Actions[0].Threshold, tc.warn)
			}
		})
	}
}

func TestWarningSentOnce(t *testing.T) {
	c := &Case{Key: "t_u", Retention: Retain, State: StateAtRisk}
	c.SetDeadline(ClockSoftDelete, t0)
	now := t0.Add(20 * 24 * time.Hour) // past the 14d threshold
	pl := PlanCase(c, policy(), now, 0)
	if len(pl.Actions) != 1 || pl.Actions[0].Kind != ActWarn {
		t.Fatalf("want one warning, got %v", kinds(pl))
	}
	c.MarkAlertSent(pl.Actions[0].AlertID)
	if pl2 := PlanCase(c, policy(), now.Add(time.Minute), 0); len(pl2.Actions) != 0 {
		t.Fatalf("warning repeated: %v", kinds(pl2))
	}
}

func TestDeadlineKeepsEarlierClock(t *testing.T) {
	c := &Case{}
	c.SetDeadline(ClockLicenceGrace, t0)
	c.SetDeadline(ClockSoftDelete, t0.Add(24*time.Hour))
	if c.DeadlineKind != ClockLicenceGrace || !c.Deadline.Equal(t0.Add(Window)) {
		t.Fatalf("deadline = %v %s, want the earlier licence clock", c.Deadline, c.DeadlineKind)
	}
}

func TestDecide(t *testing.T) {
	days := 3650
	p := policy()
	p.Named = map[string]NamedPolicy{"legal": {Retention: Retain, HoldDurationDays: &days}, "contractor": {Retention: Release}}
	cases := []struct {
		in, want string
		days     int
		wantErr  bool
	}{
		{"", Retain, 0, false},
		{"release", Release, 0, false},
		{"legal", Retain, 3650, false},
		{"contractor", Release, 0, false},
		{"nonexistent", Retain, 0, true},
	}
	for _, tc := range cases {
		c := &Case{}
		err := Decide(c, Decision{Retention: tc.in}, p)
		if (err != nil) != tc.wantErr || c.Retention != tc.want || c.HoldDurationDays != tc.days {
			t.Errorf("Decide(%q) = %s/%d err=%v", tc.in, c.Retention, c.HoldDurationDays, err)
		}
	}
}

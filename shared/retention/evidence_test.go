package retention

import (
	"testing"
	"time"
)

func TestObserveOutOfPlace(t *testing.T) {
	p := policy()
	p.ExchangeLag = 6 * time.Hour
	dl := t0.Add(10 * time.Hour)
	type reading struct {
		after time.Duration
		s     Sighting // "" reads in place
	}
	cases := []struct {
		name     string
		deadline *time.Time
		reads    []reading
		want     Verdict
	}{
		{"one reading in no scope is not enough", nil, []reading{{0, SightNone}}, VerdictUnconfirmed},
		{"absent within the lag bound", nil, []reading{{0, SightNone}, {5 * time.Hour, SightNone}}, VerdictUnconfirmed},
		{"absent beyond the lag bound", nil, []reading{{0, SightNone}, {3 * time.Hour, SightNone}, {6*time.Hour + time.Minute, SightNone}}, VerdictGone},
		{"seen in between restarts the count", nil, []reading{{0, SightNone}, {3 * time.Hour, ""}, {6*time.Hour + time.Minute, SightNone}}, VerdictUnconfirmed},
		{"still active for a deleted user never writes off", nil, []reading{{0, SightActive}, {30 * time.Hour, SightActive}}, VerdictUnconfirmed},
		{"active then absent counts from the first absence", nil, []reading{{0, SightActive}, {5 * time.Hour, SightNone}, {7 * time.Hour, SightNone}}, VerdictUnconfirmed},
		{"absent since the deadline, read twice", &dl, []reading{{10 * time.Hour, SightNone}, {11 * time.Hour, SightNone}}, VerdictGone},
		{"absent since the deadline, read once", &dl, []reading{{10 * time.Hour, SightNone}}, VerdictUnconfirmed},
		{"absent before the deadline, read after it", &dl, []reading{{9 * time.Hour, SightNone}, {11 * time.Hour, SightNone}}, VerdictUnconfirmed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &Case{Deadline: tc.deadline}
			got := VerdictUnconfirmed
			for _, r := range tc.reads {
				if r.s == "" {
					ObserveInPlace(c)
					got = VerdictUnconfirmed
					continue
				}
				got = ObserveOutOfPlace(c, r.s, t0.Add(r.after), p)
				if c.RecheckAt == nil || !c.RecheckAt.After(t0.Add(r.after)) {
					t.Fatalf("no future re-check after a reading: %v", c.RecheckAt)
				}
			}
			if got != tc.want {
				t.Fatalf("verdict %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPlanRecheck(t *testing.T) {
	c := &Case{Key: "t_u", Retention: Retain, State: StateUnconfirmed}
	c.DeletedAt = &t0
	c.SetDeadline(ClockSoftDelete, t0)
	ObserveOutOfPlace(c, SightNone, t0, policy())
	pl := PlanCase(c, policy(), t0, 0)
	if len(pl.Actions) != 0 || len(pl.Wake) == 0 || !pl.Wake[0].Equal(t0.Add(RecheckInterval)) {
		t.Fatalf("plan at the reading: %v wake %v", kinds(pl), pl.Wake)
	}
	pl = PlanCase(c, policy(), t0.Add(RecheckInterval), 0)
	if len(pl.Actions) != 1 || pl.Actions[0].Kind != ActRecheck {
		t.Fatalf("plan at the re-check: %v", kinds(pl))
	}
	if !NeedsRescue(c) {
		t.Fatal("an unconfirmed case must keep its rescue armed")
	}
}

package retention

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// The exhaustive exploration of the restore monitor's pure rules
// (JudgeRestore, and the wake-ups NextRestoreCheck gives PlanCase): a
// rescuing case with one copy, every sequence of status readings (taken
// only when the planner says the monitor is due, as the sweep does) and
// time steps up to a depth, from starting deadlines far off, close, inside
// RestoreMinTime and already past. The engine's reaction to each verdict
// (new attempt, resume, report) is mirrored from engine.monitorRestore.

type restoreRules struct {
	judge func(j RestoreJob, deadline *time.Time, now time.Time) RestoreVerdict
	plan  func(c *Case, p Policy, now time.Time) Plan
}

var realRestoreRules = restoreRules{judge: JudgeRestore, plan: func(c *Case, p Policy, now time.Time) Plan { return PlanCase(c, p, now, 0) }}

type restoreWorld struct {
	c        Case
	now      time.Time
	verdicts int
}

func (w restoreWorld) clone() restoreWorld {
	n := w
	n.c.Restores = append([]RestoreJob(nil), w.c.Restores...)
	for i := range n.c.Restores {
		if at := w.c.Restores[i].CheckedAt; at != nil {
			t := *at
			n.c.Restores[i].CheckedAt = &t
		}
	}
	return n
}

func (w restoreWorld) key(t0 time.Time) string {
	j := w.c.Restores[0]
	checked := "-"
	if j.CheckedAt != nil {
		checked = j.CheckedAt.Sub(t0).String()
	}
	return fmt.Sprintf("%s|%s|%s|%d|%d|%d|%s|%s|%s|%v|%s|%s", w.now.Sub(t0), w.c.Deadline.Sub(t0), j.Status, j.Attempt, j.Resumes,
		j.PercentComplete, j.StartedAt.Sub(t0), j.ProgressAt.Sub(t0), checked, j.StallAlerted, j.Reported, w.c.State)
}

type restoreFact struct {
	name string
	// apply returns the verdict when the fact was a reading, and false
	// when the fact does not apply in this state.
	apply func(w *restoreWorld, r restoreRules, p Policy) (RestoreVerdict, bool, bool)
}

func restoreFacts() []restoreFact {
	var fs []restoreFact
	type reading struct {
		status   string
		progress bool
	}
	for _, rd := range []reading{{RestoreQueued, false}, {RestoreInProgress, false}, {RestoreInProgress, true}, {RestoreCompleted, false},
		{RestoreWarning, false}, {RestoreFailed, false}, {RestoreAutoSuspended, false}, {RestoreSuspended, false}, {"Unheard", false}} {
		name := "read:" + rd.status
		if rd.progress {
			name += "+progress"
		}
		fs = append(fs, restoreFact{name, func(w *restoreWorld, r restoreRules, p Policy) (RestoreVerdict, bool, bool) {
			due := false
			for _, a := range r.plan(&w.c, p, w.now).Actions {
				due = due || a.Kind == ActMonitorRestore
			}
			j := &w.c.Restores[0]
			if !due || j.Done() {
				return 0, false, false
			}
			// As engine.monitorRestore: record the reading, then judge it.
			now := w.now
			j.CheckedAt = &now
			pct := j.PercentComplete
			if rd.progress && pct < 99 {
				pct++
				j.ProgressAt = now
			}
			j.PercentComplete, j.Status = pct, rd.status
			if j.Done() {
				j.CompletedAt, j.PercentComplete = &now, 100
			}
			v := r.judge(*j, w.c.Deadline, now)
			switch v {
			case VerdictRetry:
				j.Attempt++
				j.StartedAt, j.ProgressAt, j.CheckedAt, j.CompletedAt = now, now, nil, nil
				j.Status, j.PercentComplete, j.StallAlerted = RestorePending, 0, false
			case VerdictResume:
				j.Resumes++
			case VerdictSuspended, VerdictUnknown:
				j.Reported = j.Status
			case VerdictStalled:
				j.StallAlerted = true
			}
			if RestoresDone(&w.c) {
				w.c.State = StateRestored
			}
			return v, true, true
		}})
	}
	for _, d := range []time.Duration{RestorePollInterval, RestoreStallAfter} {
		fs = append(fs, restoreFact{"tick:" + d.String(), func(w *restoreWorld, _ restoreRules, _ Policy) (RestoreVerdict, bool, bool) {
			w.now = w.now.Add(d)
			return 0, false, true
		}})
	}
	fs = append(fs, restoreFact{"tick:nextWake", func(w *restoreWorld, r restoreRules, p Policy) (RestoreVerdict, bool, bool) {
		for _, t := range r.plan(&w.c, p, w.now).Wake {
			if t.After(w.now) {
				w.now = t
				return 0, false, true
			}
		}
		return 0, false, false
	}})
	fs = append(fs, restoreFact{"tick:toMinTime", func(w *restoreWorld, _ restoreRules, _ Policy) (RestoreVerdict, bool, bool) {
		at := w.c.Deadline.Add(-RestoreMinTime)
		if !at.After(w.now) {
			return 0, false, false
		}
		w.now = at
		return 0, false, true
	}})
	return fs
}

// checkRestore checks one transition; verdict is set when it was a reading.
func checkRestore(prev, next restoreWorld, v RestoreVerdict, read bool, r restoreRules, p Policy) (string, string) {
	j := next.c.Restores[0]
	// 1. Retries and resumes are bounded.
	if j.Attempt > MaxRestoreAttempts || j.Resumes > MaxRestoreResumes {
		return "bounded", fmt.Sprintf("attempt %d, resumes %d", j.Attempt, j.Resumes)
	}
	if read {
		dl := *next.c.Deadline
		// 2. A new attempt is only started with at least RestoreMinTime
		// left before the purge.
		if v == VerdictRetry && next.now.Add(RestoreMinTime).After(dl) {
			return "retryTooLate", fmt.Sprintf("new attempt started %s before the deadline", dl.Sub(next.now))
		}
		// 3. Done exactly when Exchange says completed.
		if (v == VerdictDone) != (PhaseOf(j.Status) == PhaseDone) {
			return "doneMeansCompleted", fmt.Sprintf("verdict %d for status %s", v, j.Status)
		}
		// 4. After the deadline an unfinished copy is reported as unable to
		// finish, never as still running.
		if !next.now.Before(dl) && PhaseOf(j.Status) != PhaseDone && v != VerdictTooLate {
			return "honestAfterDeadline", fmt.Sprintf("verdict %d for %s at %s past the deadline", v, j.Status, next.now.Sub(dl))
		}
	}
	// 5. An unfinished copy is polled: the monitor is due, or due within
	// RestorePollInterval.
	if next.c.State == StateRescuing && !j.Done() {
		pl := r.plan(&next.c, p, next.now)
		ok := false
		for _, a := range pl.Actions {
			ok = ok || a.Kind == ActMonitorRestore
		}
		for _, t := range pl.Wake {
			ok = ok || t.After(next.now) && !t.After(next.now.Add(RestorePollInterval))
		}
		if !ok {
			return "polled", fmt.Sprintf("unfinished copy (%s) with no monitor due within %s; wake-ups %v", j.Status, RestorePollInterval, pl.Wake)
		}
	}
	return "", ""
}

func exploreRestore(r restoreRules, depth int, stopAt string) exploration {
	t0 := time.Date(2026, 2, 2, 9, 0, 0, 0, time.UTC)
	p := explorePolicy()
	var ex exploration
	var starts []named[restoreWorld]
	// The last two start a copy already retried and resumed up to one
	// short of the bounds, so the bounds are reached within the depth.
	for _, s := range []struct {
		name              string
		left              time.Duration
		attempts, resumes int
	}{{"deadlineFarOff", 2 * 24 * time.Hour, 0, 0}, {"deadlineIn2h", 2 * time.Hour, 0, 0}, {"deadlineInsideMinTime", RestoreMinTime / 2, 0, 0},
		{"deadlinePassed", -time.Minute, 0, 0}, {"retriedAndResumed", 2 * 24 * time.Hour, MaxRestoreAttempts - 1, MaxRestoreResumes - 1},
		{"retriedAndResumedIn2h", 2 * time.Hour, MaxRestoreAttempts - 1, MaxRestoreResumes - 1}} {
		dl := t0.Add(s.left)
		w := restoreWorld{now: t0, c: Case{Key: "t_1", Retention: Retain, State: StateRescuing, Deadline: &dl, DeadlineKind: ClockSoftDelete,
			Restores: []RestoreJob{{Part: PartPrimary, Status: RestorePending, Attempt: s.attempts, Resumes: s.resumes,
				StartedAt: t0.Add(-RestorePollInterval), ProgressAt: t0.Add(-RestorePollInterval)}}}}
		starts = append(starts, named[restoreWorld]{s.name, w})
	}
	facts := restoreFacts()
	res := walk[restoreWorld]{
		key:        func(w restoreWorld) string { return w.key(t0) },
		expandable: func(w restoreWorld) bool { return w.c.State == StateRescuing },
		moves:      moveNames(facts, func(f restoreFact) string { return f.name }),
		step: func(prev restoreWorld, i int) (restoreWorld, bool, string, string) {
			w := prev.clone()
			v, read, ok := facts[i].apply(&w, r, p)
			if !ok {
				return w, false, "", ""
			}
			if read {
				ex.decisions++
			}
			inv, detail := checkRestore(prev, w, v, read, r, p)
			return w, true, inv, detail
		},
	}.run(starts, depth, stopAt)
	ex.states, ex.transitions, ex.violations = res.states, res.transitions, res.violations
	return ex
}

// exploreRestoreDepth is the restore exploration's default depth; -explore.depth
// above 6 deepens it by as much.
const exploreRestoreDepth = 6

func TestExploreRestoreMonitor(t *testing.T) {
	depth := exploreRestoreDepth
	if *exploreDepth > 6 {
		depth += *exploreDepth - 6 // -explore.depth deepens both explorations
	}
	start := time.Now()
	ex := exploreRestore(realRestoreRules, depth, "")
	t.Logf("depth %d: %d states, %d transitions, %d readings judged, %d violations, %s",
		depth, ex.states, ex.transitions, ex.decisions, len(ex.violations), time.Since(start).Round(time.Millisecond))
	for i, v := range ex.violations {
		if i == 5 {
			t.Errorf("... and %d more", len(ex.violations)-5)
			break
		}
		t.Errorf("invariant %s violated: %s\n  after %s", v.invariant, v.detail, strings.Join(v.trail, " → "))
	}
	if ex.decisions == 0 {
		t.Fatal("no reading was judged: the exploration does not reach the rule")
	}
}

func TestExploreRestoreCatchesBrokenRules(t *testing.T) {
	plan := realRestoreRules.plan
	cases := []struct {
		name  string
		rules restoreRules
		want  string
	}{
		{"retries for ever", restoreRules{judge: func(j RestoreJob, dl *time.Time, now time.Time) RestoreVerdict {
			if PhaseOf(j.Status) == PhaseFailed && now.Add(RestoreMinTime).Before(*dl) {
				return VerdictRetry
			}
			return JudgeRestore(j, dl, now)
		}, plan: plan}, "bounded"},
		{"retries with no time left", restoreRules{judge: func(j RestoreJob, dl *time.Time, now time.Time) RestoreVerdict {
			if PhaseOf(j.Status) == PhaseFailed && j.Attempt < MaxRestoreAttempts {
				return VerdictRetry
			}
			return JudgeRestore(j, dl, now)
		}, plan: plan}, "retryTooLate"},
		{"reports a warning completion as running", restoreRules{judge: func(j RestoreJob, dl *time.Time, now time.Time) RestoreVerdict {
			if j.Status == RestoreWarning {
				return VerdictRunning
			}
			return JudgeRestore(j, dl, now)
		}, plan: plan}, "doneMeansCompleted"},
		{"keeps saying running after the deadline", restoreRules{judge: func(j RestoreJob, _ *time.Time, now time.Time) RestoreVerdict {
			return JudgeRestore(j, nil, now)
		}, plan: plan}, "honestAfterDeadline"},
		{"polls at the stall interval", restoreRules{judge: JudgeRestore, plan: func(c *Case, p Policy, now time.Time) Plan {
			pl := PlanCase(c, p, now, 0)
			if at, ok := NextRestoreCheck(c); ok && at.After(now) {
				for i, t := range pl.Wake {
					if t.Equal(at) {
						pl.Wake[i] = at.Add(RestoreStallAfter)
					}
				}
			}
			return pl
		}}, "polled"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ex := exploreRestore(tc.rules, exploreRestoreDepth, tc.want)
			for _, v := range ex.violations {
				if v.invariant == tc.want {
					t.Logf("caught: %s after %s", v.detail, strings.Join(v.trail, " → "))
					return
				}
			}
			t.Fatalf("broken rule not caught by %s (%d violations of others, %d states)", tc.want, len(ex.violations), ex.states)
		})
	}
}

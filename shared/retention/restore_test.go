package retention

import (
	"testing"
	"time"
)

func TestRestoreName(t *testing.T) {
	c := &Case{ObjectID: "7ae482a3-642d-4e40-91c9-da4c008c65b8"}
	tests := []struct {
		part    string
		attempt int
		want    string
	}{
		{PartPrimary, 1, "holdfast-7ae482a3-642d-4e40-91c9-da4c008c65b8-primary"},
		{PartArchive, 1, "holdfast-7ae482a3-642d-4e40-91c9-da4c008c65b8-archive"},
		{PartPrimary, 2, "holdfast-7ae482a3-642d-4e40-91c9-da4c008c65b8-primary-2"},
	}
	for _, tt := range tests {
		if got := RestoreName(c, tt.part, tt.attempt); got != tt.want {
			t.Errorf("RestoreName(%s, %d) = %q, want %q", tt.part, tt.attempt, got, tt.want)
		}
		if RestoreName(c, tt.part, tt.attempt) != RestoreName(c, tt.part, tt.attempt) {
			t.Error("not deterministic")
		}
	}
}

func TestTargetRootFolder(t *testing.T) {
	day := time.Date(2026, 3, 4, 23, 0, 0, 0, time.UTC)
	tests := []struct {
		c    Case
		part string
		want string
	}{
		{Case{UPN: "bob@contoso.test"}, PartPrimary, "holdfast bob@contoso.test 2026-03-04"},
		{Case{UPN: "bob@contoso.test"}, PartArchive, "holdfast bob@contoso.test 2026-03-04 (archive)"},
		{Case{ObjectID: "abc"}, PartPrimary, "holdfast abc 2026-03-04"},
	}
	for _, tt := range tests {
		if got := TargetRootFolder(&tt.c, tt.part, day); got != tt.want {
			t.Errorf("TargetRootFolder = %q, want %q", got, tt.want)
		}
	}
}

func TestNeedsLegacyDNMismatch(t *testing.T) {
	tests := []struct {
		name         string
		src, tgt     string
		proxies      []string
		wantMismatch bool
	}{
		{"same ledn", "/o=X/cn=bob", "/O=x/CN=BOB", nil, false},
		{"different", "/o=X/cn=bob", "/o=X/cn=archive", nil, true},
		{"x500 proxy", "/o=X/cn=bob", "/o=X/cn=archive", []string{"smtp:a@b", "X500:/o=X/cn=bob"}, false},
		{"unknown source", "", "/o=X/cn=archive", nil, true},
	}
	for _, tt := range tests {
		if got := NeedsLegacyDNMismatch(tt.src, tt.tgt, tt.proxies); got != tt.wantMismatch {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.wantMismatch)
		}
	}
}

func TestRestoreLayout(t *testing.T) {
	tests := []struct {
		srcArchive, tgtArchive bool
		want                   []RestoreJob
	}{
		{false, false, []RestoreJob{{Part: PartPrimary}}},
		{false, true, []RestoreJob{{Part: PartPrimary, TargetIsArchive: true}}},
		{true, true, []RestoreJob{{Part: PartPrimary, TargetIsArchive: true}, {Part: PartArchive, SourceIsArchive: true, TargetIsArchive: true}}},
		{true, false, []RestoreJob{{Part: PartPrimary}, {Part: PartArchive, SourceIsArchive: true}}},
	}
	for _, tt := range tests {
		got := RestoreLayout(tt.srcArchive, tt.tgtArchive)
		if len(got) != len(tt.want) {
			t.Fatalf("RestoreLayout(%v, %v): %d jobs, want %d", tt.srcArchive, tt.tgtArchive, len(got), len(tt.want))
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("RestoreLayout(%v, %v)[%d] = %+v, want %+v", tt.srcArchive, tt.tgtArchive, i, got[i], tt.want[i])
			}
		}
	}
}

func TestJudgeRestore(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	dl := func(d time.Duration) *time.Time { x := now.Add(d); return &x }
	tests := []struct {
		name     string
		job      RestoreJob
		deadline *time.Time
		want     RestoreVerdict
	}{
		{"completed", RestoreJob{Status: RestoreCompleted}, dl(time.Hour), VerdictDone},
		{"completed with warning", RestoreJob{Status: RestoreWarning}, nil, VerdictDone},
		{"running", RestoreJob{Status: "InProgress", ProgressAt: now.Add(-time.Hour)}, dl(48 * time.Hour), VerdictRunning},
		{"stalled", RestoreJob{Status: "InProgress", ProgressAt: now.Add(-RestoreStallAfter)}, dl(48 * time.Hour), VerdictStalled},
		{"failed, time left", RestoreJob{Status: RestoreFailed, Attempt: 1}, dl(48 * time.Hour), VerdictRetry},
		{"failed, no clock", RestoreJob{Status: RestoreFailed, Attempt: 1}, nil, VerdictRetry},
		{"failed, too late", RestoreJob{Status: RestoreFailed, Attempt: 1}, dl(10 * time.Minute), VerdictTooLate},
		{"failed, out of attempts", RestoreJob{Status: RestoreFailed, Attempt: MaxRestoreAttempts}, dl(48 * time.Hour), VerdictTooLate},
		{"running past deadline", RestoreJob{Status: "InProgress", ProgressAt: now}, dl(-time.Minute), VerdictTooLate},
		{"queued", RestoreJob{Status: RestoreQueued, ProgressAt: now}, dl(48 * time.Hour), VerdictRunning},
		{"retrying is the service's own retry", RestoreJob{Status: RestoreRetrying, ProgressAt: now.Add(-time.Hour)}, dl(48 * time.Hour), VerdictRunning},
		{"retrying without progress stalls", RestoreJob{Status: RestoreRetrying, ProgressAt: now.Add(-RestoreStallAfter)}, dl(48 * time.Hour), VerdictStalled},
		{"synced", RestoreJob{Status: RestoreSynced, ProgressAt: now}, dl(48 * time.Hour), VerdictRunning},
		{"completion in progress", RestoreJob{Status: RestoreCompletionInProgress, ProgressAt: now}, dl(48 * time.Hour), VerdictRunning},
		{"auto-suspended: resume", RestoreJob{Status: RestoreAutoSuspended, ProgressAt: now}, dl(48 * time.Hour), VerdictResume},
		{"auto-suspended, resumed enough", RestoreJob{Status: RestoreAutoSuspended, Resumes: MaxRestoreResumes, ProgressAt: now}, dl(48 * time.Hour), VerdictStalled},
		{"suspended by someone", RestoreJob{Status: RestoreSuspended, ProgressAt: now}, dl(48 * time.Hour), VerdictSuspended},
		{"suspended past deadline", RestoreJob{Status: RestoreSuspended, ProgressAt: now}, dl(-time.Minute), VerdictTooLate},
		{"unknown status", RestoreJob{Status: "Rehydrating", ProgressAt: now}, dl(48 * time.Hour), VerdictUnknown},
	}
	for _, tt := range tests {
		if got := JudgeRestore(tt.job, tt.deadline, now); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestPhaseOfEveryLearnStatus: every value Learn lists for
// Get-MailboxRestoreRequest -Status has a phase other than unknown.
func TestPhaseOfEveryLearnStatus(t *testing.T) {
	learn := map[string]RestorePhase{
		"AutoSuspended": PhaseAutoSuspended, "Completed": PhaseDone, "CompletedWithWarning": PhaseDone,
		"CompletionInProgress": PhaseRunning, "Failed": PhaseFailed, "InProgress": PhaseRunning,
		"Queued": PhaseRunning, "Retrying": PhaseRunning, "Suspended": PhaseSuspended, "Synced": PhaseRunning,
	}
	for st, want := range learn {
		if got := PhaseOf(st); got != want {
			t.Errorf("PhaseOf(%q) = %v, want %v", st, got, want)
		}
	}
	if PhaseOf("completed") != PhaseUnknown {
		t.Error("statuses are case-sensitive enum names; a miscased one is unknown")
	}
}

func TestCopyToArchive(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name string
		c    Case
		want bool
	}{
		{"active unlicensed", Case{LicenceRemovedAt: &now, RescueMode: ModeCopyToArchive}, false},
		{"in recycle bin, undelete", Case{DeletedAt: &now, RescueMode: ModeUndelete}, false},
		{"in recycle bin, copy mode", Case{DeletedAt: &now, RescueMode: ModeCopyToArchive}, true},
		{"user purged", Case{DeletedAt: &now, UserPurgedAt: &now, RescueMode: ModeUndelete}, true},
	}
	for _, tt := range tests {
		if got := CopyToArchive(&tt.c); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestPlanMonitorsRestore(t *testing.T) {
	start := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	dl := start.Add(10 * 24 * time.Hour)
	c := &Case{Key: "k", Retention: Retain, State: StateRescuing, Deadline: &dl, DeadlineKind: ClockSoftDelete,
		Restores: []RestoreJob{{Part: PartPrimary, Status: "InProgress", StartedAt: start, ProgressAt: start}}}
	p := Policy{RescueMargin: 72 * time.Hour}
	pl := PlanCase(c, p, start.Add(5*time.Minute), 0)
	if len(pl.Actions) != 0 || len(pl.Wake) == 0 || !pl.Wake[0].Equal(start.Add(RestorePollInterval)) {
		t.Fatalf("before the poll interval: %+v", pl)
	}
	pl = PlanCase(c, p, start.Add(RestorePollInterval), 0)
	if len(pl.Actions) != 1 || pl.Actions[0].Kind != ActMonitorRestore {
		t.Fatalf("at the poll interval: %+v", pl)
	}
	c.Restores[0].Status = RestoreCompleted
	for _, a := range PlanCase(c, p, start.Add(RestorePollInterval), 0).Actions {
		if a.Kind == ActMonitorRestore || a.Kind == ActRescue {
			t.Fatalf("completed restore still planned: %+v", a)
		}
	}
}

func TestRescueAtUserPurged(t *testing.T) {
	del := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	purged := del.Add(48 * time.Hour)
	dl := del.Add(Window)
	c := &Case{Deadline: &dl, UserPurgedAt: &purged}
	at, ok := RescueAt(c, Policy{RescueMargin: 72 * time.Hour})
	if !ok || !at.Equal(purged) {
		t.Fatalf("RescueAt = %v, %v; want %v (at once)", at, ok, purged)
	}
	c.UserPurgedAt = nil
	at, _ = RescueAt(c, Policy{RescueMargin: 72 * time.Hour})
	if !at.Equal(dl.Add(-72 * time.Hour)) {
		t.Fatalf("RescueAt = %v, want deadline minus margin", at)
	}
}

func TestOriginalUPN(t *testing.T) {
	tests := []struct{ id, upn, want string }{
		{"7ae482a3-642d-4e40-91c9-da4c008c65b8", "7ae482a3642d4e4091c9da4c008c65b8bob@contoso.test", "bob@contoso.test"},
		{"7ae482a3-642d-4e40-91c9-da4c008c65b8", "bob@contoso.test", "bob@contoso.test"},
		{"", "bob@contoso.test", "bob@contoso.test"},
	}
	for _, tt := range tests {
		if got := OriginalUPN(tt.id, tt.upn); got != tt.want {
			t.Errorf("OriginalUPN(%q, %q) = %q, want %q", tt.id, tt.upn, got, tt.want)
		}
	}
}

package notify

import (
	"testing"
	"time"

	"github.com/holdfast/holdfast/shared/alert"
)

// sampleAlert is the 7-day warning the golden card and mail tests render.
func sampleAlert() alert.Alert {
	at := time.Date(2026, 3, 8, 9, 0, 0, 0, time.UTC)
	return alert.Alert{
		ID:       "00000000-0000-0000-0000-0000000000aa_1b2e6c51-6a4f-4d2e-9e0c-3f5a2b7d9c10:warn:7d:1773565200",
		Kind:     alert.KindWarning,
		Severity: alert.SeverityWarning,
		CaseKey:  "00000000-0000-0000-0000-0000000000aa_1b2e6c51-6a4f-4d2e-9e0c-3f5a2b7d9c10",
		UPN:      "ann.lee@contoso.com",
		State:    "atRisk",
		Deadline: at.Add(7 * 24 * time.Hour),
		Action:   "holdfast will rescue it automatically at 2026-03-12T09:00:00Z",
		At:       at,
		Details:  map[string]string{"threshold": "7d", "clock": "softDelete"},
	}
}

func TestTimeLeft(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{7 * 24 * time.Hour, "7 days left"},
		{6*24*time.Hour + 23*time.Hour + 55*time.Minute, "6 days 23 hours left"},
		{25 * time.Hour, "1 day 1 hour left"},
		{5 * time.Hour, "5 hours left"},
		{10 * time.Minute, "less than 1 hour left"},
		{-3 * time.Hour, "3 hours overdue"},
		{-48 * time.Hour, "2 days overdue"},
	} {
		if got := timeLeft(tc.d); got != tc.want {
			t.Errorf("timeLeft(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestDeadlineText(t *testing.T) {
	a := sampleAlert()
	if got, want := deadlineText(a), "2026-03-15 09:00 UTC (7 days left)"; got != want {
		t.Errorf("deadlineText = %q, want %q", got, want)
	}
	a.Deadline = time.Time{}
	if got := deadlineText(a); got != "" {
		t.Errorf("no deadline rendered as %q", got)
	}
	// A deadline in another zone is still shown in UTC.
	a = sampleAlert()
	a.Deadline = a.Deadline.In(time.FixedZone("CET", 3600))
	if got, want := deadlineText(a), "2026-03-15 09:00 UTC (7 days left)"; got != want {
		t.Errorf("deadlineText = %q, want %q", got, want)
	}
}

func TestTruncate(t *testing.T) {
	if got := truncate("short", 10); got != "short" {
		t.Errorf("truncate kept %q", got)
	}
	got := truncate("ééééé", 6) // 2 bytes each; must not split a rune
	if got != "é…" {
		t.Errorf("truncate = %q", got)
	}
}

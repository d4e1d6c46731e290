package chaos

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// holdfastBin builds the handler binary once (the go tool caches it) or
// takes HOLDFAST_BIN.
func holdfastBin(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("HOLDFAST_BIN"); b != "" {
		return b
	}
	bin := filepath.Join(t.TempDir(), "holdfast")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/holdfast/holdfast/functions")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building holdfast: %v\n%s", err, out)
	}
	return bin
}

func TestCompareOutcomes(t *testing.T) {
	base := Outcome{Mailbox: map[string]string{"a": "inactive/0"}, Holds: map[string]int{"a": 1},
		Cases: map[string]string{"a": "inactive"}, Alerts: map[string]int{"x": 1}}
	tests := []struct {
		name          string
		got           Outcome
		interrupted   int
		want, repeats int
	}{
		{"same", base, 0, 0, 0},
		{"lost", Outcome{Mailbox: map[string]string{"a": "purged/10"}, Holds: base.Holds, Cases: base.Cases, Alerts: base.Alerts}, 0, 1, 0},
		{"extra hold", Outcome{Mailbox: base.Mailbox, Holds: map[string]int{"a": 2}, Cases: base.Cases, Alerts: base.Alerts}, 0, 1, 0},
		{"hold repeated after a kill", Outcome{Mailbox: base.Mailbox, Holds: map[string]int{"a": 2}, Cases: base.Cases, Alerts: base.Alerts}, 1, 0, 1},
		{"more repeats than kills", Outcome{Mailbox: base.Mailbox, Holds: map[string]int{"a": 3}, Cases: base.Cases, Alerts: base.Alerts}, 1, 1, 0},
		{"hold only in the crash run", Outcome{Mailbox: base.Mailbox, Holds: map[string]int{"a": 1, "b": 1}, Cases: base.Cases, Alerts: base.Alerts}, 5, 1, 0},
		{"other case state", Outcome{Mailbox: base.Mailbox, Holds: base.Holds, Cases: map[string]string{"a": "protected"}, Alerts: base.Alerts}, 0, 1, 0},
		{"repeated alert", Outcome{Mailbox: base.Mailbox, Holds: base.Holds, Cases: base.Cases, Alerts: map[string]int{"x": 2}}, 0, 0, 1},
		{"missing alert", Outcome{Mailbox: base.Mailbox, Holds: base.Holds, Cases: base.Cases, Alerts: map[string]int{}}, 0, 1, 0},
		{"extra alert", Outcome{Mailbox: base.Mailbox, Holds: base.Holds, Cases: base.Cases, Alerts: map[string]int{"x": 1, "y": 1}}, 0, 1, 0},
	}
	for _, tt := range tests {
		ms, reps := compareOutcomes(base, tt.got, tt.interrupted)
		if len(ms) != tt.want || len(reps) != tt.repeats {
			t.Errorf("%s: mismatches %q, repeats %q; want %d and %d", tt.name, ms, reps, tt.want, tt.repeats)
		}
	}
}

// TestCrashShort: one generated scenario, each played crash-free and
// with SIGKILLs of the handler process, must end the same.
func TestCrashShort(t *testing.T) {
	bin := holdfastBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out strings.Builder
	sum, err := RunCrash(ctx, 20260302, GenOptions{MaxUsers: 3}, CrashOptions{Bin: bin, KillRate: 0.25}, 20, 1, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Logf("%+v\n%s", *sum, out.String())
	if sum.Kills < 20 {
		t.Fatalf("only %d kills", sum.Kills)
	}
	if sum.Interrupted == 0 {
		t.Fatal("no kill interrupted an invocation")
	}
	if sum.Mismatches > 0 || sum.Violations > 0 {
		t.Fatalf("%d mismatches, %d violations:\n%s", sum.Mismatches, sum.Violations, out.String())
	}
}

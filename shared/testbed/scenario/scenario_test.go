package scenario_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast/shared/testbed/scenario"
)

func TestParseOffset(t *testing.T) {
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0h", 0, true}, {"45m", 45 * time.Minute, true}, {"2d3h", 51 * time.Hour, true},
		{"1d2h3m4s", 26*time.Hour + 3*time.Minute + 4*time.Second, true},
		{"", 0, false}, {"3x", 0, false}, {"h", 0, false}, {"-1d", 0, false}, {"1h2d", 0, false},
	}
	for _, tc := range cases {
		got, err := scenario.ParseOffset(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseOffset(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestParseRejects(t *testing.T) {
	base := `{"name":"n","start":"2026-03-02T09:00:00Z","tenant":{"users":[{"upn":"a@contoso.test"}]},"steps":[%s]}`
	cases := map[string]string{
		"unknown field":   `{"at":"0h","sweep":true,"bogus":1}`,
		"two kinds":       `{"at":"0h","sweep":true,"reconcile":true}`,
		"bad offset":      `{"at":"soon","sweep":true}`,
		"unknown action":  `{"at":"0h","admin":{"action":"format","upn":"a@contoso.test"}}`,
		"unknown user":    `{"at":"0h","admin":{"action":"deleteUser","upn":"z@contoso.test"}}`,
		"bad hr type":     `{"at":"0h","hr":{"type":"fired","upn":"a@contoso.test"}}`,
		"bad raw queue":   `{"at":"0h","raw":{"queue":"other","body":"x"}}`,
		"hr without user": `{"at":"0h","hr":{"type":"offboarding"}}`,
		"empty budget":    `{"at":"0h","faults":{"budgets":{"exchange":{"requests":0,"window":"10s"}}}}`,
	}
	for name, step := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := scenario.Parse([]byte(strings.Replace(base, "%s", step, 1))); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if _, err := scenario.Parse([]byte(`{"start":"2026-03-02T09:00:00Z"}`)); err == nil {
		t.Error("scenario without a name accepted")
	}
	budgets := `{"at":"0h","faults":{"budgets":{"exchange":{"requests":100,"window":"10s"},"graphWrites":{"requests":3000,"window":"150s"}}}}`
	if _, err := scenario.Parse([]byte(strings.Replace(base, "%s", budgets, 1))); err != nil {
		t.Errorf("budgets step rejected: %v", err)
	}
}

func TestParseSortsSteps(t *testing.T) {
	sc, err := scenario.Parse([]byte(`{"name":"n","start":"2026-03-02T09:00:00Z","tenant":{"users":[]},
	  "steps":[{"at":"2d","sweep":true},{"at":"1h","reconcile":true}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if !sc.Steps[0].Reconcile || !sc.Steps[1].Sweep {
		t.Fatalf("steps not in time order: %+v", sc.Steps)
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../../../scenarios/*.json")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"name":"x","start":"2026-01-01T00:00:00Z","steps":[{"at":"99999d","sweep":true}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		sc, err := scenario.Parse(b)
		if err == nil && sc.Name == "" {
			t.Fatal("accepted a scenario without a name")
		}
	})
}

package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) Getenv {
	return func(n string) (string, bool) { v, ok := m[n]; return v, ok }
}

func base() map[string]string {
	return map[string]string{
		"HOLDFAST_TENANT_ID":               "6f1c2d3e-4b5a-4978-8a6b-0c1d2e3f4a5b",
		"AzureWebJobsStorage__accountName": "hfstore",
	}
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load(env(base()))
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode != ModeAzure || c.TableServiceURL != "https://hfstore.table.core.windows.net" {
		t.Errorf("mode/table: %v %q", c.Mode, c.TableServiceURL)
	}
	want := []time.Duration{14 * 24 * time.Hour, 7 * 24 * time.Hour, 3 * 24 * time.Hour, 24 * time.Hour}
	if len(c.Policy.WarnThresholds) != 4 || c.Policy.WarnThresholds[0] != want[0] || c.Policy.WarnThresholds[3] != want[3] {
		t.Errorf("thresholds %v", c.Policy.WarnThresholds)
	}
	if c.Actions != ActionsAct {
		t.Errorf("actions default %q, want act", c.Actions)
	}
	if c.Policy.DefaultRetention != "retain" || c.Policy.HoldPropagation != time.Hour || c.Policy.RescueMargin != 72*time.Hour {
		t.Errorf("policy defaults %+v", c.Policy)
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	m := map[string]string{
		"HOLDFAST_TENANT_ID":         "not-a-guid",
		"HOLDFAST_MODE":              "cloud",
		"HOLDFAST_WARN_THRESHOLDS":   "14d,soon",
		"HOLDFAST_RESCUE_MODE":       "copy-to-archive",
		"HOLDFAST_TEAMS_WEBHOOK_URL": "http://hooks.example/secret-token-123",
		"HOLDFAST_ACTIONS":           "dry-run",
	}
	_, err := Load(env(m))
	var ce *Error
	if !errors.As(err, &ce) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("want *Error, got %v", err)
	}
	for _, name := range []string{"HOLDFAST_TENANT_ID", "HOLDFAST_MODE", "HOLDFAST_WARN_THRESHOLDS", "HOLDFAST_ARCHIVE_TARGET", "AzureWebJobsStorage", "HOLDFAST_TEAMS_WEBHOOK_URL", "HOLDFAST_ACTIONS"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not mention %s:\n%v", name, err)
		}
	}
	if strings.Contains(err.Error(), "secret-token-123") {
		t.Error("error echoes a secret value")
	}
}

func TestLocalModeRequiresLoopback(t *testing.T) {
	m := base()
	m["HOLDFAST_MODE"] = "local"
	m["HOLDFAST_GRAPH_BASE_URL"] = "https://graph.microsoft.com/v1.0"
	if _, err := Load(env(m)); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("want loopback error, got %v", err)
	}
}

func TestExpandStorageConnectionString(t *testing.T) {
	cases := map[string]string{
		"UseDevelopmentStorage=true": DevStorageConnectionString,
		"UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://127.0.0.2":                    "TableEndpoint=http://127.0.0.2:10002/devstoreaccount1;",
		"DefaultEndpointsProtocol=https;AccountName=a;AccountKey=k;EndpointSuffix=core.windows.net": "AccountName=a;",
	}
	for in, want := range cases {
		if got := ExpandStorageConnectionString(in); !strings.Contains(got, want) {
			t.Errorf("Expand(%q) = %q, want it to contain %q", in, got, want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	cases := map[string]time.Duration{"30d": 720 * time.Hour, "2d3h": 51 * time.Hour, "45m": 45 * time.Minute, "72h": 72 * time.Hour}
	for in, want := range cases {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "d", "xd", "3w", "1d-"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) accepted", bad)
		}
	}
}

func TestEverySettingDocumented(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range Settings() {
		if s.Doc == "" || seen[s.Name] {
			t.Errorf("setting %q undocumented or duplicated", s.Name)
		}
		seen[s.Name] = true
	}
}

func TestLoadActions(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Actions
		ok   bool
	}{{"", ActionsAct, true}, {"act", ActionsAct, true}, {"Observe", ActionsObserve, true}, {"observe-only", "", false}, {"dry-run", "", false}} {
		m := base()
		m["HOLDFAST_ACTIONS"] = tc.in
		c, err := Load(env(m))
		if tc.ok != (err == nil) {
			t.Errorf("%q: err %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if tc.ok && c.Actions != tc.want {
			t.Errorf("%q: actions %q, want %q", tc.in, c.Actions, tc.want)
		}
	}
}

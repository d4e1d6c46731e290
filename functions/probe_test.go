package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/clock"
	"github.com/holdfast/holdfast/shared/probe"
	"github.com/holdfast/holdfast/shared/tenant"
	"github.com/holdfast/holdfast/shared/testbed/sim"
)

const probeTenant = "6f1c2d3e-4b5a-4978-8a6b-0c1d2e3f4a5b"

// probeSim is a simulated tenant with something behind every read: active,
// deleted, soft-deleted and inactive mailboxes and one restore request.
func probeSim(t *testing.T) *sim.Sim {
	t.Helper()
	s := sim.New(sim.Options{Clock: clock.NewVirtual(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)), TenantID: probeTenant, Log: zerolog.Nop()})
	err := s.Load(sim.TenantSpec{Users: []sim.UserSpec{
		{UPN: "ann@contoso.test", Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 10},
		{UPN: "ben@contoso.test", Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 10, Deleted: "softDeleted", DeletedDaysAgo: 3},
		{UPN: "cat@contoso.test", Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 10, Deleted: "inactive", DeletedDaysAgo: 40},
		{UPN: "vault@contoso.test", Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 1, LitigationHold: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// readsOnly records every request and fails on any write.
type requestRecorder struct {
	mu   sync.Mutex
	all  []sim.RequestInfo
	bad  []string
	done bool
}

func (r *requestRecorder) add(ri sim.RequestInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return
	}
	r.all = append(r.all, ri)
	if ri.API == "graph" && ri.Method != http.MethodGet || ri.API == "exchange" && !strings.HasPrefix(ri.Op, "Get-") {
		r.bad = append(r.bad, ri.API+" "+ri.Method+" "+ri.Op+" "+ri.Path)
	}
}

// runProbe serves s (altered by alts), starts a restore request, then
// probes it with the same reader `holdfast probe` uses and returns the
// report and the requests the probe made.
func runProbe(t *testing.T, s *sim.Sim, alts ...sim.Alteration) (probe.Report, *requestRecorder) {
	t.Helper()
	srv := httptest.NewServer(sim.Altered(s.Handler(), alts...))
	t.Cleanup(srv.Close)
	r, err := newTenantReader(srv.URL+"/v1.0", srv.URL, probeTenant, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Setup (a write, before the log starts): one restore request.
	mbs := s.Mailboxes()
	if _, err := r.exo.NewRestoreRequest(ctx, tenant.RestoreRequest{Name: "probe-setup", SourceMailbox: mbs["ben@contoso.test"].ExchangeGuid,
		TargetMailbox: "vault@contoso.test", TargetRootFolder: "setup", AllowLegacyDNMismatch: true}); err != nil {
		t.Fatal(err)
	}
	// A subscription, where this simulator serves them (issue 13's).
	if simServes(t, s)["/v1.0/subscriptions"] {
		body := `{"changeType":"updated,deleted","resource":"users","clientState":"probe-setup",` +
			`"notificationUrl":"EventGrid:?azuresubscriptionid=00000000-0000-0000-0000-0000000000a1&resourcegroup=rg-holdfast&partnertopic=holdfast&location=westeurope",` +
			`"expirationDateTime":"2026-03-04T09:00:00Z"}`
		rr := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/v1.0/subscriptions", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		s.Handler().ServeHTTP(rr, req)
		if rr.Code != http.StatusCreated {
			t.Fatalf("setup: create subscription: %d %s", rr.Code, rr.Body)
		}
	}
	rec := &requestRecorder{}
	s.OnRequest(rec.add)
	rep := probe.Run(ctx, r, probe.Options{Now: func() time.Time { return time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC) }})
	rec.mu.Lock()
	rec.done = true
	rec.mu.Unlock()
	return rep, rec
}

func TestProbeAgainstSimulator(t *testing.T) {
	s := probeSim(t)
	rep, rec := runProbe(t, s)
	if len(rec.bad) > 0 {
		t.Fatalf("the probe wrote to the tenant:\n%s", strings.Join(rec.bad, "\n"))
	}
	if len(rec.all) < 10 {
		t.Fatalf("the probe made only %d requests", len(rec.all))
	}
	served := simServes(t, s)
	for _, row := range rep.Rows {
		if path, ok := unservedRows[row.ID]; ok && !served[path] {
			// This simulator does not serve the endpoint yet: the row must
			// say it failed, never that it matched.
			if row.Status != probe.StatusFailed {
				t.Errorf("%s: %s against a simulator without %s", row.ID, row.Status, path)
			}
			continue
		}
		if row.Status != probe.StatusMatches || !row.Seen {
			t.Errorf("%s: %s (seen %v) %+v %s", row.ID, row.Status, row.Seen, row.Differences, row.Note)
		}
	}
	if testing.Verbose() {
		t.Log("\n" + rep.Text())
	}
	// The report holds no value from the tenant: no address, no id.
	b, _ := json.Marshal(rep)
	text := string(b) + rep.Text()
	for upn, mb := range s.Mailboxes() {
		for _, v := range []string{upn, mb.ExchangeGuid, mb.UserID, mb.CurrentUPN} {
			if v != "" && strings.Contains(strings.ToLower(text), strings.ToLower(v)) {
				t.Errorf("the report contains %q", v)
			}
		}
	}
}

// unservedRows are rows whose endpoint the simulator may not serve (the
// subscriptions and delta endpoints arrive with issue 13's simulator).
var unservedRows = map[string]string{"graph.subscriptions": "/v1.0/subscriptions", "graph.users.delta": "/v1.0/users/delta"}

// simServes asks the simulator directly which of those endpoints it serves.
func simServes(t *testing.T, s *sim.Sim) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, path := range unservedRows {
		rr := httptest.NewRecorder()
		s.Handler().ServeHTTP(rr, httptest.NewRequest(http.MethodGet, path, nil))
		out[path] = rr.Code >= 200 && rr.Code < 300
	}
	return out
}

func TestProbeNamesEachDifference(t *testing.T) {
	s := probeSim(t)
	rep, rec := runProbe(t, s,
		sim.Alteration{GraphPath: "/users", Edit: sim.RenameField("userPrincipalName", "userPrincipalNameV2")},
		sim.Alteration{GraphPath: "/subscribedSkus", Edit: sim.NumberAsString("consumedUnits")},
		sim.Alteration{Cmdlet: "Get-MailboxRestoreRequest", Edit: sim.SetField("Status", "Paused")},
	)
	if len(rec.bad) > 0 {
		t.Fatalf("the probe wrote to the tenant:\n%s", strings.Join(rec.bad, "\n"))
	}
	want := map[string]probe.Difference{
		"graph.users.list":     {Field: "userPrincipalName", Kind: "missing"},
		"graph.subscribedSkus": {Field: "consumedUnits", Kind: "type", Got: "string"},
		"exo.restoreRequests":  {Field: "Status", Kind: "value", Got: "Paused"},
	}
	got := rep.Differing()
	wantIDs := []string{"exo.restoreRequests", "graph.subscribedSkus", "graph.users.list"}
	slices.Sort(got)
	if !slices.Equal(got, wantIDs) {
		t.Fatalf("rows reported as differing: %v, want %v\n%s", got, wantIDs, rep.Text())
	}
	for _, row := range rep.Rows {
		w, ok := want[row.ID]
		if !ok {
			continue
		}
		if len(row.Differences) != 1 {
			t.Errorf("%s: differences %+v, want exactly one", row.ID, row.Differences)
			continue
		}
		d := row.Differences[0]
		if d.Field != w.Field || d.Kind != w.Kind || w.Got != "" && d.Got != w.Got {
			t.Errorf("%s: difference %+v, want %+v", row.ID, d, w)
		}
	}
	if !strings.Contains(rep.Text(), "userPrincipalNameV2") {
		t.Error("the text report does not name the renamed field's new name (extra field)")
	}
}

func TestProbeReportsMissingPermissions(t *testing.T) {
	s := probeSim(t)
	forbid := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v1.0/subscribedSkus" {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusForbidden)
				_, _ = w.Write([]byte(`{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}}`))
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	srv := httptest.NewServer(forbid(s.Handler()))
	t.Cleanup(srv.Close)
	r, err := newTenantReader(srv.URL+"/v1.0", srv.URL, probeTenant, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep := probe.Run(context.Background(), r, probe.Options{})
	var status string
	for _, row := range rep.Rows {
		if row.ID == "graph.subscribedSkus" {
			status = row.Status
		}
	}
	if status != probe.StatusForbidden || len(rep.MissingPermissions) != 1 || !strings.Contains(rep.MissingPermissions[0], "LicenseAssignment.Read.All") {
		t.Fatalf("subscribedSkus %s, missing permissions %v", status, rep.MissingPermissions)
	}
}

func TestProbeWritesBothReports(t *testing.T) {
	s := probeSim(t)
	rep, _ := runProbe(t, s)
	prefix := filepath.Join(t.TempDir(), "out", "probe")
	if err := writeProbeReport(rep, prefix); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(prefix + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var back probe.Report
	if err := json.Unmarshal(b, &back); err != nil || len(back.Rows) != len(probe.Rows()) {
		t.Fatalf("json report: %v, %d rows", err, len(back.Rows))
	}
	if txt, err := os.ReadFile(prefix + ".txt"); err != nil || !strings.Contains(string(txt), "summary:") {
		t.Fatalf("text report: %v", err)
	}
}

// TestProbeCommand runs `holdfast probe` as an admin would, against the
// simulator on loopback (--auth none), and reads the files it writes.
func TestProbeCommand(t *testing.T) {
	s := probeSim(t)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	prefix := filepath.Join(t.TempDir(), "contoso")
	err := probeCmd(context.Background(), []string{"--tenant", probeTenant, "--auth", "none",
		"--graph-url", srv.URL + "/v1.0", "--exchange-url", srv.URL, "--out", prefix})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(prefix + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var rep probe.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Summary[probe.StatusMatches] < 10 || rep.Summary[probe.StatusDiffers] != 0 {
		t.Fatalf("summary %v", rep.Summary)
	}
	if err := probeCmd(context.Background(), []string{"--auth", "none"}); err == nil {
		t.Fatal("probe without --tenant succeeded")
	}
	if err := probeCmd(context.Background(), []string{"--tenant", probeTenant, "--auth", "password"}); err == nil {
		t.Fatal("probe accepted an unknown --auth")
	}
}

package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/app"
	"github.com/holdfast/holdfast/shared/ledger"
	"github.com/holdfast/holdfast/shared/testbed/azurite"
	"github.com/holdfast/holdfast/shared/testbed/localstack"
	"github.com/holdfast/holdfast/shared/testbed/scenario"
	"github.com/holdfast/holdfast/shared/testbed/scenario/runner"

	"github.com/holdfast/holdfast/shared/events/eventstest"
)

const hostileDir = "../../events/testdata/hostile"

type hostileFile struct{ name, queue, code string }

func hostileFiles(t *testing.T) []hostileFile {
	t.Helper()
	es, err := eventstest.ReadManifest(hostileDir)
	if err != nil {
		t.Fatal(err)
	}
	var out []hostileFile
	for _, e := range es {
		out = append(out, hostileFile{e.File, e.Queue, e.Want})
	}
	if len(out) < 50 {
		t.Fatalf("only %d hostile files listed", len(out))
	}
	return out
}

// TestHostileCorpusEndToEnd delivers every hostile file through the real
// handler (host envelope, Service Bus semantics) between valid events for
// two leavers: each bad message is rejected with a reason and kept, none
// is dead-lettered, and the leavers' cases are unaffected.
func TestHostileCorpusEndToEnd(t *testing.T) {
	ctx := context.Background()
	az := azurite.ForTest(t)
	st, err := localstack.Start(ctx, localstack.Options{Start: Start, AzuriteConnectionString: az.ConnectionString, TablePrefix: "hostile", Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	files := hostileFiles(t)

	// The valid traffic: two leavers, their HR events and the directory
	// notifications, played by the runner before and after the corpus.
	sc, err := scenario.Parse([]byte(`{"name": "hostile neighbours", "start": "2026-03-02T09:00:00Z",
	  "tenant": {"users": [{"upn": "ann@contoso.test", "licenses": ["ENTERPRISEPACK"], "mailboxItems": 500},
	                       {"upn": "bob@contoso.test", "licenses": ["SPE_E5"], "mailboxItems": 700}]},
	  "steps": [{"at": "0h", "hr": {"type": "offboarding", "upn": "ann@contoso.test", "retention": "retain"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var tl strings.Builder
	if _, err := (&runner.Runner{Stack: st, Out: &tl}).Run(ctx, sc); err != nil {
		t.Fatal(err)
	}

	for i, f := range files {
		body, err := os.ReadFile(filepath.Join(hostileDir, f.name))
		if err != nil {
			t.Fatal(err)
		}
		fn := app.FnOnOffboarding
		if f.queue == "directory-events" {
			fn = app.FnOnDirectoryEvent
		}
		resp, err := st.Deliver(ctx, fn, "hostile-"+f.name, body)
		if errors.Is(err, localstack.ErrDeadLettered) {
			t.Errorf("%s: dead-lettered: %v", f.name, err)
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		var res app.MessageResult
		if err := resp.DecodeReturnValue(&res); err != nil || res.Result != app.ResultRejected {
			t.Errorf("%s (%s, want %s): not rejected: %+v %v (logs %v)", f.name, f.queue, f.code, res, err, resp.Logs)
		}
		if i == len(files)/2 {
			// A valid HR event in the middle of the corpus.
			ev := `{"specversion":"1.0","id":"0d1b2c3a-0000-4000-8000-00000000b0b0","type":"io.holdfast.hr.offboarding","source":"/hr/test","time":"2026-03-02T09:00:00Z","datacontenttype":"application/json","data":{"upn":"bob@contoso.test","lastWorkingDay":"2026-03-02","retention":"retain"}}`
			resp, err := st.Deliver(ctx, app.FnOnOffboarding, "valid-bob", []byte(ev))
			var res app.MessageResult
			if err == nil {
				err = resp.DecodeReturnValue(&res)
			}
			if err != nil || res.Result != app.ResultApplied {
				t.Fatalf("valid event between hostile ones: %+v %v (logs %v)", res, err, resp.Logs)
			}
		}
	}

	// Every rejection is kept with a code and a reason.
	kept := map[string]ledger.RejectedEvent{}
	matched := 0
	want := map[string]string{}
	for _, f := range files {
		want["hostile-"+f.name] = f.code
	}
	err = st.App.Store.ListRejected(ctx, 0, func(r ledger.RejectedEvent) error {
		kept[r.MessageID] = r
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		r, ok := kept["hostile-"+f.name]
		switch {
		case !ok:
			// Messages whose id the decoder could not trust may be kept
			// under another id; count them below.
		case r.Code == "" || r.Reason == "":
			t.Errorf("%s kept without a code or reason: %+v", f.name, r)
		case r.Code == f.code:
			matched++
		}
	}
	if len(kept) != len(files) {
		t.Errorf("%d rejected events kept, want %d (one per hostile file)", len(kept), len(files))
	}
	t.Logf("%d hostile files rejected and kept; %d with the code the decoder's corpus test expects (tenant, client state and clock differ end to end)", len(kept), matched)

	// The Api reports them.
	resp, err := st.CallAPI(ctx, "rejected")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(resp.Outputs["res"])
	var res struct {
		StatusCode int    `json:"statusCode"`
		Body       string `json:"body"`
	}
	_ = json.Unmarshal(b, &res)
	var body struct {
		Count int `json:"count"`
	}
	_ = json.Unmarshal([]byte(res.Body), &body)
	if res.StatusCode != 200 || body.Count != min(100, len(files)) {
		t.Errorf("Api rejected: status %d, count %d, want %d", res.StatusCode, body.Count, min(100, len(files)))
	}

	// The valid leavers are unaffected: one hold each, cases protecting.
	for _, upn := range []string{"ann@contoso.test", "bob@contoso.test"} {
		if n := st.Sim.HoldRequests(upn); n != 1 {
			t.Errorf("%s: %d hold requests, want 1", upn, n)
		}
	}
	states := map[string]string{}
	_ = st.App.Store.ListCases(ctx, func(c ledger.CaseRecord) error {
		states[strings.ToLower(c.UPN)] = c.State
		return nil
	})
	for _, upn := range []string{"ann@contoso.test", "bob@contoso.test"} {
		if s := states[upn]; s != "protecting" && s != "protected" {
			t.Errorf("%s: case %q, want protecting or protected", upn, s)
		}
	}
	if len(states) != 2 {
		t.Errorf("%d cases, want 2 (hostile input opened cases): %v", len(states), states)
	}
}

package runner_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/testbed/azurite"
	"github.com/holdfast/holdfast/shared/testbed/localstack"
	"github.com/holdfast/holdfast/shared/testbed/scenario"
	"github.com/holdfast/holdfast/shared/testbed/scenario/runner"
)

// TestBundledScenarios plays every scenario under scenarios/ on the real
// local stack: Azurite, the simulator and the handler through the host
// envelope. The simulator is the judge.
func TestBundledScenarios(t *testing.T) {
	files, err := filepath.Glob("../../../../scenarios/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios found: %v", err)
	}
	az := azurite.ForTest(t)
	for i, path := range files {
		path := path
		prefix := "t" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)
		t.Run(strings.TrimSuffix(filepath.Base(path), ".json"), func(t *testing.T) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			sc, err := scenario.Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			st, err := localstack.Start(ctx, localstack.Options{Start: sc.Start, Settings: sc.Settings,
				AzuriteConnectionString: az.ConnectionString, TablePrefix: prefix, Log: zerolog.Nop()})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			var timeline strings.Builder
			rep, err := (&runner.Runner{Stack: st, Out: &timeline}).Run(ctx, sc)
			if err != nil {
				t.Fatalf("run: %v\n%s", err, timeline.String())
			}
			if testing.Verbose() {
				t.Log(timeline.String())
			}
			if !rep.OK {
				t.Fatalf("expectations failed:\n%s", timeline.String())
			}
			if len(rep.Expectations) == 0 {
				t.Fatal("scenario checks nothing")
			}
			if rep.Stats.DeadLettered != 0 {
				t.Fatalf("%d messages dead-lettered", rep.Stats.DeadLettered)
			}
			// Rejected events are visible through the Api.
			resp, err := st.CallAPI(ctx, "rejected")
			if err != nil {
				t.Fatal(err)
			}
			b, _ = json.Marshal(resp.Outputs["res"])
			var out struct {
				StatusCode int    `json:"statusCode"`
				Body       string `json:"body"`
			}
			_ = json.Unmarshal(b, &out)
			var body struct {
				Count int `json:"count"`
			}
			_ = json.Unmarshal([]byte(out.Body), &body)
			want := rep.Stats.RejectedMessages
			if out.StatusCode != 200 || body.Count != want {
				t.Fatalf("Api rejected: status %d, %d rejected events, want %d", out.StatusCode, body.Count, want)
			}
		})
	}
}

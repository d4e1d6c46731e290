package deadletter

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast/shared/redelivery"
)

// fakeQueue keeps letters per queue; Replay removes what it replays.
type fakeQueue map[string][]Letter

func (f fakeQueue) Peek(_ context.Context, q string, max int) ([]Letter, error) {
	return f[q][:min(max, len(f[q]))], nil
}

func (f fakeQueue) Replay(_ context.Context, q string, max int, pick func(Letter) bool, now time.Time) ([]redelivery.Copy, error) {
	var keep []Letter
	var out []redelivery.Copy
	for _, l := range f[q] {
		if len(out) < max && pick(l) {
			out = append(out, redelivery.Replay(l.State(), l.Body, l.ContentType, l.Properties, now))
			continue
		}
		keep = append(keep, l)
	}
	f[q] = keep
	return out, nil
}

func letter(id, original string) Letter {
	props := map[string]any{}
	if original != "" {
		props[redelivery.PropOriginalID] = original
		props[redelivery.PropRetries] = json.Number("7")
	}
	return Letter{Queue: "hr-offboarding", MessageID: id, DeliveryCount: 10, Reason: "MaxDeliveryCountExceeded", Properties: props,
		Body: []byte(`{"specversion":"1.0","id":"` + id + `","type":"io.holdfast.hr.offboarding","data":{"upn":"secret.person@contoso.test"}}`)}
}

func TestRun(t *testing.T) {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name         string
		replay       string
		wantListed   int
		wantReplayed int
		left         int
		wantOut      []string
	}{
		{"list", "", 3, 0, 3, []string{"3 dead-lettered", "offboarding evt-a", "MaxDeliveryCountExceeded"}},
		{"replay by original id", "orig-b", 0, 1, 2, []string{"1 message(s) replayed", "orig-b/replay-"}},
		{"replay by message id", "evt-a", 0, 1, 2, []string{"evt-a/replay-"}},
		{"replay all", "all", 0, 3, 0, []string{"3 message(s) replayed"}},
		{"replay nothing matching", "nope", 0, 0, 3, []string{"0 message(s) replayed"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := fakeQueue{"hr-offboarding": {letter("evt-a", ""), letter("orig-b/retry-7", "orig-b"), letter("evt-c", "")}}
			var out bytes.Buffer
			sum, err := Run(context.Background(), q, Options{Queues: []string{"hr-offboarding", "directory-events"}, Replay: tc.replay, Now: now}, &out)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Listed != tc.wantListed || sum.Replayed != tc.wantReplayed || len(q["hr-offboarding"]) != tc.left {
				t.Errorf("summary %+v, %d left; want listed %d replayed %d left %d", sum, len(q["hr-offboarding"]), tc.wantListed, tc.wantReplayed, tc.left)
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			if strings.Contains(out.String(), "secret.person") {
				t.Error("the report prints message bodies (personal data)")
			}
		})
	}
}

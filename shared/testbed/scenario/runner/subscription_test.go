package runner_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/testbed/azurite"
	"github.com/holdfast/holdfast/shared/testbed/localstack"
	"github.com/holdfast/holdfast/shared/testbed/scenario"
	"github.com/holdfast/holdfast/shared/testbed/scenario/runner"
)

// TestSubscriptionExpiryMovesForward plays the 120-day scenario and reads
// the simulator's GET /v1.0/subscriptions before every step: after the
// first timer run there is exactly one live users subscription, and its
// expirationDateTime only moves forward, several times. The Api health
// reports it.
func TestSubscriptionExpiryMovesForward(t *testing.T) {
	b, err := os.ReadFile("../../../../scenarios/subscription-120-days.json")
	if err != nil {
		t.Fatal(err)
	}
	sc, err := scenario.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	az := azurite.ForTest(t)
	ctx := context.Background()
	st, err := localstack.Start(ctx, localstack.Options{Start: sc.Start, Settings: sc.Settings,
		AzuriteConnectionString: az.ConnectionString, TablePrefix: "subfwd", Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	type listed struct {
		Value []struct {
			ID                 string    `json:"id"`
			Resource           string    `json:"resource"`
			ExpirationDateTime time.Time `json:"expirationDateTime"`
		} `json:"value"`
	}
	var last time.Time
	moves := 0
	check := func(i int) error {
		resp, err := http.Get(st.SimURL + "/v1.0/subscriptions")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var l listed
		if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
			return err
		}
		if len(l.Value) != 1 || l.Value[0].Resource != "users" {
			t.Errorf("before step %d: %d subscriptions listed, want one on users: %+v", i, len(l.Value), l.Value)
			return nil
		}
		exp := l.Value[0].ExpirationDateTime
		switch {
		case exp.Before(last):
			t.Errorf("before step %d: expiry went back from %s to %s", i, last, exp)
		case exp.After(last) && !last.IsZero():
			moves++
		}
		if !exp.After(st.Clock.Now()) {
			t.Errorf("before step %d: the listed subscription expired at %s", i, exp)
		}
		last = exp
		return nil
	}
	rep, err := (&runner.Runner{Stack: st, BeforeStep: func(_ context.Context, i int) error { return check(i) }}).Run(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("expectations failed: %+v", rep.Expectations)
	}
	if moves < 3 {
		t.Errorf("expiry moved forward %d times between steps, want at least 3", moves)
	}
	resp, err := st.CallAPI(ctx, "health")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(resp.Outputs["res"])
	var out struct {
		Body string `json:"body"`
	}
	_ = json.Unmarshal(raw, &out)
	var health struct {
		Status       string `json:"status"`
		Subscription struct {
			State            string     `json:"state"`
			Expires          *time.Time `json:"expires"`
			LastNotification *time.Time `json:"lastNotification"`
			LastReconcile    *time.Time `json:"lastReconcile"`
			Renewals         int        `json:"renewals"`
		} `json:"subscription"`
	}
	if err := json.Unmarshal([]byte(out.Body), &health); err != nil {
		t.Fatal(err)
	}
	s := health.Subscription
	if health.Status != "ok" || s.State != "live" || s.Expires == nil || !s.Expires.Equal(last) || s.LastNotification == nil ||
		s.LastReconcile == nil || s.Renewals < 4 {
		t.Fatalf("health = %s", out.Body)
	}
}

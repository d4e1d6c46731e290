package redelivery

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func TestDecide(t *testing.T) {
	p := Policy{Budget: 6 * time.Hour}
	tests := []struct {
		name   string
		s      State
		now    time.Time
		action Action
		at     time.Time
	}{
		{"first delivery fails: redeliver at once", State{DeliveryCount: 1}, t0, Redeliver, time.Time{}},
		{"second delivery: still at once", State{DeliveryCount: 2}, t0, Redeliver, time.Time{}},
		{"third delivery: first copy in 30s", State{DeliveryCount: 3}, t0, Schedule, t0.Add(30 * time.Second)},
		{"copy 1 fails: copy 2 in 1m", State{Retries: 1, FirstFailure: t0, DeliveryCount: 3}, t0.Add(time.Minute), Schedule, t0.Add(2 * time.Minute)},
		{"copy 6: capped at 15m", State{Retries: 6, FirstFailure: t0, DeliveryCount: 3}, t0.Add(time.Hour), Schedule, t0.Add(time.Hour + 15*time.Minute)},
		{"near the end: lands on the budget's end", State{Retries: 20, FirstFailure: t0, DeliveryCount: 3}, t0.Add(6*time.Hour - 5*time.Minute), Schedule, t0.Add(6 * time.Hour)},
		{"budget spent: give up even on delivery 1", State{Retries: 25, FirstFailure: t0, DeliveryCount: 1}, t0.Add(6 * time.Hour), GiveUp, time.Time{}},
		{"first failure in the future (clock skew): counts from now", State{FirstFailure: t0.Add(time.Hour), DeliveryCount: 3}, t0, Schedule, t0.Add(30 * time.Second)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := p.Decide(tc.s, tc.now)
			if d.Action != tc.action || !d.At.Equal(tc.at) {
				t.Errorf("Decide = %v at %v, want %v at %v", d.Action, d.At, tc.action, tc.at)
			}
		})
	}
}

// An hour-long outage: every failure reschedules, none gives up, and the
// copies are few (growing delays, not a loop).
func TestHourOutageStaysWithinBudget(t *testing.T) {
	p := Policy{Budget: 6 * time.Hour}
	s := State{OriginalID: "m1", DeliveryCount: 3}
	now := t0
	copies := 0
	for now.Before(t0.Add(time.Hour)) {
		d := p.Decide(s, now)
		if d.Action != Schedule {
			t.Fatalf("at %v: %v, want schedule", now.Sub(t0), d.Action)
		}
		c := NextCopy(s, d, []byte("{}"), "application/json", nil)
		copies++
		var err error
		s, err = Read(c.Properties, c.MessageID, 3)
		if err != nil {
			t.Fatal(err)
		}
		now = d.At
	}
	if copies < 5 || copies > 15 {
		t.Errorf("%d copies for an hour's outage, want a handful", copies)
	}
	if s.OriginalID != "m1" || s.Deliveries() != 3*copies+3 {
		t.Errorf("state after the hour = %+v", s)
	}
}

func TestCopyRoundTrip(t *testing.T) {
	d := Decision{Action: Schedule, FirstFailure: t0, At: t0.Add(time.Minute)}
	c := NextCopy(State{OriginalID: "evt-1", Retries: 2, PriorDeliveries: 6, DeliveryCount: 3}, d, []byte("body"), "application/cloudevents+json", map[string]any{"source": "hr"})
	if c.MessageID != "evt-1/retry-3" || c.Properties["source"] != "hr" {
		t.Errorf("copy = %+v", c)
	}
	// Through the host the properties arrive as JSON numbers and strings.
	b, _ := json.Marshal(c.Properties)
	var props map[string]any
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(&props); err != nil {
		t.Fatal(err)
	}
	s, err := Read(props, c.MessageID, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := State{Retries: 3, FirstFailure: t0, OriginalID: "evt-1", PriorDeliveries: 9, DeliveryCount: 1}
	if s != want {
		t.Errorf("Read = %+v, want %+v", s, want)
	}
	r := Replay(s, []byte("body"), "", props, t0.Add(7*time.Hour))
	rs, err := Read(r.Properties, r.MessageID, 1)
	if err != nil {
		t.Fatal(err)
	}
	if rs.Retries != 0 || !rs.FirstFailure.IsZero() || rs.OriginalID != "evt-1" || rs.PriorDeliveries != 10 || !strings.HasPrefix(r.MessageID, "evt-1/replay-") {
		t.Errorf("replay state = %+v id %s", rs, r.MessageID)
	}
}

func TestReadBadProperties(t *testing.T) {
	tests := []map[string]any{
		{PropRetries: "many"},
		{PropRetries: 1.5},
		{PropPriorDeliveries: -1},
		{PropFirstFailure: "yesterday"},
	}
	for _, props := range tests {
		if _, err := Read(props, "m", 1); !errors.Is(err, ErrBadProperty) {
			t.Errorf("Read(%v) error = %v, want ErrBadProperty", props, err)
		}
	}
}

func TestCopyIDBounded(t *testing.T) {
	long := strings.Repeat("x", 200)
	if id := CopyID(long, "retry-1"); len(id) > maxMessageID || !strings.HasSuffix(id, "/retry-1") {
		t.Errorf("CopyID = %q", id)
	}
	if CopyID(long, "retry-1") == CopyID(long, "retry-2") {
		t.Error("copies of one message share an id")
	}
}

package events

import (
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// TestContractFixtures: the documented event shapes under the top-level
// testdata/events (see docs/contracts.md) decode as holdfast expects.
func TestContractFixtures(t *testing.T) {
	const (
		tenant = "6f1c2d3e-4b5a-4978-8a6b-0c1d2e3f4a5b"
		user   = "8d4b2f6a-1c3e-4a5b-9e7d-2f0c6b8a4e13"
	)
	opts := Options{TenantID: tenant, ClientState: "b2f7c4e1-9a3d-4c6e-8f1b-7d5e3a9c2f40",
		Now: time.Date(2026, 2, 10, 12, 0, 0, 0, time.UTC)}
	tests := []struct {
		file     string
		kind     Kind
		sequence int64
		rejected string
	}{
		{"entra-user-updated.json", KindUserChanged, 638747292675518224, ""},
		{"entra-user-updated-sample-form.json", KindUserChanged, 0, ""},
		{"entra-user-deleted.json", KindUserPurged, 638747415128830417, ""},
		// Subscription renewal is issue 13's; until then the admin hears of
		// it through the rejection alert.
		{"graph-subscription-reauthorization-required.json", "", 0, CodeUnsupportedType},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body := readFile(t, filepath.Join("..", "..", "testdata", "events", tt.file))
			ev, err := Decode(QueueDirectory, body, opts)
			if tt.rejected != "" {
				var rej *Rejection
				if !errors.As(err, &rej) || rej.Code != tt.rejected {
					t.Fatalf("err = %v, want rejection %s", err, tt.rejected)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if ev.Kind != tt.kind || ev.User.ObjectID != user || ev.TenantID != tenant || ev.Sequence != tt.sequence {
				t.Errorf("got kind %s user %s tenant %s seq %d", ev.Kind, ev.User.ObjectID, ev.TenantID, ev.Sequence)
			}
		})
	}
}

package engine

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast/shared/alert"
	"github.com/holdfast/holdfast/shared/retention"
)

// The purged alert names an ExchangeGuid conflict from the typed reason
// kind, for cases written now and for cases an older holdfast stored with
// only the words.
func TestSettlePurgedReadsTypedConflict(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	conflict := retention.ExchangeGUIDConflictReason("returner@contoso.test")
	cases := []struct {
		name         string
		stored       string // the stored record's case, as JSON
		wantConflict bool
		wantReason   string
	}{
		{"current: kind set", `{"key":"t_1","state":"unconfirmed","retention":"retain","mailboxPurgedAt":"2026-03-01T09:00:00Z","reason":` + jsonString(conflict) + `,"reasonKind":"exchangeGuidConflict"}`, true, conflict},
		{"legacy: prose only", `{"key":"t_1","state":"unconfirmed","retention":"retain","mailboxPurgedAt":"2026-03-01T09:00:00Z","reason":` + jsonString(conflict) + `}`, true, conflict},
		{"plain loss", `{"key":"t_1","state":"unconfirmed","retention":"retain","mailboxPurgedAt":"2026-03-01T09:00:00Z","reason":"Exchange shows the mailbox in scope none"}`, false, "the mailbox was purged"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r record
			if err := json.Unmarshal([]byte(`{"case":`+tc.stored+`}`), &r); err != nil {
				t.Fatal(err)
			}
			r.Case.UpgradeLegacy() // as load does
			e := &Engine{}
			e.settle(&r, &tx{e: e, now: now})
			if r.Case.State != retention.StatePurged || r.Case.Reason != tc.wantReason {
				t.Fatalf("state %s reason %q, want purged %q", r.Case.State, r.Case.Reason, tc.wantReason)
			}
			if len(r.Outbox) != 1 || r.Outbox[0].Kind != alert.KindPurged {
				t.Fatalf("outbox %+v, want one purged alert", r.Outbox)
			}
			a := r.Outbox[0]
			got := a.Details["conflict"] == "exchangeGuid" && strings.HasPrefix(a.Remedy, conflict)
			if got != tc.wantConflict {
				t.Fatalf("conflict named %v, want %v (details %v, remedy %q)", got, tc.wantConflict, a.Details, a.Remedy)
			}
			if tc.wantConflict && r.Case.ReasonKind != retention.ReasonExchangeGUIDConflict {
				t.Fatalf("kind %q lost on settle", r.Case.ReasonKind)
			}
		})
	}
}

func jsonString(s string) string { b, _ := json.Marshal(s); return string(b) }

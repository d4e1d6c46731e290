package sim

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast/shared/contract"
)

// keys lists the JSON object keys at every level of v, as dotted paths.
func keys(prefix string, v any, out map[string]bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return
	}
	for k, sub := range m {
		out[prefix+k] = true
		keys(prefix+k+".", sub, out)
	}
}

func keySet(t *testing.T, b []byte) map[string]bool {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	keys("", v, out)
	return out
}

func sorted(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestEmittedEventMatchesDocumentedForm: the simulator's user notification
// decodes strictly into contract.EntraEvent and carries exactly the field
// set of the documented example (testdata/events/entra-user-updated.json,
// after azure-docs microsoft-entra-events.md), sequenceNumber as a string.
func TestEmittedEventMatchesDocumentedForm(t *testing.T) {
	e := newEnv(t, seed("ann@contoso.test", 3, "ENTERPRISEPACK"))
	e.s.DrainEvents()
	e.admin("deleteUser", "ann@contoso.test")
	e.advance(30 * time.Minute) // notifications may be delayed; half an hour is past any delay
	evs := e.s.DrainEvents()
	if len(evs) == 0 {
		t.Fatal("no notification for a soft delete")
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "testdata", "events", "entra-user-updated.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := keySet(t, doc)
	for _, raw := range evs {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		var ev contract.EntraEvent
		if err := dec.Decode(&ev); err != nil {
			t.Fatalf("emitted event does not fit contract.EntraEvent: %v\n%s", err, raw)
		}
		got := keySet(t, raw)
		if strings.Join(sorted(got), " ") != strings.Join(sorted(want), " ") {
			t.Errorf("field set differs from the documented example\n got: %v\nwant: %v", sorted(got), sorted(want))
		}
		var probe struct {
			Data struct {
				ResourceData struct {
					SequenceNumber json.RawMessage `json:"sequenceNumber"`
				} `json:"resourceData"`
			} `json:"data"`
		}
		_ = json.Unmarshal(raw, &probe)
		if sn := probe.Data.ResourceData.SequenceNumber; len(sn) == 0 || sn[0] != '"' {
			t.Errorf("sequenceNumber = %s, want a JSON string (Learn's property table)", sn)
		}
		if !strings.HasSuffix(ev.Data.SubscriptionExpirationDateTime, "+00:00") {
			t.Errorf("subscriptionExpirationDateTime %q: want an explicit offset as documented", ev.Data.SubscriptionExpirationDateTime)
		}
	}
}

package events

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestGraphSequenceNumberForms: Learn's Microsoft Entra events page types
// resourceData.sequenceNumber as a string; its example shows a bare number.
// Both decode; a value that is neither a whole number nor a string of
// digits is dropped, never a reason to reject the notification.
func TestGraphSequenceNumberForms(t *testing.T) {
	base := string(readFile(t, filepath.Join("testdata", "valid", "graph-user-updated.json")))
	const orig = `"sequenceNumber": 638207582813062901`
	if !strings.Contains(base, orig) {
		t.Fatalf("fixture no longer carries %s", orig)
	}
	tests := []struct {
		name string
		raw  string
		want int64
	}{
		{"documented string", `"638207582813062902"`, 638207582813062902},
		{"number", `17`, 17},
		{"short string", `"5"`, 5},
		{"negative number dropped", `-3`, 0},
		{"non-digit string dropped", `"abc"`, 0},
		{"fraction dropped", `1.5`, 0},
		{"null dropped", `null`, 0},
		{"object dropped", `{}`, 0},
		{"beyond int64 dropped", `"99999999999999999999"`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := strings.Replace(base, orig, `"sequenceNumber": `+tt.raw, 1)
			ev, err := Decode(QueueDirectory, []byte(body), testOpts())
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if ev.Sequence != tt.want || ev.Kind != KindUserChanged || ev.User.ObjectID != testUser {
				t.Errorf("got Sequence=%d Kind=%s user=%s, want Sequence=%d userChanged %s", ev.Sequence, ev.Kind, ev.User.ObjectID, tt.want, testUser)
			}
		})
	}
}

package retention

import (
	"encoding/json"
	"testing"
)

func TestUpgradeLegacyReasonKind(t *testing.T) {
	conflict := ExchangeGUIDConflictReason("new.joiner@contoso.test")
	cases := []struct {
		name   string
		stored string // a case as an older holdfast stored it, or a current one
		want   ReasonKind
	}{
		{"legacy conflict prose, no kind", `{"state":"unconfirmed","reason":` + quote(conflict) + `}`, ReasonExchangeGUIDConflict},
		{"legacy purged with conflict prose", `{"state":"purged","reason":"ExchangeGuid conflict: account x came back"}`, ReasonExchangeGUIDConflict},
		{"current case with kind", `{"state":"purged","reason":"reworded later","reasonKind":"exchangeGuidConflict"}`, ReasonExchangeGUIDConflict},
		{"ordinary purge", `{"state":"purged","reason":"the mailbox was purged"}`, ReasonUnspecified},
		{"prose mentioning a conflict elsewhere", `{"state":"blocked","reason":"no ExchangeGuid conflict seen"}`, ReasonUnspecified},
		{"no reason", `{"state":"tracking"}`, ReasonUnspecified},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var c Case
			if err := json.Unmarshal([]byte(tc.stored), &c); err != nil {
				t.Fatal(err)
			}
			c.UpgradeLegacy()
			if c.ReasonKind != tc.want {
				t.Fatalf("kind %q, want %q", c.ReasonKind, tc.want)
			}
			c.UpgradeLegacy()
			if c.ReasonKind != tc.want {
				t.Fatalf("not idempotent: kind %q after a second upgrade", c.ReasonKind)
			}
		})
	}
}

func TestExplainNeverLeavesAStaleKind(t *testing.T) {
	var c Case
	c.Explain(ReasonExchangeGUIDConflict, ExchangeGUIDConflictReason("a@contoso.test"))
	c.Explain(ReasonUnspecified, "rehired")
	if c.ReasonKind != ReasonUnspecified || c.Reason != "rehired" {
		t.Fatalf("kind %q reason %q after re-explaining", c.ReasonKind, c.Reason)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if _, ok := back["reasonKind"]; ok {
		t.Fatalf("an unspecified kind is stored: %s", b)
	}
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

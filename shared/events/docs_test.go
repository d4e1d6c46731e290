package events

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocsExamples decodes every JSON example in docs/events.md that is a
// CloudEvent, so the documentation cannot drift from the decoder.
func TestDocsExamples(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "events.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```json\n(.*?)```").FindAllSubmatch(doc, -1)
	opts := testOpts()
	opts.ClientState = "" // the Graph example shows a placeholder
	n := 0
	for _, b := range blocks {
		body := b[1]
		if !strings.Contains(string(body), `"specversion"`) {
			continue
		}
		n++
		q := QueueHR
		if strings.Contains(string(body), `"io.holdfast.directory.`) || strings.Contains(string(body), `"Microsoft.Graph.`) {
			q = QueueDirectory
		}
		ev, err := Decode(q, body, opts)
		if err != nil {
			t.Errorf("docs example %d: %v\n%s", n, err, body)
			continue
		}
		checkAccepted(t, q, ev)
	}
	if n < 8 {
		t.Errorf("found %d CloudEvent examples in docs/events.md, want one per type (8)", n)
	}
}

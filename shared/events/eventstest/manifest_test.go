package eventstest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadManifest(t *testing.T) {
	tests := []struct {
		name    string
		readme  string
		files   []string
		entries int
		errs    []string
	}{
		{"matched", "# comment\na.json hr-offboarding malformed_json\n\nb.json directory-events too_large\n", []string{"a.json", "b.json"}, 2, nil},
		{"file without a line", "a.json hr-offboarding x\n", []string{"a.json", "b.json"}, 1, []string{"b.json has no README entry"}},
		{"line without a file", "a.json hr-offboarding x\nc.json hr-offboarding y\n", []string{"a.json"}, 2, []string{"lists missing file c.json"}},
		{"listed twice", "a.json hr-offboarding x\na.json hr-offboarding y\n", []string{"a.json"}, 2, []string{"lists a.json twice"}},
		{"bad line", "a.json hr-offboarding\n", []string{"a.json"}, 0, []string{"bad line"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "README"), []byte(tt.readme), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, f := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, f), []byte("{}"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			es, err := ReadManifest(dir)
			if len(es) != tt.entries {
				t.Errorf("%d entries, want %d", len(es), tt.entries)
			}
			if len(tt.errs) == 0 && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			for _, want := range tt.errs {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("error %v, want it to say %q", err, want)
				}
			}
		})
	}
	es, err := ReadManifest("../testdata/hostile")
	if err != nil || len(es) < 50 {
		t.Fatalf("hostile corpus: %d entries, %v", len(es), err)
	}
}

package testbed

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const wing = "github.com/holdfast/holdfast/shared/testbed"

// devCommands are the only shipped files allowed to import the test bed:
// the CLI's developer commands, in the holdfast binary but never run by
// the Functions host.
var devCommands = map[string]bool{
	"functions/commands.go": true, // holdfast sim
	"functions/scenario.go": true, // holdfast scenario, holdfast dev
	"functions/bench.go":    true, // holdfast bench
	"functions/chaos.go":    true, // holdfast chaos
}

// wingImports lists "file: import" for every non-test Go file under root,
// outside shared/testbed and not a developer command, that imports the
// test bed.
func wingImports(t *testing.T, root string) []string {
	t.Helper()
	var bad []string
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == "shared/testbed" || rel == "node_modules" || strings.HasPrefix(d.Name(), ".") && rel != "." {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") || devCommands[rel] {
			return nil
		}
		af, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range af.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if p == wing || strings.HasPrefix(p, wing+"/") {
				bad = append(bad, rel+": "+p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(bad)
	return bad
}

// TestNothingShippedImportsTheTestBed: the engine, adapters and the
// handler's serve path never link the simulator or the harnesses.
func TestNothingShippedImportsTheTestBed(t *testing.T) {
	if bad := wingImports(t, filepath.Join("..", "..")); len(bad) > 0 {
		t.Fatalf("shipped code imports the test bed:\n%s", strings.Join(bad, "\n"))
	}
}

// TestWingImportsCatchesViolations shows the check can fail.
func TestWingImportsCatchesViolations(t *testing.T) {
	root := t.TempDir()
	write := func(rel, src string) {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("shared/engine/bad.go", "package engine\nimport _ \""+wing+"/sim\"\n")
	write("shared/engine/ok_test.go", "package engine\nimport _ \""+wing+"/sim\"\n")
	write("shared/testbed/sim/x.go", "package sim\nimport _ \""+wing+"/host\"\n")
	write("functions/chaos.go", "package main\nimport _ \""+wing+"/chaos\"\n")
	write("functions/serve.go", "package main\nimport _ \""+wing+"/localstack\"\n")
	got := strings.Join(wingImports(t, root), "\n")
	want := "functions/serve.go: " + wing + "/localstack\nshared/engine/bad.go: " + wing + "/sim"
	if got != want {
		t.Fatalf("reported:\n%s\nwant:\n%s", got, want)
	}
}

package retention

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// vocabulary lists the holdfast packages retention may import: shared
// words (types, constants) with no I/O and no adapters. None is needed
// today; add one here only if it is itself pure vocabulary.
var vocabulary = map[string]bool{}

// ioPackages are standard-library packages that would give the pure core
// a way to reach the network, other processes or a database.
var ioPackages = map[string]bool{
	"net": true, "net/http": true, "net/rpc": true, "os/exec": true, "database/sql": true, "syscall": true,
}

// ioExceptions are the files allowed the file system: LoadPolicyFile reads
// the policy file at start-up (an impurity issue 14 still has to move out).
var ioExceptions = map[string]bool{"policyfile.go": true}

// foreignImports returns "file: import" for every import in the non-test
// Go files of dir that is outside the standard library and the holdfast
// vocabulary, or an I/O package in a file not excepted.
func foreignImports(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var bad []string
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(f)
		for _, imp := range af.Imports {
			p, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				t.Fatal(err)
			}
			// The standard library's first path element has no dot.
			std := !strings.Contains(strings.Split(p, "/")[0], ".")
			switch {
			case !std && !vocabulary[p]:
				bad = append(bad, name+": "+p)
			case std && (ioPackages[p] || p == "os" && !ioExceptions[name]):
				bad = append(bad, name+": "+p+" (I/O)")
			}
		}
	}
	sort.Strings(bad)
	return bad
}

// TestRetentionImportsOnlyStandardLibrary keeps the domain core pure: no
// adapter, SDK or engine package, and no network or process I/O.
func TestRetentionImportsOnlyStandardLibrary(t *testing.T) {
	if bad := foreignImports(t, "."); len(bad) > 0 {
		t.Fatalf("shared/retention imports outside the standard library and holdfast's vocabulary:\n%s", strings.Join(bad, "\n"))
	}
}

// TestForeignImportsCatchesViolations shows the dependency check can fail:
// a package importing an adapter, an SDK and the network is reported.
func TestForeignImportsCatchesViolations(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("clean.go", "package x\nimport (\n\t\"time\"\n\t\"strings\"\n)\n")
	write("adapter.go", "package x\nimport \"github.com/holdfast/holdfast/shared/store\"\n")
	write("sdk.go", "package x\nimport graph \"github.com/microsoftgraph/msgraph-sdk-go\"\n")
	write("net.go", "package x\nimport \"net/http\"\n")
	write("file.go", "package x\nimport \"os\"\n")
	write("policyfile.go", "package x\nimport \"os\"\n")
	write("adapter_test.go", "package x\nimport \"github.com/holdfast/holdfast/shared/testbed/sim\"\n")
	got := strings.Join(foreignImports(t, dir), "\n")
	want := strings.Join([]string{
		"adapter.go: github.com/holdfast/holdfast/shared/store",
		"file.go: os (I/O)",
		"net.go: net/http (I/O)",
		"sdk.go: github.com/microsoftgraph/msgraph-sdk-go",
	}, "\n")
	if got != want {
		t.Fatalf("reported:\n%s\nwant:\n%s", got, want)
	}
}

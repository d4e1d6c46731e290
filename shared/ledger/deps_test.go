package ledger_test

import (
	"go/build"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/holdfast/holdfast/"

// TestNeutral: the port and the memory store depend on the standard
// library and holdfast's own stdlib-only packages, never on an adapter
// (aztables, azcore, package store): the records are not shaped by Table
// Storage, and memledger builds without the Azure SDK.
func TestNeutral(t *testing.T) {
	root, err := filepath.Abs("../..") // the repository root
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var walk func(pkg string, from string)
	walk = func(pkg, from string) {
		if seen[pkg] {
			return
		}
		seen[pkg] = true
		p, err := build.ImportDir(filepath.Join(root, strings.TrimPrefix(pkg, module)), 0)
		if err != nil {
			t.Fatalf("%s: %v", pkg, err)
		}
		for _, imp := range p.Imports {
			switch {
			case strings.HasPrefix(imp, module):
				walk(imp, pkg)
			case !strings.Contains(strings.Split(imp, "/")[0], "."):
				// standard library
			default:
				t.Errorf("%s (reached from %s) imports %s", pkg, from, imp)
			}
		}
		if strings.HasSuffix(pkg, "/shared/store") {
			t.Errorf("%s reaches package store", from)
		}
	}
	for _, pkg := range []string{module + "shared/ledger", module + "shared/ledger/memledger"} {
		walk(pkg, "test")
	}
	if !seen[module+"shared/auditchain"] {
		t.Fatalf("walk did not reach auditchain (saw %v): the test checks nothing", seen)
	}
}

package testbed

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/holdfast/holdfast"

// sdkFree are the packages whose test binaries must not link the Graph SDK
// (msgraph-sdk-go and its Kiota stack), which makes every binary linking
// it slow to build: the engine's tests run on enginebed and simdirectory
// instead (issue 14). Graph.Client is tested in package graph, which runs
// the same Directory conformance suite.
var sdkFree = []string{
	"shared/engine",
	"shared/testbed/enginebed",
	"shared/testbed/directorytest",
	"shared/testbed/sim/simdirectory",
}

// sdkImport reports whether an import path is the Graph SDK or its stack.
func sdkImport(p string) bool {
	return strings.HasPrefix(p, "github.com/microsoftgraph/") || strings.HasPrefix(p, "github.com/microsoft/kiota")
}

// sdkChain returns the import chain from the test binary of the package in
// dir (its test files included) to the Graph SDK, or nil. It follows
// holdfast's own packages through their non-test files; only they import
// the SDK (no third-party package holdfast uses does).
func sdkChain(t *testing.T, root, dir string) []string {
	t.Helper()
	fset := token.NewFileSet()
	imports := func(pkgDir string, tests bool) []string {
		files, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(pkgDir), "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, f := range files {
			if !tests && strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range af.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				out = append(out, p)
			}
		}
		return out
	}
	start := module + "/" + dir
	parent := map[string]string{start: ""}
	queue := []string{start}
	for len(queue) > 0 {
		pkg := queue[0]
		queue = queue[1:]
		rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
		for _, p := range imports(rel, pkg == start) {
			if _, seen := parent[p]; seen {
				continue
			}
			parent[p] = pkg
			if sdkImport(p) {
				var chain []string
				for at := p; at != ""; at = parent[at] {
					chain = append([]string{strings.TrimPrefix(at, module+"/")}, chain...)
				}
				return chain
			}
			if strings.HasPrefix(p, module+"/") {
				queue = append(queue, p)
			}
		}
	}
	return nil
}

// TestEngineTestsLinkNoGraphSDK keeps the engine's test binary (and the
// harness it runs on) free of msgraph-sdk-go.
func TestEngineTestsLinkNoGraphSDK(t *testing.T) {
	root := filepath.Join("..", "..")
	for _, dir := range sdkFree {
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(dir))); err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		if chain := sdkChain(t, root, dir); chain != nil {
			t.Errorf("the tests of %s link the Graph SDK: %s", dir, strings.Join(chain, " -> "))
		}
	}
}

// TestSDKChainFindsTheSDK shows the check can fail: package graph's tests
// and the local stack (which wires the served binary) do link it.
func TestSDKChainFindsTheSDK(t *testing.T) {
	root := filepath.Join("..", "..")
	for _, dir := range []string{"shared/graph", "shared/testbed/localstack"} {
		if chain := sdkChain(t, root, dir); len(chain) < 2 {
			t.Errorf("%s: no chain to the Graph SDK found", dir)
		} else {
			t.Logf("%s", strings.Join(chain, " -> "))
		}
	}
}

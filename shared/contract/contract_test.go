package contract

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const root = "../.."

func strict(t *testing.T, name string, data []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Errorf("%s: %v", name, err)
	}
}

func fixtures(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(root, "testdata", dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no fixtures under testdata/%s", dir)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Join(dir, filepath.Base(p))] = b
	}
	return out
}

// TestFixturesMatchTypes: every fixture decodes into the type the simulator
// builds its answers from, with no field the type does not know. A fixture
// with a new documented field therefore fails here until the type (and so
// the simulator) carries it.
func TestFixturesMatchTypes(t *testing.T) {
	for name, b := range fixtures(t, "events") {
		var ev EntraEvent
		strict(t, name, b, &ev)
		if ev.SpecVersion != "1.0" || ev.ID == "" || ev.Source == "" || !strings.HasPrefix(ev.Type, "Microsoft.Graph.") {
			t.Errorf("%s: not a Graph CloudEvent: %+v", name, ev)
		}
		if ev.Data.ResourceData == nil && ev.Data.LifecycleEvent == "" {
			t.Errorf("%s: neither a change nor a lifecycle notification", name)
		}
	}
	for _, dir := range []string{"graph", "exo"} {
		for name, b := range fixtures(t, dir) {
			var a Answer
			strict(t, name, b, &a)
			if a.Status < 200 || a.Status > 599 || len(a.Body) == 0 {
				t.Errorf("%s: status %d, body %d bytes", name, a.Status, len(a.Body))
				continue
			}
			if a.Body[0] == '"' { // a text body
				continue
			}
			switch {
			case a.Status >= 400 && dir == "graph":
				var e GraphErrorBody
				strict(t, name, a.Body, &e)
				if e.Error.Code == "" {
					t.Errorf("%s: Graph error without code", name)
				}
			case a.Status >= 400:
				var e ExoErrorBody
				strict(t, name, a.Body, &e)
				if e.Error.Code == "" || e.Error.Message == "" {
					t.Errorf("%s: Exchange error without code or message", name)
				}
			case dir == "exo":
				var p ExoPage
				strict(t, name, a.Body, &p)
				if len(p.Value) == 0 {
					t.Errorf("%s: empty value", name)
				}
			}
		}
	}
}

// contractRows returns the first backticked cell of every table row in
// docs/contracts.md.
func contractRows(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "docs", "contracts.md"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?m)^\\| `([^`]+)`")
	rows := map[string]bool{}
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		rows[m[1]] = true
	}
	return rows
}

func parseDir(t *testing.T, dir string) []*ast.File {
	t.Helper()
	fset := token.NewFileSet()
	paths, err := filepath.Glob(filepath.Join(root, dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

// graphCalls reads the "Graph: METHOD /path" lines of the doc comment of
// every exported method of *Client in shared/graph. A method without one
// (and without "Graph: none") is an error: its calls cannot be checked.
func graphCalls(t *testing.T) map[string][]string {
	t.Helper()
	line := regexp.MustCompile(`(?m)^Graph: ((?:GET|POST|PATCH|PUT|DELETE) /\S+|none)\s*$`)
	calls := map[string][]string{}
	for _, f := range parseDir(t, "shared/graph") {
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv == nil || !fn.Name.IsExported() {
				continue
			}
			if star, ok := fn.Recv.List[0].Type.(*ast.StarExpr); !ok || star.X.(*ast.Ident).Name != "Client" {
				continue
			}
			var got []string
			if fn.Doc != nil {
				for _, m := range line.FindAllStringSubmatch(fn.Doc.Text(), -1) {
					if m[1] != "none" {
						got = append(got, m[1])
					}
					calls[fn.Name.Name] = got
				}
			}
			if _, ok := calls[fn.Name.Name]; !ok {
				t.Errorf("graph.Client.%s has no \"Graph: METHOD /path\" (or \"Graph: none\") line in its doc comment", fn.Name.Name)
			}
		}
	}
	return calls
}

// exoCmdlets lists the cmdlet names written as string literals in shared/exo.
func exoCmdlets(t *testing.T) []string {
	t.Helper()
	re := regexp.MustCompile(`^[A-Z][a-z]+-[A-Z][A-Za-z]+$`)
	seen := map[string]bool{}
	for _, f := range parseDir(t, "shared/exo") {
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			if s, err := strconv.Unquote(lit.Value); err == nil && re.MatchString(s) {
				seen[s] = true
			}
			return true
		})
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// TestContractsCoverEveryCall: every Graph path and Exchange cmdlet the
// clients use has a row in docs/contracts.md.
func TestContractsCoverEveryCall(t *testing.T) {
	rows := contractRows(t)
	n := 0
	for method, calls := range graphCalls(t) {
		for _, c := range calls {
			n++
			if !rows[c] {
				t.Errorf("graph.Client.%s calls %s, which has no row in docs/contracts.md", method, c)
			}
		}
	}
	cmdlets := exoCmdlets(t)
	for _, c := range cmdlets {
		if !rows[c] {
			t.Errorf("shared/exo runs %s, which has no row in docs/contracts.md", c)
		}
	}
	if n < 10 || len(cmdlets) < 7 {
		t.Errorf("found %d Graph calls and %d cmdlets; the scan is broken", n, len(cmdlets))
	}
}

package retention

import (
	"fmt"
	"go/ast"
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

// importsOf returns, per non-test Go file of dir (by base name), the
// packages it imports.
func importsOf(t *testing.T, dir string) map[string][]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			p, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				t.Fatal(err)
			}
			out[filepath.Base(f)] = append(out[filepath.Base(f)], p)
		}
	}
	return out
}

// foreignImports returns "file: import" for every import in the non-test
// Go files of dir that is outside the standard library and the holdfast
// vocabulary, or an I/O package in a file not excepted.
func foreignImports(t *testing.T, dir string) []string {
	t.Helper()
	var bad []string
	for name, imps := range importsOf(t, dir) {
		for _, p := range imps {
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

// decisionFields are the case fields only the case machine (Step, Decide
// and the evidence rule) may write: the state, its reason, the decision,
// the rescue's record, what the readings of the tenant record and the
// clocks they start, and the sweep's failure count. The engine still
// writes the mailbox identity seeds of a new case (locate, reconcile) and
// an alert's delivery record.
var decisionFields = map[string]bool{
	"State": true, "Reason": true, "ReasonKind": true,
	"Retention": true, "Policy": true, "DecisionSource": true, "Ticket": true, "LastWorkingDay": true,
	"HoldDurationDays": true, "ArchiveTarget": true, "RescueMode": true,
	"RescueNowFor": true, "RescueAttempts": true, "RescuedAt": true, "Restores": true, "RestoredAt": true,
	"RecoveredAt": true, "PreviousObjectID": true, "ObjectID": true, "MailboxPurgedAt": true,
	"HoldRequestedAt": true, "HoldResendAt": true, "HoldVerifiedAt": true,
	// What the readings record and the clocks they start.
	"Licensed": true, "SKUs": true, "RemovedSKUs": true, "LicenceRemovedAt": true,
	"HoldEnabled": true, "HoldEffectiveAt": true, "DeletedAt": true, "DeletionSource": true,
	"UserPurgedAt": true, "MailboxInactive": true, "UnconfirmedSince": true, "LastSighting": true,
	"RecheckAt": true, "Deadline": true, "DeadlineKind": true,
	// The sweep's failure count, which raises the caseFailing alert.
	"Failures": true, "LastError": true,
}

// decisionCalls are the Case methods and retention functions that take a
// decision; only the machine calls them. (MarkAlertSent is not one: the
// engine records a delivery with it.)
var decisionCalls = map[string]bool{"Explain": true, "Decide": true, "SetDeadline": true, "ClearDeadline": true, "LearnMailbox": true}

// caseWrites returns "file:line: what" for every write of a decision field
// of a case in the non-test Go files of dir, and every decision call. A
// case is any .Case field (r.Case.State), and any name declared as a
// retention.Case or a pointer to one, or set from a .Case field (c :=
// &r.Case): names are resolved per function, without type checking.
func caseWrites(t *testing.T, dir string) []string {
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
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		report := func(n ast.Node, what string) {
			p := fset.Position(n.Pos())
			bad = append(bad, fmt.Sprintf("%s:%d: %s", filepath.Base(p.Filename), p.Line, what))
		}
		for _, d := range af.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			cases := caseNames(fn)
			var isCase func(x ast.Expr) bool
			isCase = func(x ast.Expr) bool {
				switch x := x.(type) {
				case *ast.Ident:
					return cases[x.Name]
				case *ast.SelectorExpr:
					return x.Sel.Name == "Case"
				case *ast.StarExpr:
					return isCase(x.X)
				case *ast.ParenExpr:
					return isCase(x.X)
				}
				return false
			}
			lhs := func(x ast.Expr) {
				if s, ok := x.(*ast.SelectorExpr); ok && decisionFields[s.Sel.Name] && isCase(s.X) {
					report(x, "writes "+s.Sel.Name)
				}
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.AssignStmt:
					for _, x := range n.Lhs {
						lhs(x)
					}
				case *ast.IncDecStmt:
					lhs(n.X)
				case *ast.UnaryExpr: // &c.State handed to something that writes it
					if n.Op == token.AND {
						lhs(n.X)
					}
				case *ast.CallExpr:
					if s, ok := n.Fun.(*ast.SelectorExpr); ok && decisionCalls[s.Sel.Name] {
						report(n, "calls "+s.Sel.Name)
					}
				}
				return true
			})
		}
	}
	sort.Strings(bad)
	return bad
}

// caseNames returns the names that hold a case in fn: parameters and
// variables typed retention.Case or *retention.Case, and names assigned
// from a .Case field.
func caseNames(fn *ast.FuncDecl) map[string]bool {
	names := map[string]bool{}
	isCaseType := func(x ast.Expr) bool {
		if st, ok := x.(*ast.StarExpr); ok {
			x = st.X
		}
		s, ok := x.(*ast.SelectorExpr)
		return ok && s.Sel.Name == "Case"
	}
	fromCase := func(x ast.Expr) bool {
		if u, ok := x.(*ast.UnaryExpr); ok && u.Op == token.AND {
			x = u.X
		}
		s, ok := x.(*ast.SelectorExpr)
		return ok && s.Sel.Name == "Case"
	}
	if fn.Type.Params != nil {
		for _, fld := range fn.Type.Params.List {
			if isCaseType(fld.Type) {
				for _, n := range fld.Names {
					names[n.Name] = true
				}
			}
		}
	}
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.ValueSpec:
			for i, id := range n.Names {
				if n.Type != nil && isCaseType(n.Type) || i < len(n.Values) && fromCase(n.Values[i]) {
					names[id.Name] = true
				}
			}
		case *ast.AssignStmt:
			for i, x := range n.Lhs {
				if id, ok := x.(*ast.Ident); ok && i < len(n.Rhs) && fromCase(n.Rhs[i]) {
					names[id.Name] = true
				}
			}
		}
		return true
	})
	return names
}

// TestEngineTakesNoDecision: the engine fetches facts, executes actions and
// commits; every state and decision is retention.Step's.
func TestEngineTakesNoDecision(t *testing.T) {
	if bad := caseWrites(t, filepath.Join("..", "engine")); len(bad) > 0 {
		t.Fatalf("shared/engine decides what retention.Step should:\n%s", strings.Join(bad, "\n"))
	}
}

// TestCaseWritesCatchesViolations shows the check can fail.
func TestCaseWritesCatchesViolations(t *testing.T) {
	dir := t.TempDir()
	src := `package x
func f(r *record, a *alert) {
	c := &r.Case
	c.State = "x"
	r.Case.Reason, c.UPN = "y", "u"
	c.RescueAttempts++
	c.Explain("", "z")
	retention.Decide(c, d, p)
	a.State = "fine: not a case"
	c.EmployeeID = "fine: not a decision"
}
func g(kase *retention.Case, other *thing) {
	kase.Retention = "retain"
	other.State = "fine"
	var v retention.Case
	v.MailboxPurgedAt = nil
	w := r.Case
	w.State = "y"
}
`
	if err := os.WriteFile(filepath.Join(dir, "x.go"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "x_test.go"), []byte("package x\nfunc g(c *C) { c.State = 1 }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(caseWrites(t, dir), "\n")
	want := strings.Join([]string{"x.go:13: writes Retention", "x.go:16: writes MailboxPurgedAt", "x.go:18: writes State",
		"x.go:4: writes State", "x.go:5: writes Reason", "x.go:6: writes RescueAttempts", "x.go:7: calls Explain", "x.go:8: calls Decide"}, "\n")
	if got != want {
		t.Fatalf("reported:\n%s\nwant:\n%s", got, want)
	}
}

// adapterImport reports whether p is an adapter, an SDK or the test bed:
// what the engine must reach only through the ports it declares.
func adapterImport(p string) bool {
	for _, a := range []string{
		"github.com/holdfast/holdfast/shared/store", "github.com/holdfast/holdfast/shared/graph",
		"github.com/holdfast/holdfast/shared/exo", "github.com/holdfast/holdfast/shared/servicebus",
		"github.com/holdfast/holdfast/shared/notify",
		"github.com/holdfast/holdfast/shared/app", "github.com/holdfast/holdfast/shared/testbed",
		"github.com/Azure/", "github.com/microsoftgraph/", "github.com/microsoft/kiota",
	} {
		// A trailing slash names a whole module tree; otherwise the
		// package and its subpackages.
		if strings.HasSuffix(a, "/") && strings.HasPrefix(p, a) || p == a || strings.HasPrefix(p, a+"/") {
			return true
		}
	}
	return false
}

// engineAdapterImports lists "file: import" for each adapter import in the
// non-test Go files of dir.
func engineAdapterImports(t *testing.T, dir string) []string {
	t.Helper()
	var bad []string
	for name, imps := range importsOf(t, dir) {
		for _, p := range imps {
			if adapterImport(p) {
				bad = append(bad, name+": "+p)
			}
		}
	}
	sort.Strings(bad)
	return bad
}

// TestEngineReachesAdaptersOnlyThroughPorts: the engine imports no storage,
// Graph, Exchange, Service Bus or alert-channel adapter, SDK, wiring or test
// bed package; it is typed with the ledger port's records, the alert
// vocabulary and its own interfaces.
func TestEngineReachesAdaptersOnlyThroughPorts(t *testing.T) {
	if bad := engineAdapterImports(t, "../engine"); len(bad) > 0 {
		t.Fatalf("shared/engine imports adapters directly:\n%s", strings.Join(bad, "\n"))
	}
	dir := t.TempDir()
	src := "package x\nimport (\n\t\"github.com/holdfast/holdfast/shared/store\"\n\t\"github.com/holdfast/holdfast/shared/ledger\"\n\t\"github.com/Azure/azure-sdk-for-go/sdk/data/aztables\"\n\t\"github.com/holdfast/holdfast/shared/storeish\"\n)\n"
	if err := os.WriteFile(filepath.Join(dir, "x.go"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(engineAdapterImports(t, dir), "\n")
	want := "x.go: github.com/Azure/azure-sdk-for-go/sdk/data/aztables\nx.go: github.com/holdfast/holdfast/shared/store"
	if got != want {
		t.Fatalf("the check reported:\n%s\nwant:\n%s", got, want)
	}
}

package probe

import (
	"context"
	"encoding/json"
	"go/parser"
	"go/token"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestImportsNoTenantWriter: the probe package imports only the standard
// library, so no client with a write method (shared/graph, shared/exo,
// shared/engine, shared/notify, ...) is reachable from it: its only way to
// the tenant is Reader.
func TestImportsNoTenantWriter(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			n++
			path, _ := strconv.Unquote(imp.Path.Value)
			if first, _, _ := strings.Cut(path, "/"); strings.Contains(first, ".") {
				t.Errorf("%s imports %s: the probe may import only the standard library", f, path)
			}
		}
	}
	if n == 0 {
		t.Fatal("no imports found: the scan is broken")
	}
}

// TestReaderOnlyReads: Reader has exactly its two read methods.
func TestReaderOnlyReads(t *testing.T) {
	rt := reflect.TypeFor[Reader]()
	var names []string
	for i := 0; i < rt.NumMethod(); i++ {
		names = append(names, rt.Method(i).Name)
	}
	if !slices.Equal(names, []string{"ExchangeGet", "GraphGet"}) {
		t.Fatalf("Reader methods %v, want exactly ExchangeGet and GraphGet", names)
	}
}

// fixtureReader answers from canned bodies and records what was asked.
type fixtureReader struct {
	graph    map[string]Answer // by path
	exchange map[string]Answer // by cmdlet + " " + sorted param names
	asked    []string
}

func (f *fixtureReader) GraphGet(_ context.Context, path string, _ url.Values) (Answer, error) {
	f.asked = append(f.asked, "GET "+path)
	if a, ok := f.graph[path]; ok {
		return a, nil
	}
	return Answer{Status: 200, Body: []byte(`{"value":[]}`)}, nil
}

func (f *fixtureReader) ExchangeGet(_ context.Context, cmdlet string, params map[string]any, _ []string) (Answer, error) {
	f.asked = append(f.asked, cmdlet)
	key := cmdlet
	for _, k := range []string{"SoftDeletedMailbox", "InactiveMailboxOnly"} {
		if params[k] == true {
			key += " -" + k
		}
	}
	if a, ok := f.exchange[key]; ok {
		return a, nil
	}
	return Answer{Status: 200, Body: []byte(`{"value":[]}`)}, nil
}

func fixture(t *testing.T, path string) Answer {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", path))
	if err != nil {
		t.Fatal(err)
	}
	var a struct {
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
		Body    json.RawMessage   `json:"body"`
	}
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	for k, v := range a.Headers {
		h.Set(k, v)
	}
	return Answer{Status: a.Status, Header: h, Body: a.Body}
}

// TestRowsAgreeWithFixtures: the contract fixtures under testdata/ match
// the rows the probe checks, so the probe's expectations are the
// contracts' and not a second, drifting copy.
func TestRowsAgreeWithFixtures(t *testing.T) {
	user := fixture(t, "graph/get-user.json")
	var u map[string]any
	_ = json.Unmarshal(user.Body, &u)
	list, _ := json.Marshal(map[string]any{"value": []any{u}})
	f := &fixtureReader{
		graph: map[string]Answer{
			"users": {Status: 200, Body: list},
			"users/" + url.PathEscape(u["id"].(string)):   user,
			"directory/deletedItems/microsoft.graph.user": fixture(t, "graph/list-deleted-users.json"),
		},
		exchange: map[string]Answer{
			"Get-Mailbox -SoftDeletedMailbox":     fixture(t, "exo/get-mailbox-softdeleted.json"),
			"Get-MailboxRestoreRequest":           fixture(t, "exo/get-mailboxrestorerequest.json"),
			"Get-MailboxRestoreRequestStatistics": fixture(t, "exo/get-mailboxrestorerequeststatistics.json"),
		},
	}
	rep := Run(context.Background(), f, Options{})
	byID := map[string]RowResult{}
	for _, r := range rep.Rows {
		byID[r.ID] = r
	}
	for _, id := range []string{"graph.users.list", "graph.users.get", "graph.deletedUsers.list", "exo.mailbox.softDeleted", "exo.restoreRequests", "exo.restoreStatistics"} {
		if r := byID[id]; r.Status != StatusMatches || !r.Seen {
			t.Errorf("%s against its fixture: %s %+v %s", id, r.Status, r.Differences, r.Note)
		}
	}
	for _, q := range f.asked {
		if !strings.HasPrefix(q, "GET ") && !strings.HasPrefix(q, "Get-") {
			t.Errorf("the probe asked %q: not a read", q)
		}
	}
	// The Exchange fixture carries Rate-Limit-* headers: the report names
	// them with their value types.
	var names []string
	for _, h := range rep.Throttling {
		names = append(names, h.Name+":"+h.ValueType)
	}
	for _, want := range []string{"Rate-Limit-Limit:integer", "Rate-Limit-Remaining:integer", "Rate-Limit-Reset:date"} {
		if !slices.Contains(names, want) {
			t.Errorf("throttling headers %v: missing %s", names, want)
		}
	}
}

func TestCompare(t *testing.T) {
	row := Row{ID: "r", Fields: map[string]string{
		"id": tString, "n": tNumber, "opt": tString + "|" + tAbsent, "list": tArray, "list[].x": tString, "o": tObject, "o.k": tBool,
	}, Enums: map[string][]string{"st": {"A", "B"}}}
	row.Fields["st"] = tString
	for _, tc := range []struct {
		name  string
		items string
		want  []Difference
		extra []string
	}{
		{"matches", `[{"id":"1","n":2,"list":[{"x":"a"}],"o":{"k":true},"st":"A"}]`, nil, nil},
		{"optional absent, empty array", `[{"id":"1","n":2,"list":[],"o":{"k":false},"st":"B"}]`, nil, nil},
		{"renamed", `[{"idV2":"1","n":2,"list":[],"o":{"k":true},"st":"A"}]`, []Difference{{Field: "id", Kind: "missing", Want: tString}}, []string{"idV2: string"}},
		{"number as string", `[{"id":"1","n":"2","list":[],"o":{"k":true},"st":"A"}]`, []Difference{{Field: "n", Kind: "type", Want: tNumber, Got: tString}}, nil},
		{"nested type", `[{"id":"1","n":2,"list":[{"x":1}],"o":{"k":"yes"},"st":"A"}]`, []Difference{{Field: "list[].x", Kind: "type", Want: tString, Got: tNumber}, {Field: "o.k", Kind: "type", Want: tBool, Got: tString}}, nil},
		{"unknown status", `[{"id":"1","n":2,"list":[],"o":{"k":true},"st":"Paused"}]`, []Difference{{Field: "st", Kind: "value", Want: "one of A,B", Got: "Paused"}}, nil},
		{"status value not a word is not echoed", `[{"id":"1","n":2,"list":[],"o":{"k":true},"st":"a@b.example"}]`, []Difference{{Field: "st", Kind: "value", Want: "one of A,B", Got: "(not a status word; 11 characters)"}}, nil},
		{"annotations are not fields", `[{"id":"1","id@odata.type":"#Guid","n":2,"list":[],"o":{"k":true},"st":"A"}]`, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var items []map[string]any
			if err := json.Unmarshal([]byte(tc.items), &items); err != nil {
				t.Fatal(err)
			}
			res := &RowResult{}
			compare(row, items, res)
			if !reflect.DeepEqual(res.Differences, tc.want) {
				t.Errorf("differences %+v, want %+v", res.Differences, tc.want)
			}
			if !reflect.DeepEqual(res.Extra, tc.extra) {
				t.Errorf("extra %v, want %v", res.Extra, tc.extra)
			}
			wantStatus := StatusMatches
			if len(tc.want) > 0 {
				wantStatus = StatusDiffers
			}
			if res.Status != wantStatus {
				t.Errorf("status %s, want %s", res.Status, wantStatus)
			}
		})
	}
}

func TestScrubHidesIdsAndAddresses(t *testing.T) {
	p := &run{key: []byte("k")}
	got := scrub(`GET /users/8d4b2f6a-1c3e-4a5b-9e7d-2f0c6b8a4e13 for dana.reyes@fabrikamtest.com failed`, p.hash)
	if strings.Contains(got, "8d4b2f6a") || strings.Contains(got, "dana") || strings.Count(got, "h:") != 2 {
		t.Fatalf("scrubbed: %s", got)
	}
}

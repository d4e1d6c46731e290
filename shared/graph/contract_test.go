package graph_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/holdfast/holdfast/shared/contract"
	"github.com/holdfast/holdfast/shared/graph"
	"github.com/holdfast/holdfast/shared/tenant"
	"github.com/holdfast/holdfast/shared/testbed/sim"
)

// fixture reads testdata/graph/<name> as the answer the fake gives.
func fixture(t *testing.T, name string) reply {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "graph", name))
	if err != nil {
		t.Fatal(err)
	}
	var a contract.Answer
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatal(err)
	}
	h := map[string]string{}
	for k, v := range a.Headers {
		if k != "Content-Type" {
			h[k] = v
		}
	}
	return reply{status: a.Status, body: string(a.Body), headers: h}
}

// TestFixtureAnswersDecode: the client (msgraph-sdk-go underneath) reads
// every documented answer under testdata/graph as holdfast expects.
func TestFixtureAnswersDecode(t *testing.T) {
	const id = "8d4b2f6a-1c3e-4a5b-9e7d-2f0c6b8a4e13"
	ctx := context.Background()
	f := newFake(t)
	f.on("GET /v1.0/users/"+id, fixture(t, "get-user.json"))
	f.on("GET /v1.0/directory/deletedItems/graph.user", fixture(t, "list-deleted-users.json")) // the SDK's short cast
	f.on("GET /v1.0/users/nobody@fabrikamtest.com", fixture(t, "error-not-found.json"))
	f.on("GET /v1.0/users/busy@fabrikamtest.com", fixture(t, "throttled.json"))
	c := f.client(t, graph.Options{MaxRetries: -1})

	u, err := c.GetUser(ctx, id)
	if err != nil || u.ID != id || u.UserPrincipalName != "dana.reyes@fabrikamtest.com" || u.AccountEnabled ||
		u.EmployeeID != "F-20417" || len(u.AssignedSKUs) != 1 || u.UsageLocation != "NL" {
		t.Errorf("user %+v, %v", u, err)
	}
	var deleted []tenant.User
	if err := c.ListDeletedUsers(ctx, func(u tenant.User) error { deleted = append(deleted, u); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(deleted) != 1 || deleted[0].DeletedAt == nil || deleted[0].DeletedAt.Format("2006-01-02T15:04:05Z") != "2026-02-10T09:40:49Z" {
		t.Errorf("deleted users %+v", deleted)
	}
	if _, err := c.GetUser(ctx, "nobody@fabrikamtest.com"); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("404 fixture: %v, want ErrNotFound", err)
	}
	if _, err := c.GetUser(ctx, "busy@fabrikamtest.com"); !errors.Is(err, tenant.ErrThrottled) {
		t.Errorf("429 fixture: %v, want ErrThrottled", err)
	}
}

// graphRows reads the first backticked cell of every docs/contracts.md row.
func graphRows(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "contracts.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([^`]+)`").FindAllStringSubmatch(string(b), -1) {
		rows[m[1]] = true
	}
	return rows
}

var idSegment = regexp.MustCompile(`^(?i:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[^/]*@[^/]*)$`)

// contractPath turns a request path into its docs/contracts.md form:
// /v1.0 dropped, ids and UPNs as {id}, the SDK's short cast in Learn's form.
func contractPath(method, path string) string {
	segs := strings.Split(strings.TrimPrefix(path, "/v1.0"), "/")
	for i, s := range segs {
		if u, err := url.PathUnescape(s); err == nil {
			s = u
		}
		switch {
		case idSegment.MatchString(s):
			segs[i] = "{id}"
		case s == "graph.user":
			segs[i] = "microsoft.graph.user"
		}
	}
	return method + " " + strings.Join(segs, "/")
}

// checkGraphRequests records every Graph request the simulator serves
// during the test and, at its end, fails for any without a contracts row:
// a dynamic check of the "Graph:" annotations the contract test reads.
func checkGraphRequests(t *testing.T, s *sim.Sim) {
	t.Helper()
	var mu sync.Mutex
	seen := map[string]bool{}
	s.OnRequest(func(ri sim.RequestInfo) {
		if ri.API == "graph" {
			mu.Lock()
			seen[contractPath(ri.Method, ri.Path)] = true
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		rows := graphRows(t)
		mu.Lock()
		defer mu.Unlock()
		if len(seen) < 8 {
			t.Errorf("only %d distinct Graph requests seen: %v", len(seen), seen)
		}
		for p := range seen {
			if !rows[p] {
				t.Errorf("the client sent %s, which has no row in docs/contracts.md", p)
			}
		}
	})
}

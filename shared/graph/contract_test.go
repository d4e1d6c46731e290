package graph_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/holdfast/holdfast/shared/contract"
	"github.com/holdfast/holdfast/shared/graph"
	"github.com/holdfast/holdfast/shared/tenant"
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

package exo_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/holdfast/holdfast/shared/contract"
	"github.com/holdfast/holdfast/shared/exo"
	"github.com/holdfast/holdfast/shared/tenant"
	"github.com/holdfast/holdfast/shared/testbed/sim"
)

// fixture reads testdata/exo/<name> as the answer the fake server gives.
func fixture(t *testing.T, name string) reply {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "exo", name))
	if err != nil {
		t.Fatal(err)
	}
	var a contract.Answer
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatal(err)
	}
	body := string(a.Body)
	if len(a.Body) > 0 && a.Body[0] == '"' {
		_ = json.Unmarshal(a.Body, &body)
	}
	return reply{status: a.Status, body: body, headers: a.Headers}
}

// TestFixtureAnswersDecode: the client reads every documented answer under
// testdata/exo as holdfast expects.
func TestFixtureAnswersDecode(t *testing.T) {
	ctx := context.Background()
	f := newFake(t)
	c := f.client(t, exo.Options{MaxRetries: -1})

	f.on("Get-Mailbox", fixture(t, "get-mailbox-softdeleted.json"))
	mb, err := c.GetMailbox(ctx, "9a3e5c71-2b4d-4f6e-8a0c-1d3f5b7e9c24", tenant.ScopeSoftDeleted)
	if err != nil {
		t.Fatal(err)
	}
	if mb.ExchangeGUID != "9a3e5c71-2b4d-4f6e-8a0c-1d3f5b7e9c24" || !mb.IsSoftDeletedByRemove || !mb.LitigationHoldEnabled ||
		mb.LitigationHoldDuration != "Unlimited" || mb.WhenSoftDeleted == nil || !strings.HasPrefix(mb.LegacyExchangeDN, "/o=ExchangeLabs/") {
		t.Errorf("mailbox %+v", mb)
	}

	f.on("Get-MailboxRestoreRequest", fixture(t, "get-mailboxrestorerequest.json"))
	rs, err := c.GetRestoreRequests(ctx, "holdfast-8d4b2f6a")
	if err != nil || len(rs) != 1 || rs[0].Status != "AutoSuspended" || rs[0].RequestGUID != "e7c1a9d3-5b2f-4e8a-b6d0-3f9c1e7a5b28" {
		t.Errorf("restore requests %+v, %v", rs, err)
	}

	f.on("Get-MailboxRestoreRequestStatistics", fixture(t, "get-mailboxrestorerequeststatistics.json"))
	st, err := c.GetRestoreStatistics(ctx, "e7c1a9d3-5b2f-4e8a-b6d0-3f9c1e7a5b28")
	if err != nil || st.Status != "Retrying" || st.PercentComplete != 37 || st.StatusDetail != "StalledDueToTarget_MdbAvailability" {
		t.Errorf("statistics %+v, %v", st, err)
	}
}

// TestErrorClassificationRules: each rule of docs/contracts.md "Exchange
// error classification" on the documented answers and on one signal at a
// time. An answer no rule knows is transient and kept verbatim.
func TestErrorClassificationRules(t *testing.T) {
	type want struct {
		kind         error
		unclassified bool
		code         string
	}
	tests := []struct {
		name string
		rep  reply
		want want
	}{
		{"E4 captured not-found body", fixture(t, "error-object-not-found.json"), want{tenant.ErrNotFound, false, "Ex6F9304"}},
		{"unknown body: transient, verbatim", fixture(t, "error-unclassified.json"), want{tenant.ErrTransient, true, "ExB41C07"}},
		{"E2 internal exception only", fixture(t, "error-internal-exception-only.json"), want{tenant.ErrTransient, false, "StorageTransientException"}},
		{"E1 concurrency text on 429", fixture(t, "throttled-concurrency.json"), want{tenant.ErrThrottled, false, ""}},
		{"E1 concurrency text on 400", reply{status: 400, body: "You have reached the maximum number of concurrent requests per tenant. Please wait and try again."},
			want{tenant.ErrThrottled, false, ""}},
		{"E4 header only", reply{status: 400, headers: map[string]string{"x-ExceptionType": "ManagementObjectNotFoundException"},
			body: exoError("BadRequest", "", "", "Error executing cmdlet")}, want{tenant.ErrNotFound, false, "BadRequest"}},
		{"bare 404 is not 'not found'", reply{status: 404, body: "no such endpoint"}, want{tenant.ErrTransient, true, ""}},
		{"E2 DCOverloaded", reply{status: 500, body: exoError("InternalServerError", "Ex1|Microsoft.Exchange.Data.Directory.DCOverloadedException|busy", "", "x")},
			want{tenant.ErrTransient, false, "Ex1"}},
		{"E3 503", reply{status: 503, body: ""}, want{tenant.ErrTransient, false, ""}},
		{"E5 ambiguous", reply{status: 400, body: exoError("BadRequest", "Ex2|Microsoft.Exchange.Configuration.Tasks.ManagementObjectAmbiguousException|two match", "", "x")},
			want{tenant.ErrConflict, false, "Ex2"}},
		{"403 unknown: transient", reply{status: 403, body: exoError("Forbidden", "", "", "Access denied")}, want{tenant.ErrTransient, true, "Forbidden"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.on("Get-Mailbox", tt.rep)
			c := f.client(t, exo.Options{MaxRetries: -1})
			_, err := c.GetMailbox(context.Background(), "x", tenant.ScopeActive)
			var se *tenant.ServiceError
			if !errors.As(err, &se) {
				t.Fatalf("err = %T %v", err, err)
			}
			if !errors.Is(err, tt.want.kind) || se.Unclassified != tt.want.unclassified || se.Code != tt.want.code {
				t.Errorf("got kind %v unclassified %v code %q (%v), want %+v", se.Kind, se.Unclassified, se.Code, err, tt.want)
			}
			if se.Unclassified && (!strings.Contains(err.Error(), "response: ") || se.Raw == "") {
				t.Errorf("unclassified error does not carry the response verbatim: %v", err)
			}
			if tt.rep.status == http.StatusOK {
				t.Fatal("test answers must fail")
			}
		})
	}
}

// TestX500InsteadOfAllowLegacyDNMismatch: against the simulator, which
// enforces the LegacyExchangeDN check Learn describes, a restore without
// -AllowLegacyDNMismatch is refused with ErrLegacyDNMismatch until the
// source's LegacyExchangeDN is on the target as an X500 address, and then
// accepted. The Set-Mailbox body carries the hashtable form.
func TestX500InsteadOfAllowLegacyDNMismatch(t *testing.T) {
	ctx := context.Background()
	s, _, base := startSim(t)
	c := simClient(t, base, exo.Options{})
	checkCmdletRows(t, s)
	if err := s.Admin(ctx, sim.AdminAction{Action: "deleteUser", UPN: "ann@contoso.test"}); err != nil {
		t.Fatal(err)
	}
	src, err := c.GetMailbox(ctx, "ann@contoso.test", tenant.ScopeSoftDeleted)
	if err != nil {
		t.Fatal(err)
	}
	req := tenant.RestoreRequest{Name: "x500", SourceMailbox: src.ExchangeGUID, TargetMailbox: "vault@contoso.test"}
	if _, err := c.NewRestoreRequest(ctx, req); !errors.Is(err, tenant.ErrLegacyDNMismatch) {
		t.Fatalf("restore without X500 or switch: %v, want ErrLegacyDNMismatch", err)
	}
	if err := c.AddX500Address(ctx, "vault@contoso.test", src.LegacyExchangeDN); err != nil {
		t.Fatal(err)
	}
	vault, err := c.GetMailbox(ctx, "vault@contoso.test", tenant.ScopeActive)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range vault.EmailAddresses {
		found = found || a == "X500:"+src.LegacyExchangeDN
	}
	if !found {
		t.Fatalf("X500 address not on the target: %v", vault.EmailAddresses)
	}
	if _, err := c.NewRestoreRequest(ctx, req); err != nil {
		t.Fatalf("restore with the X500 address in place: %v", err)
	}
	// The same address on a second recipient is a conflict (proxy
	// addresses are unique): the caller's cue for the documented fallback.
	if err := c.AddX500Address(ctx, "fay@contoso.test", src.LegacyExchangeDN); !errors.Is(err, tenant.ErrConflict) {
		t.Fatalf("duplicate X500: %v, want ErrConflict", err)
	}
}

func TestAddX500AddressShape(t *testing.T) {
	f := newFake(t)
	f.on("Set-Mailbox", ok())
	c := f.client(t, exo.Options{})
	dn := "/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=4c2e8a6b0d1f43a597b3e5c7d9f1a2b4-dana"
	if err := c.AddX500Address(context.Background(), "vault@contoso.test", dn); err != nil {
		t.Fatal(err)
	}
	p := f.requests()[0].params()
	ea, _ := p["EmailAddresses"].(map[string]any)
	add, _ := ea["Add"].([]any)
	if ea["@odata.type"] != "#Exchange.GenericHashTable" || len(add) != 1 || add[0] != "X500:"+dn || p["Identity"] != "vault@contoso.test" {
		t.Fatalf("Set-Mailbox parameters %v", p)
	}
	if c.AddX500Address(context.Background(), "vault@contoso.test", "not-a-dn") == nil {
		t.Fatal("a value that is not a LegacyExchangeDN was sent")
	}
}

// checkCmdletRows records every cmdlet the simulator serves during the test
// and, at its end, fails for any cmdlet or parameter docs/contracts.md does
// not name in the cmdlet's row: a dynamic check beside the source scan.
func checkCmdletRows(t *testing.T, s *sim.Sim) {
	t.Helper()
	var mu sync.Mutex
	seen := map[string]map[string]bool{}
	s.OnRequest(func(ri sim.RequestInfo) {
		if ri.API != "exchange" {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if seen[ri.Op] == nil {
			seen[ri.Op] = map[string]bool{}
		}
		for p := range ri.Params {
			seen[ri.Op][p] = true
		}
	})
	t.Cleanup(func() {
		b, err := os.ReadFile(filepath.Join("..", "..", "docs", "contracts.md"))
		if err != nil {
			t.Fatal(err)
		}
		rows := map[string]string{}
		for _, m := range regexp.MustCompile("(?m)^\\| `([^`]+)`(.*)$").FindAllStringSubmatch(string(b), -1) {
			rows[m[1]] = m[2]
		}
		mu.Lock()
		defer mu.Unlock()
		for cmdlet, params := range seen {
			if cmdlet == "Remove-Mailbox" {
				continue // driven through Invoke by a test only; holdfast never sends it
			}
			row, ok := rows[cmdlet]
			if !ok {
				t.Errorf("%s was sent and has no row in docs/contracts.md", cmdlet)
				continue
			}
			for p := range params {
				if strings.Contains(p, "@") {
					continue // OData annotations
				}
				if !strings.Contains(row, "`"+p+"`") {
					t.Errorf("%s -%s was sent and its row in docs/contracts.md does not name it", cmdlet, p)
				}
			}
		}
	})
}

package exo_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/google/uuid"

	"github.com/holdfast/holdfast/shared/exo"
	"github.com/holdfast/holdfast/shared/securestring"
	"github.com/holdfast/holdfast/shared/tenant"
)

const tenantID = "4a1c2d9e-1111-4222-8333-944455566677"

// Shapes follow the captured Get-Mailbox response and the error shape
// parsed by the EXO module, CIPP and ExoHelper (reference section A).

const annMailbox = `{
  "ExchangeGuid@odata.type": "#Guid", "ExchangeGuid": "2be92a50-7cc5-4a40-8471-b7ce9c2e3426",
  "ArchiveGuid@odata.type": "#Guid", "ArchiveGuid": "00000000-0000-0000-0000-000000000000",
  "DistinguishedName": "CN=Ann,OU=contoso.onmicrosoft.com,OU=Microsoft Exchange Hosted Organizations,DC=EURPR07A013,DC=PROD,DC=OUTLOOK,DC=COM",
  "LegacyExchangeDN": "/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=0a1b2c3d4e5f40718293a4b5c6d7e8f9-ann",
  "PrimarySmtpAddress": "ann@contoso.com", "UserPrincipalName": "ann@contoso.com", "Alias": "ann",
  "ExternalDirectoryObjectId": "1e2f3a4b-0000-4000-8000-000000000001",
  "RecipientTypeDetails": "UserMailbox",
  "LitigationHoldEnabled": true,
  "LitigationHoldDate@data.type": "System.DateTime", "LitigationHoldDate": "2022-09-21T08:07:47.0000000+00:00",
  "LitigationHoldOwner": "admin@contoso.com",
  "LitigationHoldDuration": "2555.00:00:00",
  "RetentionComment": "Leaver: case 42",
  "InPlaceHolds@odata.type": "#Collection(String)", "InPlaceHolds": ["UniH7d4a1e2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b", "mbxa1b2c3d4e5f64718293a4b5c6d7e8f9:2"],
  "IsInactiveMailbox": false, "IsSoftDeletedByRemove": false, "IsSoftDeletedByDisable": false,
  "WhenSoftDeleted": null,
  "AutoExpandingArchiveEnabled": false,
  "ArchiveStatus": "None",
  "RecipientSoftDeletedStatus": 0
}`

const softDeletedMailbox = `{
  "ExchangeGuid": "5c0a1b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b", "ArchiveGuid": "6d1b2c3d-4e5f-4061-9b7c-8d9e0f1a2b3c",
  "DistinguishedName": "CN=Soft Deleted Objects\\Bob,OU=contoso.onmicrosoft.com",
  "PrimarySmtpAddress": "bob@contoso.com", "UserPrincipalName": "bob@contoso.com", "Alias": "bob",
  "ExternalDirectoryObjectId": "", "RecipientTypeDetails": "UserMailbox",
  "LitigationHoldEnabled": "True", "LitigationHoldDate": "2024-01-02T03:04:05.0000000",
  "LitigationHoldDuration": "Unlimited", "InPlaceHolds": null,
  "IsInactiveMailbox": true, "IsSoftDeletedByRemove": true, "IsSoftDeletedByDisable": false,
  "WhenSoftDeleted": "2024-03-01T10:00:00.0000000+01:00",
  "AutoExpandingArchiveEnabled": true, "ArchiveStatus": "Active"
}`

func page(next string, values ...string) string {
	s := `{"@odata.context":"https://outlook.office.com/adminapi/beta/` + tenantID + `/$metadata#Collection(Exchange.GenericHashTable)","adminapi.warnings@odata.type":"#Collection(String)","@adminapi.warnings":[],"value":[` + strings.Join(values, ",") + `]`
	if next != "" {
		s += `,"@odata.nextLink":"` + next + `"`
	}
	return s + "}"
}

func exoError(code, details, internal, message string) string {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{
		"code": code, "message": message,
		"details":    []any{map[string]any{"code": "Context", "target": "", "message": details}},
		"innererror": map[string]any{"type": "Microsoft.Exchange.Admin.OData.Core.ODataServiceException", "internalexception": map[string]any{"message": internal}},
	}})
	if details == "" {
		var m map[string]map[string]any
		_ = json.Unmarshal(b, &m)
		delete(m["error"], "details")
		b, _ = json.Marshal(m)
	}
	return string(b)
}

type recorded struct {
	Path   string
	Query  url.Values
	Header http.Header
	Body   map[string]any
	Raw    string
}

func (r recorded) params() map[string]any {
	in, _ := r.Body["CmdletInput"].(map[string]any)
	p, _ := in["Parameters"].(map[string]any)
	return p
}

type reply struct {
	status  int
	body    string
	headers map[string]string
}

// fake answers InvokeCommand per cmdlet; queued replies pop, the last sticks.
type fake struct {
	mu      sync.Mutex
	reqs    []recorded
	replies map[string][]reply
	srv     *httptest.Server
}

func newFake(t *testing.T) *fake {
	f := &fake{replies: map[string][]reply{}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		rec := recorded{Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(), Raw: string(raw)}
		_ = json.Unmarshal(raw, &rec.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, rec)
		cmdlet := r.Header.Get("X-CmdletName")
		q := f.replies[cmdlet]
		var rep reply
		switch {
		case r.Method != http.MethodPost || r.URL.Path != "/adminapi/beta/"+tenantID+"/InvokeCommand":
			rep = reply{status: 404, body: "no such endpoint"}
		case len(q) == 0:
			rep = reply{status: 500, body: exoError("InternalServerError", "", "", "no reply for "+cmdlet)}
		default:
			rep = q[0]
			if len(q) > 1 {
				f.replies[cmdlet] = q[1:]
			}
		}
		f.mu.Unlock()
		for k, v := range rep.headers {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
		w.WriteHeader(rep.status)
		io.WriteString(w, strings.ReplaceAll(rep.body, "%BASE%", f.srv.URL))
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) on(cmdlet string, r ...reply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replies[cmdlet] = append(f.replies[cmdlet], r...)
}

func (f *fake) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.reqs)
}

func (f *fake) client(t *testing.T, opts exo.Options) *exo.Client {
	t.Helper()
	opts.BaseURL = f.srv.URL
	if opts.TenantID == "" {
		opts.TenantID = tenantID
	}
	c, err := exo.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ok(values ...string) reply { return reply{status: 200, body: page("", values...)} }

func TestRequestShape(t *testing.T) {
	f := newFake(t)
	f.on("Set-Mailbox", ok())
	c := f.client(t, exo.Options{PageSize: 100})
	err := c.SetLitigationHold(context.Background(), tenant.HoldRequest{Identity: "ann@contoso.com", Enabled: true, DurationDays: 2555, Comment: "Leaver: case 42"})
	if err != nil {
		t.Fatal(err)
	}
	r := f.requests()[0]
	wantHeaders := map[string]string{
		"Content-Type":     "application/json; charset=utf-8",
		"X-Cmdletname":     "Set-Mailbox",
		"X-Anchormailbox":  "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@" + tenantID,
		"Prefer":           "odata.maxpagesize=100",
		"X-Responseformat": "json",
	}
	for k, v := range wantHeaders {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if _, err := uuid.Parse(r.Header.Get("client-request-id")); err != nil {
		t.Errorf("client-request-id %q: %v", r.Header.Get("client-request-id"), err)
	}
	if r.Header.Get("Authorization") != "" {
		t.Error("anonymous client sent Authorization")
	}
	want := `{"CmdletInput":{"CmdletName":"Set-Mailbox","Parameters":{"Identity":"ann@contoso.com","LitigationHoldDuration":2555,"LitigationHoldEnabled":true,"RetentionComment":"Leaver: case 42"}}}`
	if r.Raw != want {
		t.Errorf("body = %s\nwant %s", r.Raw, want)
	}
	if c.Calls() != 1 {
		t.Errorf("Calls = %d", c.Calls())
	}
}

// A hold request's own client-request-id is the one sent, so its audit row
// names the request Exchange saw; the next call picks a fresh one.
func TestHoldRequestIDIsSent(t *testing.T) {
	f := newFake(t)
	f.on("Set-Mailbox", ok())
	c := f.client(t, exo.Options{})
	const id = "5f0c7e52-3d1b-4c2a-9a57-0d9be0f1c001"
	ctx := context.Background()
	if err := c.SetLitigationHold(ctx, tenant.HoldRequest{Identity: "ann@contoso.com", Enabled: true, RequestID: id}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetLitigationHold(ctx, tenant.HoldRequest{Identity: "ben@contoso.com", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if got := reqs[0].Header.Get("client-request-id"); got != id {
		t.Errorf("client-request-id %q, want the request's %q", got, id)
	}
	if got := reqs[1].Header.Get("client-request-id"); got == id || got == "" {
		t.Errorf("second call's client-request-id %q, want a fresh one", got)
	}
}

// Any cmdlet sent with tenant.WithRequestID carries the caller's id, on
// every attempt: a rescue's audit rows name the requests they record.
func TestContextRequestIDIsSent(t *testing.T) {
	f := newFake(t)
	f.on("Set-Mailbox", reply{status: 503, body: exoError("ServiceUnavailable", "", "", "busy")}, ok())
	c := f.client(t, exo.Options{RetryDelay: time.Millisecond})
	const id = "0b6f3a2e-8d41-4f7c-b3a9-5e2d1c0f9a77"
	if err := c.AddX500Address(tenant.WithRequestID(context.Background(), id), "ann@contoso.com", "/o=ExchangeLabs/cn=ann"); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want a 503 and its retry", len(reqs))
	}
	for i, r := range reqs {
		if got := r.Header.Get("client-request-id"); got != id {
			t.Errorf("attempt %d: client-request-id %q, want %q", i, got, id)
		}
	}
}

func TestSetLitigationHoldParams(t *testing.T) {
	tests := []struct {
		name string
		h    tenant.HoldRequest
		want map[string]any
	}{
		{"unlimited", tenant.HoldRequest{Identity: "2be92a50-7cc5-4a40-8471-b7ce9c2e3426", Enabled: true, Comment: "c"},
			map[string]any{"Identity": "2be92a50-7cc5-4a40-8471-b7ce9c2e3426", "LitigationHoldEnabled": true, "LitigationHoldDuration": "Unlimited", "RetentionComment": "c"}},
		{"inactive: no comment", tenant.HoldRequest{Identity: "CN=Bob,OU=x", Enabled: true, DurationDays: 30, Comment: "c", Inactive: true},
			map[string]any{"Identity": "CN=Bob,OU=x", "LitigationHoldEnabled": true, "LitigationHoldDuration": float64(30), "InactiveMailbox": true}},
		{"release", tenant.HoldRequest{Identity: "ann@contoso.com"},
			map[string]any{"Identity": "ann@contoso.com", "LitigationHoldEnabled": false}},
		{"hostile identity stays a value", tenant.HoldRequest{Identity: `x"; Remove-Mailbox -Identity 'y' -Confirm:$false #`, Enabled: true},
			map[string]any{"Identity": `x"; Remove-Mailbox -Identity 'y' -Confirm:$false #`, "LitigationHoldEnabled": true, "LitigationHoldDuration": "Unlimited"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.on("Set-Mailbox", ok())
			c := f.client(t, exo.Options{})
			if err := c.SetLitigationHold(context.Background(), tt.h); err != nil {
				t.Fatal(err)
			}
			if got := f.requests()[0].params(); !jsonEq(got, tt.want) {
				t.Errorf("Parameters = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestListMailboxesPages(t *testing.T) {
	f := newFake(t)
	next := "%BASE%/adminapi/beta/" + tenantID + "/InvokeCommand?$skiptoken=abc"
	f.on("Get-Mailbox", reply{status: 200, body: page(next, annMailbox)}, ok(softDeletedMailbox))
	c := f.client(t, exo.Options{})
	var got []tenant.Mailbox
	err := c.ListMailboxes(context.Background(), tenant.ScopeSoftDeleted, func(m tenant.Mailbox) error { got = append(got, m); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Alias != "ann" || got[1].Alias != "bob" {
		t.Fatalf("got %+v", got)
	}
	reqs := f.requests()
	if len(reqs) != 2 {
		t.Fatalf("requests = %d", len(reqs))
	}
	if reqs[0].Raw != reqs[1].Raw {
		t.Errorf("nextLink POST body differs:\n%s\n%s", reqs[0].Raw, reqs[1].Raw)
	}
	if reqs[1].Query.Get("$skiptoken") != "abc" {
		t.Errorf("nextLink not followed: %v", reqs[1].Query)
	}
	want := map[string]any{"ResultSize": "Unlimited", "SoftDeletedMailbox": true}
	if !jsonEq(reqs[0].params(), want) {
		t.Errorf("Parameters = %v, want %v", reqs[0].params(), want)
	}
	if sel := reqs[0].Query.Get("$select"); !strings.Contains(sel, "LitigationHoldDuration") || !strings.Contains(sel, "ExchangeGuid") {
		t.Errorf("$select = %q", sel)
	}
}

func TestMailboxParsing(t *testing.T) {
	f := newFake(t)
	f.on("Get-Mailbox", ok(annMailbox), ok(softDeletedMailbox))
	c := f.client(t, exo.Options{})
	ctx := context.Background()
	ann, err := c.GetMailbox(ctx, "ann@contoso.com", tenant.ScopeActive)
	if err != nil {
		t.Fatal(err)
	}
	holdDate := time.Date(2022, 9, 21, 8, 7, 47, 0, time.UTC)
	if ann.ExchangeGUID != "2be92a50-7cc5-4a40-8471-b7ce9c2e3426" || ann.HasArchive() || !ann.LitigationHoldEnabled ||
		ann.LitigationHoldDate == nil || !ann.LitigationHoldDate.Equal(holdDate) || ann.LitigationHoldDuration != "2555.00:00:00" ||
		ann.RetentionComment != "Leaver: case 42" || len(ann.InPlaceHolds) != 2 || ann.WhenSoftDeleted != nil ||
		ann.RecipientTypeDetails != "UserMailbox" || ann.ArchiveStatus != "None" || ann.PrimarySMTPAddress != "ann@contoso.com" {
		t.Errorf("ann = %+v", ann)
	}
	if p := f.requests()[0].params(); !jsonEq(p, map[string]any{"Identity": "ann@contoso.com"}) {
		t.Errorf("Parameters = %v", p)
	}
	bob, err := c.GetMailbox(ctx, "5c0a1b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b", tenant.ScopeIncludeInactive)
	if err != nil {
		t.Fatal(err)
	}
	if !bob.HasArchive() || !bob.LitigationHoldEnabled || bob.LitigationHoldDuration != "Unlimited" || !bob.IsInactiveMailbox ||
		!bob.IsSoftDeletedByRemove || !bob.AutoExpandingArchive || bob.InPlaceHolds != nil ||
		bob.LitigationHoldDate == nil || !bob.LitigationHoldDate.Equal(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)) ||
		bob.WhenSoftDeleted == nil || !bob.WhenSoftDeleted.Equal(time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("bob = %+v", bob)
	}
	if p := f.requests()[1].params(); p["IncludeInactiveMailbox"] != true {
		t.Errorf("Parameters = %v", p)
	}
}

func TestGetMailboxNotFoundOrAmbiguous(t *testing.T) {
	notFound := exoError("NotFound", "Ex6F9304|Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException|The operation couldn't be performed because object 'nobody@contoso.com' couldn't be found on 'AM0PR07A03DC001.EURPR07A003.PROD.OUTLOOK.COM'.", "", "Error executing cmdlet")
	tests := []struct {
		name string
		rep  reply
		want error
	}{
		{"error 404", reply{status: 404, body: notFound}, tenant.ErrNotFound},
		{"error 400 by class", reply{status: 400, body: strings.Replace(notFound, "couldn't be found", "is missing", 1)}, tenant.ErrNotFound},
		{"empty value", ok(), tenant.ErrNotFound},
		{"two", ok(annMailbox, annMailbox), tenant.ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.on("Get-Mailbox", tt.rep)
			c := f.client(t, exo.Options{})
			_, err := c.GetMailbox(context.Background(), "nobody@contoso.com", tenant.ScopeActive)
			var se *tenant.ServiceError
			if !errors.Is(err, tt.want) || !errors.As(err, &se) {
				t.Fatalf("err = %v, want ServiceError wrapping %v", err, tt.want)
			}
		})
	}
}

func TestErrorParsing(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		want       error
		code, msg  string
		noRetryReq bool
	}{
		{"details split", 400, exoError("BadRequest", "Ex6F9304|Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException|Object 'x' couldn't be found.", "internal", "outer"),
			tenant.ErrNotFound, "Ex6F9304", "Object 'x' couldn't be found.", false},
		{"fallback internalexception", 400, exoError("BadRequest", "", "The name 'Case42' is already in use by another restore request.", "outer"),
			tenant.ErrConflict, "BadRequest", "The name 'Case42' is already in use by another restore request.", false},
		{"fallback error.message", 400, exoError("BadRequest", "", "", "Litigation hold isn't available for this mailbox because it doesn't have an Exchange Online Plan 2 license."),
			tenant.ErrHoldNotAllowed, "BadRequest", "Litigation hold isn't available for this mailbox because it doesn't have an Exchange Online Plan 2 license.", false},
		{"refused purge", 400, exoError("BadRequest", "Ex9A1B2C|Microsoft.Exchange.Management.Tasks.RecipientTaskException|The mailbox is on hold and can't be permanently deleted.", "", "x"),
			tenant.ErrRefused, "Ex9A1B2C", "The mailbox is on hold and can't be permanently deleted.", false},
		{"unknown: transient, kept verbatim", 400, exoError("BadRequest", "ExAAAAAA|Microsoft.Exchange.Something|Weird.", "", "x"), tenant.ErrTransient, "ExAAAAAA", "Weird.", false},
		{"non-JSON body", 502, "Bad Gateway from proxy", tenant.ErrTransient, "", "Bad Gateway from proxy", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.on("Remove-Mailbox", reply{status: tt.status, body: tt.body})
			c := f.client(t, exo.Options{})
			err := c.Invoke(context.Background(), "Remove-Mailbox", map[string]any{"Identity": "x", "PermanentlyDelete": true}, func(json.RawMessage) error { return nil })
			var se *tenant.ServiceError
			if !errors.As(err, &se) {
				t.Fatalf("err = %T %v", err, err)
			}
			if se.Service != "exchange" || se.Status != tt.status || se.Code != tt.code || se.Message != tt.msg || se.Kind != tt.want {
				t.Errorf("got %+v\nwant status %d code %q msg %q kind %v", se, tt.status, tt.code, tt.msg, tt.want)
			}
		})
	}
}

func TestThrottlingRetried(t *testing.T) {
	f := newFake(t)
	f.on("Get-Mailbox",
		reply{status: 429, body: exoError("TooManyRequests", "", "", "Too many requests"), headers: map[string]string{"Retry-After": "1"}},
		ok(annMailbox))
	c := f.client(t, exo.Options{})
	m, err := c.GetMailbox(context.Background(), "ann@contoso.com", tenant.ScopeActive)
	if err != nil || m.Alias != "ann" {
		t.Fatalf("got %+v, %v", m, err)
	}
	reqs := f.requests()
	if len(reqs) != 2 || c.Calls() != 2 {
		t.Fatalf("requests = %d, Calls = %d; want 2", len(reqs), c.Calls())
	}
	if reqs[0].Raw != reqs[1].Raw || reqs[0].Header.Get("client-request-id") != reqs[1].Header.Get("client-request-id") {
		t.Error("retry changed the body or the client-request-id")
	}
}

func TestTransientRetried(t *testing.T) {
	for _, status := range []int{503, 504, 408} {
		f := newFake(t)
		f.on("Set-Mailbox", reply{status: status, headers: map[string]string{"Retry-After": "1"}}, ok())
		c := f.client(t, exo.Options{})
		if err := c.SetLitigationHold(context.Background(), tenant.HoldRequest{Identity: "ann", Enabled: true}); err != nil {
			t.Fatalf("%d: %v", status, err)
		}
		if n := len(f.requests()); n != 2 {
			t.Errorf("%d: requests = %d, want 2", status, n)
		}
	}
}

func TestThrottlingExhausted(t *testing.T) {
	f := newFake(t)
	f.on("Get-Mailbox", reply{status: 429, body: exoError("TooManyRequests", "", "", "Too many requests"), headers: map[string]string{"Retry-After": "1"}})
	c := f.client(t, exo.Options{MaxRetries: 1})
	_, err := c.GetMailbox(context.Background(), "ann@contoso.com", tenant.ScopeActive)
	if !errors.Is(err, tenant.ErrThrottled) {
		t.Fatalf("err = %v, want ErrThrottled", err)
	}
	if n := len(f.requests()); n != 2 {
		t.Errorf("requests = %d, want 2", n)
	}
}

func TestNoRetryOn400(t *testing.T) {
	f := newFake(t)
	f.on("Set-Mailbox", reply{status: 400, body: exoError("BadRequest", "", "", "nope")})
	c := f.client(t, exo.Options{})
	if err := c.SetLitigationHold(context.Background(), tenant.HoldRequest{Identity: "ann"}); err == nil {
		t.Fatal("want error")
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
}

func TestRestoreRequests(t *testing.T) {
	f := newFake(t)
	f.on("New-MailboxRestoreRequest", ok(`{"Name":"holdfast-42","TargetMailbox":"archive","Status":"Queued","RequestGuid":"9f0e1d2c-3b4a-4958-8776-655443322110"}`))
	f.on("Get-MailboxRestoreRequest", ok(`{"Name":"holdfast-42","Status":"InProgress","RequestGuid":"9f0e1d2c-3b4a-4958-8776-655443322110","TargetMailbox":"archive"}`), ok())
	f.on("Get-MailboxRestoreRequestStatistics",
		ok(`{"Name":"holdfast-42","Status":"InProgress","StatusDetail":"CopyingMessages","PercentComplete":45,"TargetAlias":"archive","RequestGuid":"9f0e1d2c-3b4a-4958-8776-655443322110","EstimatedTransferSize":"1.2 GB (1,288,490,188 bytes)"}`),
		ok(`{"Name":"holdfast-42","Status":"Completed","StatusDetail":"Completed","PercentComplete":"100","TargetAlias":"archive"}`))
	c := f.client(t, exo.Options{})
	ctx := context.Background()
	st, err := c.NewRestoreRequest(ctx, tenant.RestoreRequest{Name: "holdfast-42", SourceMailbox: "5c0a1b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b",
		TargetMailbox: "archive@contoso.com", TargetRootFolder: "Recovered/bob", SourceIsArchive: true, TargetIsArchive: true, AllowLegacyDNMismatch: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.Name != "holdfast-42" || st.Status != "Queued" || st.RequestGUID == "" {
		t.Errorf("NewRestoreRequest = %+v", st)
	}
	p := f.requests()[0].params()
	want := map[string]any{"Name": "holdfast-42", "SourceMailbox": "5c0a1b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b", "TargetMailbox": "archive@contoso.com",
		"TargetRootFolder": "Recovered/bob", "SourceIsArchive": true, "TargetIsArchive": true, "AllowLegacyDNMismatch": true}
	if !jsonEq(p, want) {
		t.Errorf("Parameters = %v", p)
	}
	if _, bad := p["BadItemLimit"]; bad {
		t.Error("BadItemLimit sent")
	}

	list, err := c.GetRestoreRequests(ctx, "holdfast-42")
	if err != nil || len(list) != 1 || list[0].Status != "InProgress" {
		t.Fatalf("GetRestoreRequests = %+v, %v", list, err)
	}
	if p := f.requests()[1].params(); p["Name"] != "holdfast-42" {
		t.Errorf("Parameters = %v", p)
	}
	if list, err := c.GetRestoreRequests(ctx, "other"); err != nil || len(list) != 0 {
		t.Errorf("no match = %+v, %v", list, err)
	}

	s1, err := c.GetRestoreStatistics(ctx, "9f0e1d2c-3b4a-4958-8776-655443322110")
	if err != nil || s1.PercentComplete != 45 || s1.StatusDetail != "CopyingMessages" || s1.Terminal() {
		t.Errorf("stats 1 = %+v, %v", s1, err)
	}
	s2, err := c.GetRestoreStatistics(ctx, "archive\\holdfast-42")
	if err != nil || s2.PercentComplete != 100 || !s2.Terminal() {
		t.Errorf("stats 2 = %+v, %v", s2, err)
	}
	if p := f.requests()[4].params(); p["Identity"] != "archive\\holdfast-42" {
		t.Errorf("Parameters = %v", p)
	}
}

// TestRecoveryCmdlets: the -Password of Undo-SoftDeletedMailbox and
// New-Mailbox -InactiveMailbox travels as the admin API expects a
// SecureString (RSA PKCS#1 v1.5 under the configured key, base64), is a
// fresh strong password per call, and is never sent without a key.
func TestRecoveryCmdlets(t *testing.T) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f := newFake(t)
	f.on("Undo-SoftDeletedMailbox", ok())
	f.on("New-Mailbox", ok(annMailbox))
	c := f.client(t, exo.Options{SecureStringKey: &priv.PublicKey})
	ctx := context.Background()
	if err := c.UndoSoftDeletedMailbox(ctx, "5c0a1b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b", "bob@contoso.com"); err != nil {
		t.Fatal(err)
	}
	m, err := c.NewMailboxFromInactive(ctx, "CN=Bob,OU=x", "Bob Recovered", "bob.recovered@contoso.com")
	if err != nil || m.Alias != "ann" {
		t.Fatalf("got %+v, %v", m, err)
	}
	reqs := f.requests()
	clear := map[string]bool{}
	for i, want := range []map[string]any{
		{"SoftDeletedObject": "5c0a1b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b", "WindowsLiveID": "bob@contoso.com"},
		{"InactiveMailbox": "CN=Bob,OU=x", "Name": "Bob Recovered", "MicrosoftOnlineServicesID": "bob.recovered@contoso.com", "ResetPasswordOnNextLogon": true},
	} {
		p := reqs[i].params()
		enc, _ := p["Password"].(string)
		delete(p, "Password")
		if !jsonEq(p, want) {
			t.Errorf("request %d params = %v", i, p)
		}
		ct, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			t.Fatalf("request %d: Password is not base64", i)
		}
		//lint:ignore SA1019 decrypting as the service would.
		pt, err := rsa.DecryptPKCS1v15(nil, priv, ct)
		if err != nil || !securestring.Strong(string(pt)) || clear[string(pt)] {
			t.Fatalf("request %d: Password does not decrypt to a fresh strong password", i)
		}
		clear[string(pt)] = true
		if strings.Contains(reqs[i].Raw, string(pt)) {
			t.Fatalf("request %d carries the password in clear", i)
		}
	}

	// Without a key nothing is sent.
	n := len(f.requests())
	noKey := f.client(t, exo.Options{})
	if err := noKey.UndoSoftDeletedMailbox(ctx, "5c0a1b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b", "bob@contoso.com"); !errors.Is(err, tenant.ErrNoSecureStringKey) {
		t.Errorf("Undo without key: %v", err)
	}
	if _, err := noKey.NewMailboxFromInactive(ctx, "CN=Bob,OU=x", "Bob", "bob@contoso.com"); !errors.Is(err, tenant.ErrNoSecureStringKey) {
		t.Errorf("New-Mailbox without key: %v", err)
	}
	if len(f.requests()) != n {
		t.Error("a password-bearing cmdlet was sent without a key")
	}
}

func TestInvokeRefusesBadInput(t *testing.T) {
	f := newFake(t)
	c := f.client(t, exo.Options{})
	for _, name := range []string{"", "Get-Mailbox; Remove-Mailbox", "get mailbox", "Get-Mailbox -Identity x"} {
		if err := c.Invoke(context.Background(), name, nil, func(json.RawMessage) error { return nil }); err == nil {
			t.Errorf("cmdlet %q accepted", name)
		}
	}
	f.on("Get-Mailbox", reply{status: 200, body: page("https://evil.example/adminapi/beta/x/InvokeCommand", annMailbox)})
	err := c.ListMailboxes(context.Background(), tenant.ScopeActive, func(tenant.Mailbox) error { return nil })
	if err == nil {
		t.Error("foreign nextLink followed")
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
}

type fakeCred struct {
	mu     sync.Mutex
	scopes []string
}

func (c *fakeCred) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.scopes = append(c.scopes, o.Scopes...)
	return azcore.AccessToken{Token: "test-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func TestCredential(t *testing.T) {
	f := newFake(t)
	f.on("Set-Mailbox", ok())
	cred := &fakeCred{}
	c := f.client(t, exo.Options{Credential: cred})
	if err := c.SetLitigationHold(context.Background(), tenant.HoldRequest{Identity: "ann"}); err != nil {
		t.Fatal(err)
	}
	if got := f.requests()[0].Header.Get("Authorization"); got != "Bearer test-token" {
		t.Errorf("Authorization = %q", got)
	}
	if !slices.Equal(cred.scopes, []string{exo.Scope}) {
		t.Errorf("scopes = %v", cred.scopes)
	}
}

func TestNewValidation(t *testing.T) {
	tests := []struct {
		name string
		opts exo.Options
		ok   bool
	}{
		{"anonymous remote", exo.Options{TenantID: tenantID}, false},
		{"http remote", exo.Options{TenantID: tenantID, BaseURL: "http://outlook.example", Credential: &fakeCred{}}, false},
		{"no tenant", exo.Options{BaseURL: "http://127.0.0.1:9"}, false},
		{"tenant with slash", exo.Options{TenantID: "a/../b", BaseURL: "http://127.0.0.1:9"}, false},
		{"anonymous loopback", exo.Options{TenantID: "contoso.onmicrosoft.com", BaseURL: "http://127.0.0.1:9"}, true},
		{"credential remote", exo.Options{TenantID: tenantID, Credential: &fakeCred{}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := exo.New(tt.opts); (err == nil) != tt.ok {
				t.Errorf("New err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	want := time.Date(2022, 9, 21, 8, 7, 47, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
	}{
		{"2022-09-21T08:07:47.0000000+00:00", want},
		{"2022-09-21T10:07:47.0000000+02:00", want},
		{"2022-09-21T08:07:47.0000000", want},
		{"2022-09-21T08:07:47Z", want},
		{"2022-09-21T08:07:47", want},
		{"/Date(1663747667000)/", want},
	}
	for _, tt := range tests {
		got, err := exo.ParseTime(tt.in)
		if err != nil || !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) = %v, %v", tt.in, got, err)
		}
	}
	if _, err := exo.ParseTime("21/09/2022"); err == nil {
		t.Error("bad date accepted")
	}
}

func TestHoldDays(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		isOK bool
	}{
		{"Unlimited", 0, true}, {"unlimited", 0, true}, {"2555.00:00:00", 2555, true}, {"30", 30, true},
		{"1.12:00:00", 0, false}, {"", 0, false}, {"forever", 0, false},
	}
	for _, tt := range tests {
		if n, ok := exo.HoldDays(tt.in); n != tt.n || ok != tt.isOK {
			t.Errorf("HoldDays(%q) = %d, %v", tt.in, n, ok)
		}
	}
}

func jsonEq(got, want map[string]any) bool {
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	return string(g) == string(w)
}

func TestLongRetryAfterNotSlept(t *testing.T) {
	f := newFake(t)
	f.on("Get-Mailbox", reply{status: 429, body: exoError("TooManyRequests", "", "", "Too many requests"), headers: map[string]string{"Retry-After": "120"}})
	c := f.client(t, exo.Options{})
	_, err := c.GetMailbox(context.Background(), "ann@contoso.com", tenant.ScopeActive)
	if !errors.Is(err, tenant.ErrThrottled) {
		t.Fatalf("err = %v, want ErrThrottled", err)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("requests = %d, want 1 (Retry-After beyond the cap is not slept)", n)
	}
}

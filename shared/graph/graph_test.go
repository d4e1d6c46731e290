package graph_test

import (
	"context"
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

	"github.com/holdfast/holdfast/shared/graph"
	"github.com/holdfast/holdfast/shared/tenant"
)

// Shapes below are copied from the Graph v1.0 reference pages (user,
// directory-deleteditems-list, licenseDetails, subscribedSku, error and
// throttling responses).

const (
	adeleID = "87d349ed-44d7-43e1-9a83-5f2406dee5bd"
	e5SKU   = "c7df2760-2c81-4ef7-b578-5b5392b571df"
	e3SKU   = "6fd2c87f-b296-42f0-b197-1e91e994b900"
)

const adeleJSON = `{
  "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users(id,userPrincipalName,mail,displayName,accountEnabled,employeeId,department,usageLocation,assignedLicenses,onPremisesSyncEnabled)/$entity",
  "id": "87d349ed-44d7-43e1-9a83-5f2406dee5bd",
  "userPrincipalName": "AdeleV@contoso.com",
  "mail": "AdeleV@contoso.com",
  "displayName": "Adele Vance",
  "accountEnabled": true,
  "employeeId": "E1001",
  "department": "Retail",
  "usageLocation": "US",
  "assignedLicenses": [{"disabledPlans": [], "skuId": "c7df2760-2c81-4ef7-b578-5b5392b571df"}],
  "onPremisesSyncEnabled": null
}`

const deletedPage1 = `{
  "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#directoryObjects/microsoft.graph.user",
  "@odata.nextLink": "%BASE%/v1.0/directory/deletedItems/microsoft.graph.user?$top=999&$skiptoken=RFNwdAIAAQAAAB",
  "value": [
    {"@odata.type": "#microsoft.graph.user", "id": "1e2f3a4b-0000-4000-8000-000000000001",
     "userPrincipalName": "1e2f3a4b00004000800000000000001ann@contoso.com", "mail": "ann@contoso.com",
     "displayName": "Ann", "accountEnabled": false, "assignedLicenses": [],
     "deletedDateTime": "2021-10-26T16:56:36Z"}
  ]
}`

const deletedPage2 = `{
  "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#directoryObjects/microsoft.graph.user",
  "value": [
    {"@odata.type": "#microsoft.graph.user", "id": "1e2f3a4b-0000-4000-8000-000000000002",
     "userPrincipalName": "1e2f3a4b00004000800000000000002bob@contoso.com", "mail": "bob@contoso.com",
     "displayName": "Bob", "accountEnabled": true,
     "assignedLicenses": [{"disabledPlans": [], "skuId": "6fd2c87f-b296-42f0-b197-1e91e994b900"}],
     "deletedDateTime": "2021-10-27T08:00:00Z"}
  ]
}`

const licenseDetailsJSON = `{
  "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users('87d349ed-44d7-43e1-9a83-5f2406dee5bd')/licenseDetails",
  "value": [{
    "id": "b7-bJgZ1ykiXNuldzajWs6n_nZgqCUNMjnE4_Ngd8qc",
    "skuId": "6fd2c87f-b296-42f0-b197-1e91e994b900",
    "skuPartNumber": "ENTERPRISEPACK",
    "servicePlans": [
      {"servicePlanId": "efb87545-963c-4e0d-99df-69c6916d9eb0", "servicePlanName": "EXCHANGE_S_ENTERPRISE", "provisioningStatus": "Success", "appliesTo": "User"},
      {"servicePlanId": "5dbe027f-2339-4123-9542-606e4d348a72", "servicePlanName": "SHAREPOINTENTERPRISE", "provisioningStatus": "Success", "appliesTo": "User"}
    ]
  }]
}`

const subscribedSkusJSON = `{
  "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscribedSkus",
  "value": [{
    "capabilityStatus": "Enabled",
    "consumedUnits": 14,
    "id": "48a80680-7326-48cd-9935-b556b81d3a4e_c7df2760-2c81-4ef7-b578-5b5392b571df",
    "prepaidUnits": {"enabled": 25, "suspended": 0, "warning": 0, "lockedOut": 0},
    "servicePlans": [],
    "skuId": "c7df2760-2c81-4ef7-b578-5b5392b571df",
    "skuPartNumber": "ENTERPRISEPREMIUM",
    "appliesTo": "User"
  }]
}`

func graphError(code, msg string) string {
	return `{"error":{"code":"` + code + `","message":"` + msg + `","innerError":{"date":"2024-05-22T16:52:26","request-id":"0f2f1f5e-1b0c-4c1e-9f60-3b1f0e1e2a11","client-request-id":"0f2f1f5e-1b0c-4c1e-9f60-3b1f0e1e2a11"}}}`
}

type recorded struct {
	Method, Path string
	Query        url.Values
	Header       http.Header
	Body         string
}

// fake is a small Graph stand-in. Handlers are looked up by "METHOD path"
// and may be queued: each call pops the first response, the last sticks.
type fake struct {
	t    *testing.T
	mu   sync.Mutex
	reqs []recorded
	srv  *httptest.Server
	mux  *http.ServeMux
}

type reply struct {
	status  int
	body    string
	headers map[string]string
}

func newFake(t *testing.T) *fake {
	f := &fake{t: t, mux: http.NewServeMux()}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, recorded{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(), Body: string(b)})
		f.mu.Unlock()
		f.mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) on(pattern string, replies ...reply) {
	var mu sync.Mutex
	f.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		rep := replies[0]
		if len(replies) > 1 {
			replies = replies[1:]
		}
		mu.Unlock()
		for k, v := range rep.headers {
			w.Header().Set(k, v)
		}
		if rep.body != "" {
			w.Header().Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
		}
		w.WriteHeader(rep.status)
		io.WriteString(w, strings.ReplaceAll(rep.body, "%BASE%", f.srv.URL))
	})
}

func (f *fake) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.reqs)
}

func (f *fake) client(t *testing.T, opts graph.Options) *graph.Client {
	t.Helper()
	opts.BaseURL = f.srv.URL + "/v1.0"
	c, err := graph.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGetUser(t *testing.T) {
	f := newFake(t)
	f.on("GET /v1.0/users/{id}", reply{status: 200, body: adeleJSON})
	c := f.client(t, graph.Options{})
	u, err := c.GetUser(context.Background(), "AdeleV@contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	want := tenant.User{ID: adeleID, UserPrincipalName: "AdeleV@contoso.com", Mail: "AdeleV@contoso.com",
		DisplayName: "Adele Vance", AccountEnabled: true, EmployeeID: "E1001", Department: "Retail",
		UsageLocation: "US", AssignedSKUs: []string{e5SKU}}
	if !equalUser(u, want) {
		t.Errorf("GetUser = %+v, want %+v", u, want)
	}
	r := f.requests()[0]
	if r.Path != "/v1.0/users/AdeleV@contoso.com" {
		t.Errorf("path = %q", r.Path)
	}
	sel := strings.Split(r.Query.Get("$select"), ",")
	for _, need := range []string{"id", "userPrincipalName", "employeeId", "assignedLicenses", "onPremisesSyncEnabled"} {
		if !slices.Contains(sel, need) {
			t.Errorf("$select %v lacks %s", sel, need)
		}
	}
	if c.Calls() != 1 {
		t.Errorf("Calls = %d, want 1", c.Calls())
	}
}

func TestFindUserByEmployeeID(t *testing.T) {
	tests := []struct {
		name, id   string
		body       string
		wantFilter string
		wantErr    error
		wantBadArg bool
	}{
		{name: "one", id: "E1001", body: `{"value":[` + adeleJSON + `]}`, wantFilter: "employeeId eq 'E1001'"},
		{name: "quote escaped", id: "O'Brien-7", body: `{"value":[` + adeleJSON + `]}`, wantFilter: "employeeId eq 'O''Brien-7'"},
		{name: "none", id: "E404", body: `{"value":[]}`, wantFilter: "employeeId eq 'E404'", wantErr: tenant.ErrNotFound},
		{name: "several", id: "E2", body: `{"value":[` + adeleJSON + `,` + adeleJSON + `]}`, wantFilter: "employeeId eq 'E2'", wantErr: tenant.ErrConflict},
		{name: "injection refused", id: "x' or 1 eq 1 or employeeId eq 'y)", wantBadArg: true},
		{name: "empty refused", id: "", wantBadArg: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.on("GET /v1.0/users", reply{status: 200, body: tt.body})
			c := f.client(t, graph.Options{})
			u, err := c.FindUserByEmployeeID(context.Background(), tt.id)
			if tt.wantBadArg {
				if err == nil || len(f.requests()) != 0 {
					t.Fatalf("err = %v, requests = %d; want refusal before any request", err, len(f.requests()))
				}
				return
			}
			if got := f.requests()[0].Query.Get("$filter"); got != tt.wantFilter {
				t.Errorf("$filter = %q, want %q", got, tt.wantFilter)
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || u.ID != adeleID {
				t.Fatalf("got %+v, %v", u, err)
			}
		})
	}
}

func TestListDeletedUsersPages(t *testing.T) {
	f := newFake(t)
	// The SDK addresses the cast as graph.user; Graph accepts that and the
	// long microsoft.graph.user form, which nextLinks use.
	f.on("GET /v1.0/directory/deletedItems/graph.user", reply{status: 200, body: deletedPage1})
	f.on("GET /v1.0/directory/deletedItems/microsoft.graph.user", reply{status: 200, body: deletedPage2})
	c := f.client(t, graph.Options{})
	var got []tenant.User
	err := c.ListDeletedUsers(context.Background(), func(u tenant.User) error { got = append(got, u); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Mail != "ann@contoso.com" || got[1].Mail != "bob@contoso.com" {
		t.Fatalf("got %+v", got)
	}
	want := time.Date(2021, 10, 26, 16, 56, 36, 0, time.UTC)
	if got[0].DeletedAt == nil || !got[0].DeletedAt.Equal(want) {
		t.Errorf("DeletedAt = %v, want %v", got[0].DeletedAt, want)
	}
	if !slices.Equal(got[1].AssignedSKUs, []string{e3SKU}) {
		t.Errorf("AssignedSKUs = %v", got[1].AssignedSKUs)
	}
	reqs := f.requests()
	if len(reqs) != 2 {
		t.Fatalf("requests = %d, want 2", len(reqs))
	}
	if reqs[0].Query.Get("$top") != "999" || !strings.Contains(reqs[0].Query.Get("$select"), "deletedDateTime") {
		t.Errorf("first page query = %v", reqs[0].Query)
	}
	if reqs[1].Query.Get("$skiptoken") != "RFNwdAIAAQAAAB" {
		t.Errorf("nextLink not followed verbatim: %v", reqs[1].Query)
	}

	stop := errors.New("stop")
	if err := c.ListDeletedUsers(context.Background(), func(tenant.User) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("callback error not returned: %v", err)
	}
}

func TestNextLinkToOtherOriginRefused(t *testing.T) {
	f := newFake(t)
	f.on("GET /v1.0/users", reply{status: 200, body: `{"value":[],"@odata.nextLink":"https://evil.example/v1.0/users?$skiptoken=x"}`})
	c := f.client(t, graph.Options{})
	err := c.ListUsers(context.Background(), func(tenant.User) error { return nil })
	if err == nil || len(f.requests()) != 1 {
		t.Fatalf("err = %v after %d requests; want refusal", err, len(f.requests()))
	}
}

func TestGetDeletedUser(t *testing.T) {
	f := newFake(t)
	f.on("GET /v1.0/directory/deletedItems/{id}/graph.user", reply{status: 200, body: `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#directoryObjects/microsoft.graph.user/$entity","@odata.type":"#microsoft.graph.user","id":"1e2f3a4b-0000-4000-8000-000000000001","userPrincipalName":"1e2f3a4bann@contoso.com","accountEnabled":true,"deletedDateTime":"2021-10-26T16:56:36Z"}`})
	c := f.client(t, graph.Options{})
	u, err := c.GetDeletedUser(context.Background(), "1e2f3a4b-0000-4000-8000-000000000001")
	if err != nil {
		t.Fatal(err)
	}
	if u.DeletedAt == nil || u.ID != "1e2f3a4b-0000-4000-8000-000000000001" {
		t.Errorf("got %+v", u)
	}
	if p := f.requests()[0].Path; p != "/v1.0/directory/deletedItems/1e2f3a4b-0000-4000-8000-000000000001/graph.user" {
		t.Errorf("path = %q", p)
	}
}

func TestRestoreDeletedUser(t *testing.T) {
	f := newFake(t)
	restored := strings.Replace(adeleJSON, `"id"`, `"@odata.type": "#microsoft.graph.user", "id"`, 1)
	f.on("POST /v1.0/directory/deletedItems/{id}/restore", reply{status: 200, body: restored})
	c := f.client(t, graph.Options{})
	u, err := c.RestoreDeletedUser(context.Background(), adeleID)
	if err != nil {
		t.Fatal(err)
	}
	if u.UserPrincipalName != "AdeleV@contoso.com" {
		t.Errorf("got %+v", u)
	}
	reqs := f.requests()
	if len(reqs) != 1 {
		t.Fatalf("requests = %d, want 1", len(reqs))
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(reqs[0].Body), &body); err != nil || body["autoReconcileProxyConflict"] != true {
		t.Errorf("body = %q (%v)", reqs[0].Body, err)
	}
	if ct := reqs[0].Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}
}

func TestRestoreWithoutTypeReadsUser(t *testing.T) {
	f := newFake(t)
	f.on("POST /v1.0/directory/deletedItems/{id}/restore", reply{status: 200, body: `{"id":"` + adeleID + `"}`})
	f.on("GET /v1.0/users/{id}", reply{status: 200, body: adeleJSON})
	c := f.client(t, graph.Options{})
	u, err := c.RestoreDeletedUser(context.Background(), adeleID)
	if err != nil || u.UserPrincipalName != "AdeleV@contoso.com" {
		t.Fatalf("got %+v, %v", u, err)
	}
}

func TestWrites(t *testing.T) {
	f := newFake(t)
	f.on("PATCH /v1.0/users/{id}", reply{status: 204})
	f.on("POST /v1.0/users/{id}/assignLicense", reply{status: 200, body: adeleJSON})
	f.on("POST /v1.0/users/{id}/sendMail", reply{status: 202})
	c := f.client(t, graph.Options{})
	ctx := context.Background()
	if err := c.SetAccountEnabled(ctx, adeleID, false); err != nil {
		t.Fatal(err)
	}
	if err := c.AssignLicenses(ctx, adeleID, []string{e3SKU}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.AssignLicenses(ctx, adeleID, nil, []string{e5SKU}); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail(ctx, "holdfast@contoso.com", tenant.Mail{Subject: "Hold placed", Body: "Ann's mailbox is on hold.", To: []string{"it@contoso.com", "legal@contoso.com"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.AssignLicenses(ctx, adeleID, []string{"not-a-guid"}, nil); err == nil {
		t.Error("bad skuId accepted")
	}
	reqs := f.requests()
	if len(reqs) != 4 {
		t.Fatalf("requests = %d, want 4", len(reqs))
	}
	// Bodies are exactly what msgraph-sdk-go v1.89 writes: it adds
	// @odata.type, and sendMail's top-level properties come out PascalCase
	// ("Message", "SaveToSentItems"), which Graph matches case-insensitively.
	tests := []struct {
		method, path, body string
	}{
		{"PATCH", "/v1.0/users/" + adeleID, `{"@odata.type":"#microsoft.graph.user","accountEnabled":false}`},
		{"POST", "/v1.0/users/" + adeleID + "/assignLicense", `{"addLicenses":[{"disabledPlans":[],"skuId":"` + e3SKU + `"}],"removeLicenses":[]}`},
		{"POST", "/v1.0/users/" + adeleID + "/assignLicense", `{"addLicenses":[],"removeLicenses":["` + e5SKU + `"]}`},
		{"POST", "/v1.0/users/holdfast@contoso.com/sendMail", `{"Message":{"@odata.type":"#microsoft.graph.message","body":{"content":"Ann's mailbox is on hold.","contentType":"text"},"subject":"Hold placed","toRecipients":[{"emailAddress":{"address":"it@contoso.com"}},{"emailAddress":{"address":"legal@contoso.com"}}]},"SaveToSentItems":false}`},
	}
	for i, tt := range tests {
		r := reqs[i]
		if r.Method != tt.method || r.Path != tt.path {
			t.Errorf("request %d = %s %s, want %s %s", i, r.Method, r.Path, tt.method, tt.path)
		}
		if !jsonEqual(t, r.Body, tt.body) {
			t.Errorf("request %d body = %s\nwant %s", i, r.Body, tt.body)
		}
	}
}

func TestReads(t *testing.T) {
	f := newFake(t)
	f.on("GET /v1.0/users/{id}/licenseDetails", reply{status: 200, body: licenseDetailsJSON})
	f.on("GET /v1.0/subscribedSkus", reply{status: 200, body: subscribedSkusJSON})
	c := f.client(t, graph.Options{})
	ctx := context.Background()
	ls, err := c.LicenseDetails(ctx, adeleID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 1 || ls[0].SKUID != e3SKU || ls[0].SKUPartNumber != "ENTERPRISEPACK" ||
		!slices.Equal(ls[0].ServicePlans, []string{"EXCHANGE_S_ENTERPRISE", "SHAREPOINTENTERPRISE"}) {
		t.Errorf("LicenseDetails = %+v", ls)
	}
	skus, err := c.SubscribedSKUs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := tenant.SKU{SKUID: e5SKU, SKUPartNumber: "ENTERPRISEPREMIUM", Enabled: 25, Consumed: 14}
	if len(skus) != 1 || skus[0] != want || skus[0].Free() != 11 {
		t.Errorf("SubscribedSKUs = %+v, want %+v", skus, want)
	}
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   error
		code   string
	}{
		{"not found", 404, graphError("Request_ResourceNotFound", "Resource 'x' does not exist or one of its queried reference-property objects are not present."), tenant.ErrNotFound, "Request_ResourceNotFound"},
		{"no units", 400, graphError("Request_BadRequest", "Subscription with SKU 6fd2c87f-b296-42f0-b197-1e91e994b900 does not have any available licenses."), tenant.ErrNoLicenceUnits, "Request_BadRequest"},
		{"proxy conflict", 400, graphError("Request_BadRequest", "Another object with the same value for property proxyAddresses already exists."), tenant.ErrConflict, "Request_BadRequest"},
		{"forbidden", 403, graphError("Authorization_RequestDenied", "Insufficient privileges to complete the operation."), nil, "Authorization_RequestDenied"},
		{"no body", 500, "", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.on("POST /v1.0/users/{id}/assignLicense", reply{status: tt.status, body: tt.body})
			c := f.client(t, graph.Options{MaxRetries: -1})
			err := c.AssignLicenses(context.Background(), adeleID, []string{e3SKU}, nil)
			var se *tenant.ServiceError
			if !errors.As(err, &se) {
				t.Fatalf("err = %T %v, want *tenant.ServiceError", err, err)
			}
			if se.Service != "graph" || se.Status != tt.status || se.Code != tt.code || se.Message == "" {
				t.Errorf("ServiceError = %+v", se)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want errors.Is %v", err, tt.want)
			}
			if tt.want == nil && se.Kind != nil {
				t.Errorf("Kind = %v, want nil", se.Kind)
			}
		})
	}
}

func TestThrottlingRetried(t *testing.T) {
	f := newFake(t)
	f.on("GET /v1.0/users/{id}",
		reply{status: 429, body: graphError("TooManyRequests", "Too many requests."), headers: map[string]string{"Retry-After": "1"}},
		reply{status: 200, body: adeleJSON})
	c := f.client(t, graph.Options{})
	u, err := c.GetUser(context.Background(), adeleID)
	if err != nil || u.ID != adeleID {
		t.Fatalf("got %+v, %v", u, err)
	}
	reqs := f.requests()
	if len(reqs) != 2 || c.Calls() != 2 {
		t.Fatalf("requests = %d, Calls = %d; want 2 (one retry)", len(reqs), c.Calls())
	}
	if reqs[1].Header.Get("Retry-Attempt") != "1" {
		t.Errorf("retry not marked: %v", reqs[1].Header)
	}
}

func TestTransientPostRetriedWithSameBody(t *testing.T) {
	f := newFake(t)
	f.on("POST /v1.0/users/{id}/assignLicense",
		reply{status: 503, headers: map[string]string{"Retry-After": "0"}},
		reply{status: 200, body: adeleJSON})
	c := f.client(t, graph.Options{})
	if err := c.AssignLicenses(context.Background(), adeleID, []string{e3SKU}, nil); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if len(reqs) != 2 {
		t.Fatalf("requests = %d, want 2", len(reqs))
	}
	if reqs[0].Body == "" || reqs[0].Body != reqs[1].Body {
		t.Errorf("retry body %q differs from first %q", reqs[1].Body, reqs[0].Body)
	}
}

func TestThrottlingExhausted(t *testing.T) {
	f := newFake(t)
	f.on("GET /v1.0/subscribedSkus", reply{status: 429, body: graphError("TooManyRequests", "Too many requests."), headers: map[string]string{"Retry-After": "0"}})
	c := f.client(t, graph.Options{MaxRetries: 2})
	_, err := c.SubscribedSKUs(context.Background())
	if !errors.Is(err, tenant.ErrThrottled) {
		t.Fatalf("err = %v, want ErrThrottled", err)
	}
	if n := len(f.requests()); n != 3 {
		t.Errorf("requests = %d, want 3 (1 + 2 retries)", n)
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
	f.on("GET /v1.0/users/{id}", reply{status: 200, body: adeleJSON})
	cred := &fakeCred{}
	c := f.client(t, graph.Options{Credential: cred})
	if _, err := c.GetUser(context.Background(), adeleID); err != nil {
		t.Fatal(err)
	}
	if got := f.requests()[0].Header.Get("Authorization"); got != "Bearer test-token" {
		t.Errorf("Authorization = %q", got)
	}
	if !slices.Equal(cred.scopes, []string{graph.Scope}) {
		t.Errorf("scopes = %v, want only %s", cred.scopes, graph.Scope)
	}
}

func TestNewRefusesAnonymousRemote(t *testing.T) {
	tests := []struct {
		name string
		opts graph.Options
		ok   bool
	}{
		{"anonymous graph", graph.Options{BaseURL: "https://graph.microsoft.com/v1.0"}, false},
		{"anonymous default", graph.Options{}, false},
		{"http remote", graph.Options{BaseURL: "http://graph.example/v1.0", Credential: &fakeCred{}}, false},
		{"anonymous loopback", graph.Options{BaseURL: "http://127.0.0.1:9/v1.0"}, true},
		{"anonymous localhost", graph.Options{BaseURL: "http://localhost:9/v1.0"}, true},
		{"credential graph", graph.Options{Credential: &fakeCred{}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := graph.New(tt.opts)
			if (err == nil) != tt.ok {
				t.Errorf("New err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func equalUser(a, b tenant.User) bool {
	return a.ID == b.ID && a.UserPrincipalName == b.UserPrincipalName && a.Mail == b.Mail &&
		a.DisplayName == b.DisplayName && a.AccountEnabled == b.AccountEnabled && a.EmployeeID == b.EmployeeID &&
		a.Department == b.Department && a.UsageLocation == b.UsageLocation && a.OnPremisesSynced == b.OnPremisesSynced &&
		slices.Equal(a.AssignedSKUs, b.AssignedSKUs) && (a.DeletedAt == nil) == (b.DeletedAt == nil)
}

func jsonEqual(t *testing.T, got, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Errorf("bad JSON %q: %v", got, err)
		return false
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want JSON %q: %v", want, err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	return string(gb) == string(wb)
}

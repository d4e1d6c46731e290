package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast/shared/clock"
	"github.com/holdfast/holdfast/shared/securestring"
)

const testTenant = "6f1c2d3e-4b5a-4978-8a6b-0c1d2e3f4a5b"

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

type env struct {
	t   *testing.T
	s   *Sim
	clk *clock.Virtual
	srv *httptest.Server
}

func newEnv(t *testing.T, users ...UserSpec) *env {
	t.Helper()
	clk := clock.NewVirtual(t0)
	s := New(Options{Clock: clk, TenantID: testTenant, Domain: "contoso.test", Seed: 1})
	if err := s.Load(TenantSpec{Users: users}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return &env{t: t, s: s, clk: clk, srv: srv}
}

func seed(upn string, items int, lic ...string) UserSpec {
	if len(lic) == 0 {
		lic = []string{"ENTERPRISEPACK"}
	}
	return UserSpec{UPN: upn, Licenses: lic, MailboxItems: items, EmployeeID: strings.SplitN(upn, "@", 2)[0]}
}

// do sends a request and decodes a JSON object answer (nil when empty).
func (e *env) do(method, path string, body any, hdr ...string) (int, map[string]any, http.Header) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			e.t.Fatalf("%s %s: answer is not a JSON object: %v: %s", method, path, err, raw)
		}
	}
	return resp.StatusCode, out, resp.Header
}

func (e *env) graph(method, path string, body any) (int, map[string]any) {
	e.t.Helper()
	st, out, _ := e.do(method, "/v1.0"+path, body)
	return st, out
}

// cmd invokes a cmdlet and returns the status and decoded answer.
func (e *env) cmd(name string, params map[string]any, hdr ...string) (int, map[string]any) {
	e.t.Helper()
	if params == nil {
		params = map[string]any{}
	}
	body := map[string]any{"CmdletInput": map[string]any{"CmdletName": name, "Parameters": params}}
	st, out, _ := e.do("POST", "/adminapi/beta/"+testTenant+"/InvokeCommand", body, append([]string{"X-CmdletName", name}, hdr...)...)
	return st, out
}

// mustCmd invokes a cmdlet that must succeed and returns its values.
func (e *env) mustCmd(name string, params map[string]any) []map[string]any {
	e.t.Helper()
	st, out := e.cmd(name, params)
	if st != 200 {
		e.t.Fatalf("%s %v: %d %v", name, params, st, out)
	}
	var vals []map[string]any
	for _, v := range out["value"].([]any) {
		vals = append(vals, v.(map[string]any))
	}
	return vals
}

func (e *env) admin(action, upn string) {
	e.t.Helper()
	if err := e.s.Admin(context.Background(), AdminAction{Action: action, UPN: upn}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) advance(d time.Duration) { e.clk.Advance(d) }

func (e *env) mb(upn string) MailboxReport {
	e.t.Helper()
	r, ok := e.s.Mailboxes()[upn]
	if !ok {
		e.t.Fatalf("no mailbox %s", upn)
	}
	return r
}

func (e *env) userID(upn string) string {
	e.t.Helper()
	st, out := e.graph("GET", "/users/"+upn+"?$select=id", nil)
	if st != 200 {
		e.t.Fatalf("get %s: %d %v", upn, st, out)
	}
	return out["id"].(string)
}

func (e *env) wantState(upn, state string, lost int) {
	e.t.Helper()
	r := e.mb(upn)
	if r.State != state || r.ItemsLost != lost {
		e.t.Fatalf("%s at %s: state %s lost %d, want %s lost %d (%+v)", upn, e.clk.Now().Sub(t0), r.State, r.ItemsLost, state, lost, r)
	}
}

func (e *env) exchangeGUID(upn string) string { return e.mb(upn).ExchangeGuid }

const day = 24 * time.Hour

// password is a strong password encrypted for the simulator, as the admin
// API expects a SecureString.
func (e *env) password() string {
	e.t.Helper()
	k, err := securestring.ParseKey(e.s.SecureStringKeyXML())
	if err != nil {
		e.t.Fatal(err)
	}
	pw, err := securestring.NewPassword()
	if err != nil {
		e.t.Fatal(err)
	}
	ct, err := securestring.Encrypt(k, pw)
	if err != nil {
		e.t.Fatal(err)
	}
	return ct
}

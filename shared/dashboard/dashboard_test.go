package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast/shared/customhandler"
	"github.com/holdfast/holdfast/shared/ledger"
	"github.com/holdfast/holdfast/shared/retention"
)

var now = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

type fixedClock struct{}

func (fixedClock) Now() time.Time { return now }

// fakeReader serves fixed cases; storage itself is exercised by the
// browser test against Azurite.
type fakeReader struct{ cases []ledger.CaseRecord }

func (f *fakeReader) LoadCase(_ context.Context, key string) (ledger.CaseRecord, error) {
	for _, c := range f.cases {
		if c.Key == key {
			return c, nil
		}
	}
	return ledger.CaseRecord{}, ledger.ErrNotFound
}
func (f *fakeReader) ListCases(_ context.Context, fn func(ledger.CaseRecord) error) error {
	for _, c := range f.cases {
		if err := fn(c); err != nil {
			return err
		}
	}
	return nil
}
func (f *fakeReader) ListAudit(context.Context, string, func(ledger.AuditRecord) error) error {
	return nil
}
func (f *fakeReader) ListRejected(context.Context, int, func(ledger.RejectedEvent) error) error {
	return nil
}
func (f *fakeReader) LastRun(context.Context, string) (ledger.Run, error) {
	return ledger.Run{}, ledger.ErrNotFound
}

type fakeAdmin struct{ calls []string }

func (f *fakeAdmin) Release(_ context.Context, ref, reason, actor string) (retention.Case, error) {
	f.calls = append(f.calls, "release "+ref+" "+reason+" "+actor)
	return retention.Case{}, nil
}
func (f *fakeAdmin) RestoreTo(_ context.Context, ref, target, actor string) (retention.Case, error) {
	f.calls = append(f.calls, "restore "+ref+" "+target+" "+actor)
	return retention.Case{}, nil
}
func (f *fakeAdmin) Recover(_ context.Context, ref, upn, actor string) (retention.Case, error) {
	f.calls = append(f.calls, "recover "+ref+" "+upn+" "+actor)
	return retention.Case{}, nil
}

func caseRec(key, upn, state, dept string, deadline time.Time) ledger.CaseRecord {
	data, _ := json.Marshal(map[string]any{"case": map[string]any{"key": key, "upn": upn, "state": state, "department": dept}})
	return ledger.CaseRecord{Key: key, UPN: upn, State: state, Deadline: deadline, Data: data}
}

func fixture(t *testing.T) (*Dashboard, *fakeAdmin) {
	t.Helper()
	r := &fakeReader{cases: []ledger.CaseRecord{
		caseRec("t_a", "a@x.test", "atRisk", "Sales", now.Add(2*24*time.Hour)),
		caseRec("t_b", "b@x.test", "protected", "Legal", time.Time{}),
		caseRec("t_c", "c@x.test", "someFutureState", "Sales", now.Add(20*24*time.Hour)),
		caseRec("t_d", "d@x.test", "purged", "Legal", now.Add(-24*time.Hour)),
		caseRec("t_e", "e@x.test", "released", "Sales", now.Add(9*24*time.Hour)),
	}}
	a := &fakeAdmin{}
	db, err := New(Deps{Reader: r, Admin: a, Clock: fixedClock{}, Mode: "local", CSRFKey: []byte("k")})
	if err != nil {
		t.Fatal(err)
	}
	return db, a
}

func get(db *Dashboard, path string, query map[string]string) customhandler.HTTPOutput {
	if query == nil {
		query = map[string]string{}
	}
	return db.Serve(context.Background(), customhandler.HTTPRequest{Method: "GET", URL: "http://127.0.0.1/api/holdfast/" + path,
		Query: query, Headers: http.Header{"Accept": {"text/html"}}}, path)
}

func post(db *Dashboard, path string, form url.Values, hdr http.Header) customhandler.HTTPOutput {
	if hdr == nil {
		hdr = http.Header{"Origin": {"http://127.0.0.1:7071"}, "Host": {"127.0.0.1:7071"}, "Sec-Fetch-Site": {"same-origin"}}
	}
	hdr.Set("Content-Type", "application/x-www-form-urlencoded")
	return db.Serve(context.Background(), customhandler.HTTPRequest{Method: "POST", URL: "http://127.0.0.1:7071/api/holdfast/" + path,
		Query: map[string]string{}, Headers: hdr, Body: []byte(form.Encode())}, path)
}

func TestGroupOf(t *testing.T) {
	tests := []struct {
		state string
		want  Group
	}{
		{"protected", GroupProtected}, {"inactive", GroupProtected}, {"restored", GroupProtected},
		{"protecting", GroupNotSafe}, {"atRisk", GroupAtRisk}, {"failing", GroupAtRisk}, {"rescuing", GroupRescuing},
		{"blocked", GroupBlocked}, {"released", GroupReleased}, {"tracking", GroupTracking},
		{"purged", GroupClosed}, {"cancelled", GroupClosed},
		{"unconfirmed", GroupAtRisk}, {"someFutureState", GroupOther}, {"", GroupOther},
	}
	for _, tt := range tests {
		if got := GroupOf(tt.state); got != tt.want {
			t.Errorf("GroupOf(%q) = %s, want %s", tt.state, got, tt.want)
		}
	}
}

func TestBuildCalendar(t *testing.T) {
	db, _ := fixture(t)
	var recs []ledger.CaseRecord
	_ = db.d.Reader.ListCases(context.Background(), func(c ledger.CaseRecord) error { recs = append(recs, c); return nil })
	tests := []struct {
		name, state, dept string
		wantOrder         []string // open rows, week order then no-deadline
		wantClosed        int
	}{
		{"all", "", "", []string{"a@x.test", "e@x.test", "c@x.test", "b@x.test"}, 1},
		{"state", "at-risk", "", []string{"a@x.test"}, 0},
		{"department", "", "Sales", []string{"a@x.test", "e@x.test", "c@x.test"}, 0},
		{"unknown state is other, not hidden", "other", "", []string{"c@x.test"}, 0},
		{"closed", "closed", "", nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := BuildCalendar(recs, now, tt.state, tt.dept)
			var got []string
			for _, w := range c.Weeks {
				for _, r := range w.Rows {
					got = append(got, r.UPN)
				}
			}
			for _, r := range c.NoDeadline {
				got = append(got, r.UPN)
			}
			if strings.Join(got, ",") != strings.Join(tt.wantOrder, ",") || len(c.Closed) != tt.wantClosed {
				t.Fatalf("rows %v closed %d, want %v closed %d", got, len(c.Closed), tt.wantOrder, tt.wantClosed)
			}
			if c.Total != 4 {
				t.Fatalf("total open %d, want 4 (counts ignore filters)", c.Total)
			}
		})
	}
	c := BuildCalendar(recs, now, "", "")
	// a (12 Mar) and e (19 Mar) and c (30 Mar) fall in three weeks.
	if len(c.Weeks) != 3 || c.Weeks[0].Label != "Week of Mon 9 Mar 2026" {
		t.Fatalf("weeks %+v", c.Weeks)
	}
	if c.Weeks[0].Rows[0].Urgency != "urgent" || c.Weeks[1].Rows[0].Urgency != "later" || c.Weeks[2].Rows[0].Urgency != "far" {
		t.Fatalf("urgency %s %s %s", c.Weeks[0].Rows[0].Urgency, c.Weeks[1].Rows[0].Urgency, c.Weeks[2].Rows[0].Urgency)
	}
}

func TestPagesCarryStrictHeaders(t *testing.T) {
	db, _ := fixture(t)
	for _, p := range []string{"", "ui/case/t_a", "ui/rejected", "ui/health", "ui/nothing", "ui/case/t_zz"} {
		o := get(db, p, nil)
		csp := o.Headers["Content-Security-Policy"]
		if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe") || strings.Contains(csp, "script-src") {
			t.Errorf("%q: CSP %q", p, csp)
		}
		if o.Headers["X-Content-Type-Options"] != "nosniff" || o.Headers["Referrer-Policy"] == "" {
			t.Errorf("%q: headers %v", p, o.Headers)
		}
		if strings.Contains(o.Body, "<script") || strings.Contains(o.Body, " style=") || strings.Contains(o.Body, " on") && regexp.MustCompile(` on[a-z]+=`).MatchString(o.Body) {
			t.Errorf("%q: inline script or style in the page", p)
		}
	}
	if o := get(db, "ui/case/t_zz", nil); o.StatusCode != http.StatusNotFound {
		t.Errorf("unknown case: %d", o.StatusCode)
	}
	if o := get(db, "", nil); !strings.Contains(o.Body, "c@x.test") || !strings.Contains(o.Body, "Other") {
		t.Errorf("a case in a state this build does not know is not listed as other")
	}
}

func TestLinksKeepTheFunctionKey(t *testing.T) {
	db, _ := fixture(t)
	o := get(db, "", map[string]string{"code": "k3y/+="})
	links := regexp.MustCompile(`(?:href|action)="([^"]+)"`).FindAllStringSubmatch(o.Body, -1)
	if len(links) < 5 {
		t.Fatalf("only %d links", len(links))
	}
	for _, l := range links {
		if !strings.HasPrefix(l[1], "#") && !strings.Contains(l[1], "code=k3y%2F%2B%3D") {
			t.Errorf("link %s drops the key", l[1])
		}
	}
	if !strings.Contains(o.Body, `name="code" value="k3y/&#43;="`) {
		t.Errorf("the filter form drops the key")
	}
}

func TestAdminOperationNeedsConfirmation(t *testing.T) {
	db, admin := fixture(t)
	form := url.Values{"op": {"release"}, "reason": {"legal hold lifted"}, "actor": {"Ann Admin"}}
	conf := post(db, "ui/case/t_a/confirm", form, nil)
	if conf.StatusCode != http.StatusOK || len(admin.calls) != 0 {
		t.Fatalf("confirm: %d, calls %v", conf.StatusCode, admin.calls)
	}
	m := regexp.MustCompile(`name="token" value="([^"]+)"`).FindStringSubmatch(conf.Body)
	if m == nil {
		t.Fatal("no token on the confirm page")
	}
	token := m[1]
	tests := []struct {
		name   string
		form   url.Values
		hdr    http.Header
		status int
	}{
		{"no token", url.Values{"op": {"release"}, "reason": {"legal hold lifted"}, "actor": {"Ann Admin"}}, nil, http.StatusForbidden},
		{"token for another reason", url.Values{"op": {"release"}, "reason": {"something else"}, "actor": {"Ann Admin"}, "token": {token}}, nil, http.StatusForbidden},
		{"token for another case", url.Values{"op": {"release"}, "reason": {"legal hold lifted"}, "actor": {"Ann Admin"}, "token": {token}}, nil, http.StatusForbidden},
		{"posted from another site", url.Values{"op": {"release"}, "reason": {"legal hold lifted"}, "actor": {"Ann Admin"}, "token": {token}},
			http.Header{"Origin": {"https://evil.example"}, "Host": {"127.0.0.1:7071"}}, http.StatusForbidden},
		{"cross-site fetch metadata", url.Values{"op": {"release"}, "reason": {"legal hold lifted"}, "actor": {"Ann Admin"}, "token": {token}},
			http.Header{"Sec-Fetch-Site": {"cross-site"}, "Host": {"127.0.0.1:7071"}}, http.StatusForbidden},
		{"confirmed", url.Values{"op": {"release"}, "reason": {"legal hold lifted"}, "actor": {"Ann Admin"}, "token": {token}}, nil, http.StatusSeeOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "ui/case/t_a/run"
			if tt.name == "token for another case" {
				path = "ui/case/t_e/run"
			}
			before := len(admin.calls)
			o := post(db, path, tt.form, tt.hdr)
			if o.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", o.StatusCode, tt.status, o.Body)
			}
			ran := len(admin.calls) > before
			if ran != (tt.status == http.StatusSeeOther) {
				t.Fatalf("operation ran %v, calls %v", ran, admin.calls)
			}
		})
	}
	if got := admin.calls[len(admin.calls)-1]; got != "release t_a legal hold lifted dashboard:Ann Admin" {
		t.Fatalf("engine call %q", got)
	}
	// A release without a reason or a name stops on the confirm page.
	o := post(db, "ui/case/t_a/confirm", url.Values{"op": {"release"}}, nil)
	if strings.Contains(o.Body, `name="token"`) || !strings.Contains(o.Body, "needs a reason") {
		t.Fatalf("confirm without reason offered a token")
	}
}

func TestTokenExpires(t *testing.T) {
	db, _ := fixture(t)
	tok := db.token(time.Now().Add(time.Minute), "k", "release", "r", "a")
	if err := db.checkToken(tok, time.Now(), "k", "release", "r", "a"); err != nil {
		t.Fatal(err)
	}
	if err := db.checkToken(tok, time.Now().Add(2*time.Minute), "k", "release", "r", "a"); !errors.Is(err, errToken) {
		t.Fatalf("expired token: %v", err)
	}
}

func TestHealthWithoutSubscription(t *testing.T) {
	db, _ := fixture(t)
	o := get(db, "ui/health", nil)
	for _, want := range []string{"Storage", "answering", "Graph subscription", "not configured", "Last sweep", "Last reconcile", "never"} {
		if !strings.Contains(o.Body, want) {
			t.Errorf("health page lacks %q", want)
		}
	}
}

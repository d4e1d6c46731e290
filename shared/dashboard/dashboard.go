// Package dashboard renders holdfast's admin pages: the purge calendar,
// each case's evidence and admin operations, rejected events and health.
// It is server-rendered with html/template from embedded files and served
// by the Api function under the same route and key check as the JSON Api;
// it needs no JavaScript (the pages send none) and declares a strict
// Content-Security-Policy.
package dashboard

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/holdfast/holdfast/shared/customhandler"
	"github.com/holdfast/holdfast/shared/ledger"
	"github.com/holdfast/holdfast/shared/retention"
)

//go:embed templates/*.html static/*
var files embed.FS

// Base is the URL path the Functions host serves the Api under
// (routePrefix "api" in host.json, route "holdfast/{*path}").
const Base = "/api/holdfast/"

// Reader is what the pages read from storage.
type Reader interface {
	LoadCase(ctx context.Context, key string) (ledger.CaseRecord, error)
	ListCases(ctx context.Context, fn func(ledger.CaseRecord) error) error
	ListAudit(ctx context.Context, key string, fn func(ledger.AuditRecord) error) error
	ListRejected(ctx context.Context, max int, fn func(ledger.RejectedEvent) error) error
	LastRun(ctx context.Context, name string) (ledger.Run, error)
}

// Admin runs the audited admin operations (the engine's, as the CLI does).
type Admin interface {
	Release(ctx context.Context, ref, reason, actor string) (retention.Case, error)
	RestoreTo(ctx context.Context, ref, target, actor string) (retention.Case, error)
	Recover(ctx context.Context, ref, upn, actor string) (retention.Case, error)
}

// Subscription is the state of the Graph change-notification subscription.
type Subscription struct {
	State     string // e.g. "active", "expiring", "missing"
	Resource  string
	ExpiresAt time.Time
	Detail    string
	Healthy   bool
}

// SubscriptionSource reports the Graph subscription; nil means holdfast
// manages none ("not configured" on the health page).
type SubscriptionSource interface {
	Subscription(ctx context.Context) (Subscription, error)
}

// PlannedAction is something holdfast would do, shown on the case page
// (observe-only mode lists what it did not do).
type PlannedAction struct {
	At     time.Time
	What   string
	Detail string
}

// PlanSource lists a case's planned actions; nil hides the section.
type PlanSource interface {
	Planned(ctx context.Context, caseKey string) ([]PlannedAction, error)
}

// Deps are what the dashboard reads and runs.
type Deps struct {
	Reader        Reader
	Admin         Admin
	Clock         interface{ Now() time.Time }
	Subscriptions SubscriptionSource // optional
	Plans         PlanSource         // optional
	// Mode is shown on the health page ("local" or "azure").
	Mode string
	// CSRFKey signs confirmation tokens; random when empty. Instances
	// with different keys reject each other's confirmations (the admin
	// confirms again).
	CSRFKey []byte
}

// Dashboard serves the pages.
type Dashboard struct {
	d    Deps
	tmpl map[string]*template.Template
	css  []byte
	icon []byte
}

// New parses the embedded templates.
func New(d Deps) (*Dashboard, error) {
	if len(d.CSRFKey) == 0 {
		d.CSRFKey = make([]byte, 32)
		if _, err := rand.Read(d.CSRFKey); err != nil {
			return nil, fmt.Errorf("dashboard: csrf key: %w", err)
		}
	}
	db := &Dashboard{d: d, tmpl: map[string]*template.Template{}}
	pages, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, p := range pages {
		name := strings.TrimSuffix(strings.TrimPrefix(p, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", p)
		if err != nil {
			return nil, fmt.Errorf("dashboard: %s: %w", p, err)
		}
		db.tmpl[name] = t
	}
	if db.css, err = files.ReadFile("static/style.css"); err != nil {
		return nil, err
	}
	if db.icon, err = files.ReadFile("static/favicon.svg"); err != nil {
		return nil, err
	}
	return db, nil
}

// Handles reports whether a request below Base is the dashboard's: any
// path under "ui/", and the root when a browser asks for HTML (the JSON
// health answer stays for everything else).
func Handles(path string, req customhandler.HTTPRequest) bool {
	if strings.HasPrefix(path, "ui/") || path == "ui" {
		return true
	}
	return path == "" && strings.Contains(req.Headers.Get("Accept"), "text/html")
}

// securityHeaders go on every answer. No script is sent, so none is
// allowed; forms may only post back here; nothing may frame the pages.
// same-origin keeps a function key in the URL from leaking to other
// sites (no-referrer would also make browsers send "Origin: null" on the
// forms, which the origin check refuses).
func securityHeaders(ct string) map[string]string {
	return map[string]string{
		"Content-Type":            ct,
		"Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "same-origin",
		"Cache-Control":           "no-store",
		"X-Frame-Options":         "DENY",
	}
}

func out(status int, ct, body string) customhandler.HTTPOutput {
	return customhandler.HTTPOutput{StatusCode: status, Body: body, Headers: securityHeaders(ct)}
}

// request is one page request with what links need.
type request struct {
	ctx  context.Context
	req  customhandler.HTTPRequest
	code string // the function key the caller came with (?code=), kept on links
	form url.Values
}

// Code is the function key the caller came with, for forms that GET.
func (r *request) Code() string { return r.code }

// Link builds a dashboard URL, keeping the caller's ?code= so the next
// request passes the host's key check too.
func (r *request) Link(path string, kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	if r.code != "" {
		q.Set("code", r.code)
	}
	u := Base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// Serve answers a dashboard request; path is below Base.
func (db *Dashboard) Serve(ctx context.Context, req customhandler.HTTPRequest, path string) customhandler.HTTPOutput {
	r := &request{ctx: ctx, req: req, code: req.Query["code"]}
	path = strings.Trim(path, "/")
	parts := strings.Split(path, "/")
	post := strings.EqualFold(req.Method, http.MethodPost)
	if post {
		if !sameOrigin(req) {
			return db.errorPage(r, http.StatusForbidden, "This form was posted from another site.")
		}
		form, err := url.ParseQuery(string(req.Body))
		if err != nil {
			return db.errorPage(r, http.StatusBadRequest, "The form could not be read.")
		}
		r.form = form
	}
	switch {
	case path == "ui/static/style.css":
		o := out(http.StatusOK, "text/css; charset=utf-8", string(db.css))
		o.Headers["Cache-Control"] = "max-age=300"
		return o
	case path == "ui/static/favicon.svg":
		o := out(http.StatusOK, "image/svg+xml", string(db.icon))
		o.Headers["Cache-Control"] = "max-age=300"
		return o
	case (path == "" || path == "ui" || path == "ui/calendar") && !post:
		return db.calendar(r)
	case path == "ui/rejected" && !post:
		return db.rejected(r)
	case path == "ui/health" && !post:
		return db.health(r)
	case len(parts) == 3 && parts[0] == "ui" && parts[1] == "case" && !post:
		return db.casePage(r, parts[2])
	case len(parts) == 4 && parts[0] == "ui" && parts[1] == "case" && (parts[3] == "evidence.json" || parts[3] == "evidence.csv") && !post:
		return db.evidence(r, parts[2], strings.TrimPrefix(parts[3], "evidence."))
	case len(parts) == 4 && parts[0] == "ui" && parts[1] == "case" && parts[3] == "confirm" && post:
		return db.confirm(r, parts[2])
	case len(parts) == 4 && parts[0] == "ui" && parts[1] == "case" && parts[3] == "run" && post:
		return db.run(r, parts[2])
	}
	return db.errorPage(r, http.StatusNotFound, "There is no page here.")
}

// sameOrigin refuses a form posted from another site: browsers say where
// a request comes from in Sec-Fetch-Site and Origin. A request that sends
// neither (not a browser) still needs the confirmation token.
func sameOrigin(req customhandler.HTTPRequest) bool {
	if s := req.Headers.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" {
		return false
	}
	o := req.Headers.Get("Origin")
	if o == "" {
		return true
	}
	if o == "null" {
		return false
	}
	ou, err := url.Parse(o)
	if err != nil {
		return false
	}
	host := req.Headers.Get("X-Forwarded-Host")
	if host == "" {
		host = req.Headers.Get("Host")
	}
	if host == "" {
		if u, err := url.Parse(req.URL); err == nil {
			host = u.Host
		}
	}
	return strings.EqualFold(ou.Host, host)
}

// tokenTTL bounds how long a confirmation page may sit before its button
// stops working.
const tokenTTL = 15 * time.Minute

// token signs an operation's exact parameters with an expiry: the run
// step executes only what the confirmation page showed.
func (db *Dashboard) token(expires time.Time, fields ...string) string {
	m := hmac.New(sha256.New, db.d.CSRFKey)
	exp := strconv.FormatInt(expires.Unix(), 10)
	m.Write([]byte(exp))
	for _, f := range fields {
		m.Write([]byte{0})
		m.Write([]byte(f))
	}
	return exp + "." + hex.EncodeToString(m.Sum(nil))
}

var errToken = errors.New("the confirmation expired or does not match; confirm again")

func (db *Dashboard) checkToken(tok string, now time.Time, fields ...string) error {
	exp, _, ok := strings.Cut(tok, ".")
	if !ok {
		return errToken
	}
	n, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || time.Unix(n, 0).Before(now) {
		return errToken
	}
	if !hmac.Equal([]byte(tok), []byte(db.token(time.Unix(n, 0), fields...))) {
		return errToken
	}
	return nil
}

func (db *Dashboard) render(r *request, status int, page string, data any) customhandler.HTTPOutput {
	t, ok := db.tmpl[page]
	if !ok {
		return out(http.StatusInternalServerError, "text/plain; charset=utf-8", "no template "+page)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, map[string]any{"R": r, "D": data, "Now": db.d.Clock.Now()}); err != nil {
		return out(http.StatusInternalServerError, "text/plain; charset=utf-8", "rendering "+page+": "+err.Error())
	}
	return out(status, "text/html; charset=utf-8", b.String())
}

func (db *Dashboard) errorPage(r *request, status int, msg string) customhandler.HTTPOutput {
	return db.render(r, status, "error", map[string]any{"Status": status, "Title": http.StatusText(status), "Message": msg})
}

package notify

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

var update = flag.Bool("update", false, "rewrite golden files")

// fastRetry keeps pipeline retries quick in tests that are not about the
// delay itself.
func fastRetry(maxRetries int32) policy.RetryOptions {
	r := teamsRetry()
	r.MaxRetries = maxRetries
	r.RetryDelay = time.Millisecond
	r.MaxRetryDelay = 5 * time.Millisecond
	r.TryTimeout = 10 * time.Second
	return r
}

// webhook is an httptest stand-in for a Teams webhook that answers from a
// script and records every request.
type webhook struct {
	mu      sync.Mutex
	bodies  [][]byte
	ctypes  []string
	answers []func(w http.ResponseWriter, r *http.Request)
}

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	n := len(h.bodies)
	h.bodies = append(h.bodies, b)
	h.ctypes = append(h.ctypes, r.Header.Get("Content-Type"))
	answer := func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) }
	if n < len(h.answers) {
		answer = h.answers[n]
	} else if len(h.answers) > 0 {
		answer = h.answers[len(h.answers)-1]
	}
	h.mu.Unlock()
	answer(w, r)
}

func (h *webhook) requests() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.bodies)
}

func status(code int, body string, header ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

func TestTeamsCardGolden(t *testing.T) {
	got, err := json.MarshalIndent(TeamsMessage(sampleAlert()), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "teams_card.golden.json")
	if *update {
		if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("golden file is not JSON: %v", err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("card differs from %s:\n%s", golden, got)
	}
	checkCardShape(t, want)
}

// checkCardShape parses a webhook body back and checks what Teams and
// Workflows require and what an admin must see.
func checkCardShape(t *testing.T, body []byte) {
	t.Helper()
	var msg struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string          `json:"contentType"`
			ContentURL  json.RawMessage `json:"contentUrl"`
			Content     struct {
				Schema  string `json:"$schema"`
				Type    string `json:"type"`
				Version string `json:"version"`
				Body    []struct {
					Type  string `json:"type"`
					Text  string `json:"text"`
					Facts []Fact `json:"facts"`
				} `json:"body"`
			} `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		t.Fatalf("card does not parse: %v", err)
	}
	if msg.Type != "message" || len(msg.Attachments) != 1 {
		t.Fatalf("type %q with %d attachments, want message with 1", msg.Type, len(msg.Attachments))
	}
	att := msg.Attachments[0]
	if att.ContentType != "application/vnd.microsoft.card.adaptive" {
		t.Errorf("contentType %q", att.ContentType)
	}
	if string(att.ContentURL) != "null" {
		t.Errorf("contentUrl %s, want null", att.ContentURL)
	}
	c := att.Content
	if c.Type != "AdaptiveCard" || (c.Version != "1.4" && c.Version != "1.5") || c.Schema == "" {
		t.Errorf("card type %q version %q schema %q", c.Type, c.Version, c.Schema)
	}
	if len(c.Body) == 0 || c.Body[0].Type != "TextBlock" || !strings.Contains(c.Body[0].Text, "ann.lee@contoso.com") {
		t.Errorf("first element should be a title naming the user: %+v", c.Body)
	}
	facts := map[string]string{}
	for _, el := range c.Body {
		if el.Type == "FactSet" {
			for _, f := range el.Facts {
				facts[f.Title] = f.Value
			}
		}
	}
	for title, want := range map[string]string{
		"User":      "ann.lee@contoso.com",
		"Deadline":  "2026-03-15 09:00 UTC (7 days left)",
		"State":     "atRisk",
		"Action":    "holdfast will rescue it automatically at 2026-03-12T09:00:00Z",
		"threshold": "7d",
	} {
		if facts[title] != want {
			t.Errorf("fact %q = %q, want %q", title, facts[title], want)
		}
	}
	if facts["Remedy"] != noRemedy {
		t.Errorf("an alert without a remedy should say none is needed, got %q", facts["Remedy"])
	}
}

func TestTeamsPostsCard(t *testing.T) {
	h := &webhook{}
	srv := httptest.NewServer(h)
	defer srv.Close()
	tm := newTeams(srv.URL+"/hook?sig=abcdef123456", srv.Client(), fastRetry(0))
	if err := tm.Send(context.Background(), sampleAlert()); err != nil {
		t.Fatal(err)
	}
	if h.requests() != 1 {
		t.Fatalf("%d requests, want 1", h.requests())
	}
	if !strings.HasPrefix(h.ctypes[0], "application/json") {
		t.Errorf("Content-Type %q", h.ctypes[0])
	}
	checkCardShape(t, h.bodies[0])
}

func TestTeamsHonoursRetryAfterOn429(t *testing.T) {
	h := &webhook{answers: []func(http.ResponseWriter, *http.Request){
		status(http.StatusTooManyRequests, "slow down", "Retry-After", "1"),
		status(http.StatusAccepted, ""),
	}}
	srv := httptest.NewServer(h)
	defer srv.Close()
	// The pipeline's own backoff is set to an hour: only by honouring the
	// 1-second Retry-After can the retry land inside the 30 s context.
	r := teamsRetry()
	r.RetryDelay, r.MaxRetryDelay = time.Hour, 2*time.Hour
	tm := newTeams(srv.URL+"/hook?sig=abcdef123456", srv.Client(), r)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := tm.Send(ctx, sampleAlert()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if h.requests() != 2 {
		t.Fatalf("%d requests, want 2 (one 429, one retry)", h.requests())
	}
	if string(h.bodies[0]) != string(h.bodies[1]) {
		t.Error("the retry sent a different body")
	}
}

func TestTeamsStatusHandling(t *testing.T) {
	legacyThrottle := "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429 with ContextId tcid=0"
	for _, tc := range []struct {
		name      string
		answers   []func(http.ResponseWriter, *http.Request)
		requests  int
		ok        bool
		permanent bool
		contains  string
	}{
		{name: "202 accepted", answers: nil, requests: 1, ok: true},
		{name: "200 ok", answers: fns(status(200, "1")), requests: 1, ok: true},
		{name: "400 bad card", answers: fns(status(400, "Bad payload")), requests: 1, permanent: true, contains: "HTTP 400: Bad payload"},
		{name: "401", answers: fns(status(401, "")), requests: 1, permanent: true, contains: "HTTP 401"},
		{name: "403 revoked", answers: fns(status(403, "")), requests: 1, permanent: true, contains: "HTTP 403"},
		{name: "404 flow gone", answers: fns(status(404, "")), requests: 1, permanent: true, contains: "HTTP 404"},
		{name: "413 too large", answers: fns(status(413, "")), requests: 1, permanent: true, contains: "HTTP 413"},
		{name: "503 then ok", answers: fns(status(503, ""), status(200, "1")), requests: 2, ok: true},
		{name: "500 always", answers: fns(status(500, "boom")), requests: 3, contains: "HTTP 500: boom"},
		{name: "429 always", answers: fns(status(429, "", "Retry-After", "7200")), requests: 1, contains: "retry after 2h0m0s"},
		{name: "legacy 200 with throttle body", answers: fns(status(200, legacyThrottle)), requests: 1, contains: "HTTP 200"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &webhook{answers: tc.answers}
			srv := httptest.NewServer(h)
			defer srv.Close()
			tm := newTeams(srv.URL+"/hook?sig=abcdef123456", srv.Client(), fastRetry(2))
			err := tm.Send(context.Background(), sampleAlert())
			if got := h.requests(); got != tc.requests {
				t.Errorf("%d requests, want %d", got, tc.requests)
			}
			if tc.ok {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Send succeeded, want an error")
			}
			if IsPermanent(err) != tc.permanent {
				t.Errorf("IsPermanent = %v, want %v (%v)", IsPermanent(err), tc.permanent, err)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("error %q does not contain %q", err, tc.contains)
			}
		})
	}
}

func fns(f ...func(http.ResponseWriter, *http.Request)) []func(http.ResponseWriter, *http.Request) {
	return f
}

func TestTeamsRetryAfterReachesDispatcher(t *testing.T) {
	h := &webhook{answers: fns(status(429, "", "Retry-After", "120"))}
	srv := httptest.NewServer(h)
	defer srv.Close()
	tm := newTeams(srv.URL+"/hook?sig=abcdef123456", srv.Client(), fastRetry(2))
	err := tm.Send(context.Background(), sampleAlert())
	var ra interface{ RetryAfter() time.Duration }
	if !errors.As(err, &ra) || ra.RetryAfter() != 120*time.Second {
		t.Fatalf("error %v does not carry Retry-After 120s", err)
	}
}

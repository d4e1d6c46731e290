package customhandler

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

const (
	testInvID = "5d1c8e8e-3c0a-4b4e-9f7e-2b6a1c9d0e11"
	testTrace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
)

func post(t *testing.T, h http.Handler, function string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/"+function, bytes.NewReader(body))
	r.Header.Set(HeaderInvocationID, testInvID)
	r.Header.Set(HeaderTraceParent, testTrace)
	r.Header.Set("Content-Type", "application/json; charset=utf-8")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func mustTimerEnv(t *testing.T, function string) []byte {
	t.Helper()
	env, err := EncodeTimer(function, "timer", TimerInfo{}, now)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestServerStatuses(t *testing.T) {
	s := NewServer(zerolog.Nop(), ServerOptions{MaxBody: 4096})
	s.Handle("Ok", func(ctx context.Context, inv *Invocation) (Response, error) {
		return Response{Outputs: map[string]any{"res": HTTPOutput{StatusCode: 201, Body: "created"}}, Logs: []string{"l1"}, ReturnValue: "r"}, nil
	})
	s.Handle("Empty", func(ctx context.Context, inv *Invocation) (Response, error) { return Response{}, nil })
	s.Handle("Fail", func(ctx context.Context, inv *Invocation) (Response, error) {
		return Response{Logs: []string{"dropped"}}, errors.New("store unavailable")
	})
	s.Handle("Panic", func(ctx context.Context, inv *Invocation) (Response, error) { panic("boom") })
	s.Handle("Unencodable", func(ctx context.Context, inv *Invocation) (Response, error) {
		return Response{ReturnValue: make(chan int)}, nil
	})

	tests := []struct {
		name     string
		method   string
		path     string
		body     []byte
		status   int
		contains string
	}{
		{"readiness", http.MethodGet, "/", nil, 200, `"ready"`},
		{"get other path is cheap", http.MethodGet, "/Ok", nil, 405, `"error"`},
		{"ok", http.MethodPost, "/Ok", mustTimerEnv(t, "Ok"), 200, `"Outputs":{"res":{"statusCode":201,"body":"created","headers":null}},"Logs":["l1"],"ReturnValue":"r"`},
		{"nil collections", http.MethodPost, "/Empty", mustTimerEnv(t, "Empty"), 200, `{"Outputs":{},"Logs":[],"ReturnValue":null}`},
		{"handler error means retry", http.MethodPost, "/Fail", mustTimerEnv(t, "Fail"), 500, `"error":"store unavailable"`},
		{"panic recovered", http.MethodPost, "/Panic", mustTimerEnv(t, "Panic"), 500, `"error"`},
		{"unencodable response", http.MethodPost, "/Unencodable", mustTimerEnv(t, "Unencodable"), 500, `not serialisable`},
		{"unknown function", http.MethodPost, "/Nope", mustTimerEnv(t, "Nope"), 404, `"error":"no function \"Nope\""`},
		{"case matters", http.MethodPost, "/ok", mustTimerEnv(t, "ok"), 404, `"error"`},
		{"malformed envelope", http.MethodPost, "/Ok", []byte(`[1,2]`), 400, `"error"`},
		{"too large", http.MethodPost, "/Ok", bytes.Repeat([]byte(" "), 5000), 413, `too large`},
		{"method", http.MethodPut, "/Ok", nil, 405, `"error"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.path, bytes.NewReader(tt.body))
			r.Header.Set(HeaderInvocationID, testInvID)
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Errorf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q: the host fails anything but application/json", ct)
			}
			if !json.Valid(w.Body.Bytes()) {
				t.Errorf("body is not JSON: %s", w.Body)
			}
			if !strings.Contains(w.Body.String(), tt.contains) {
				t.Errorf("body %s does not contain %s", w.Body, tt.contains)
			}
		})
	}
}

func TestServerHandlerSeesDecodedInvocation(t *testing.T) {
	s := NewServer(zerolog.Nop(), ServerOptions{})
	var got *Invocation
	s.Handle("OnOffboarding", func(ctx context.Context, inv *Invocation) (Response, error) {
		got = inv
		return Response{}, nil
	})
	env, err := EncodeServiceBus("OnOffboarding", "msg", ServiceBusMessage{Body: []byte("x"), MessageID: "m"}, BodyBinary, now)
	if err != nil {
		t.Fatal(err)
	}
	if w := post(t, s, "OnOffboarding", env); w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if got == nil || got.Function != "OnOffboarding" || got.InvocationID != testInvID || got.TraceParent != testTrace {
		t.Fatalf("invocation %+v", got)
	}
	if m, err := got.ServiceBusMessage("msg", BodyBinary); err != nil || string(m.Body) != "x" || m.MessageID != "m" {
		t.Fatalf("message %+v %v", m, err)
	}
}

// TestServerLogFields: every line a handler writes through zerolog.Ctx, and
// every line the server writes about the invocation, carries the
// invocation id, the function and the traceparent.
func TestServerLogFields(t *testing.T) {
	var buf bytes.Buffer
	s := NewServer(zerolog.New(&buf).Level(zerolog.DebugLevel), ServerOptions{})
	s.Handle("Reconcile", func(ctx context.Context, inv *Invocation) (Response, error) {
		log := zerolog.Ctx(ctx)
		log.Info().Msg("one")
		log.Warn().Str("k", "v").Msg("two")
		sub := log.With().Str("step", "inner").Logger()
		sub.Info().Msg("three")
		return Response{}, errors.New("four: failure logged by the server")
	})
	s.Handle("Panics", func(ctx context.Context, inv *Invocation) (Response, error) {
		zerolog.Ctx(ctx).Info().Msg("before panic")
		panic("five")
	})
	post(t, s, "Reconcile", mustTimerEnv(t, "Reconcile"))
	post(t, s, "Panics", mustTimerEnv(t, "Panics"))

	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	lines := 0
	seen := map[string]bool{}
	for sc.Scan() {
		lines++
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("log line not JSON: %s", sc.Bytes())
		}
		if e["invocationId"] != testInvID || e["traceparent"] != testTrace || (e["function"] != "Reconcile" && e["function"] != "Panics") {
			t.Errorf("line lacks invocation fields: %s", sc.Bytes())
		}
		seen[e["message"].(string)] = true
	}
	for _, m := range []string{"one", "two", "three", "before panic", "handler panicked"} {
		if !seen[m] {
			t.Errorf("missing log line %q (saw %v)", m, seen)
		}
	}
	if lines < 7 {
		t.Errorf("only %d log lines", lines)
	}
}

func TestHandleRejectsDuplicates(t *testing.T) {
	s := NewServer(zerolog.Nop(), ServerOptions{})
	h := func(ctx context.Context, inv *Invocation) (Response, error) { return Response{}, nil }
	s.Handle("A", h)
	defer func() {
		if recover() == nil {
			t.Error("duplicate Handle did not panic")
		}
	}()
	s.Handle("A", h)
}

func TestListenAddr(t *testing.T) {
	tests := []struct {
		env     map[string]string
		want    string
		wantErr bool
	}{
		{map[string]string{EnvPort: "7071"}, "127.0.0.1:7071", false},
		{map[string]string{EnvPortLegacy: "8080"}, "127.0.0.1:8080", false},
		{map[string]string{EnvPort: "7071", EnvPortLegacy: "8080"}, "127.0.0.1:7071", false},
		{map[string]string{EnvPort: "", EnvPortLegacy: "8080"}, "127.0.0.1:8080", false},
		{map[string]string{}, "", true},
		{map[string]string{EnvPort: "0"}, "", true},
		{map[string]string{EnvPort: "70000"}, "", true},
		{map[string]string{EnvPort: "0.0.0.0:80"}, "", true},
	}
	for _, tt := range tests {
		got, err := ListenAddr(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ListenAddr(%v) = %q, %v", tt.env, got, err)
		}
	}
	if _, err := ListenAddr(func(string) (string, bool) { return "", false }); !errors.Is(err, ErrNoPort) {
		t.Errorf("err = %v, want ErrNoPort", err)
	}
}

func TestParseTimeSpan(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"00:10:00", 10 * time.Minute, false},
		{"00:05:00", 5 * time.Minute, false},
		{"01:30:15", time.Hour + 30*time.Minute + 15*time.Second, false},
		{"1.02:00:00", 26 * time.Hour, false},
		{"00:00:00.80", 800 * time.Millisecond, false},
		{"00:00:01.1234567", time.Second + 123456700, false},
		{"00:15", 15 * time.Minute, false},
		{"2", 48 * time.Hour, false},
		{"-1", -24 * time.Hour, false}, // host.json: unbounded
		{" 00:10:00 ", 10 * time.Minute, false},
		{"", 0, true},
		{"10m", 0, true},
		{"24:00:00", 0, true},
		{"00:60:00", 0, true},
		{"00:00:60", 0, true},
		{"1:2:3:4", 0, true},
		{"00:00:00.", 0, true},
		{"00:00:00.12345678", 0, true},
		{"+00:10:00", 0, true},
		{"1.", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseTimeSpan(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParseTimeSpan(%q) = %v, %v; want %v, err %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestNewHTTPServerHonoursHostJSON reads the app's host.json: the server's
// body timeouts must outlast the host's client (functionTimeout + 1 min),
// or a long invocation would be cut off while the host still waits.
func TestNewHTTPServerHonoursHostJSON(t *testing.T) {
	b, err := os.ReadFile("../../host.json")
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ FunctionTimeout string }
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	ft, err := ParseTimeSpan(h.FunctionTimeout)
	if err != nil {
		t.Fatalf("host.json functionTimeout: %v", err)
	}
	if ft <= 0 {
		t.Fatalf("host.json functionTimeout %q should be bounded", h.FunctionTimeout)
	}
	hs := NewHTTPServer("127.0.0.1:0", http.NotFoundHandler(), ft)
	min := ft + time.Minute
	if HostClientTimeout(ft) != min {
		t.Errorf("HostClientTimeout = %v, want %v", HostClientTimeout(ft), min)
	}
	if hs.ReadTimeout < min || hs.WriteTimeout < min {
		t.Errorf("Read/Write timeouts %v/%v, want >= %v", hs.ReadTimeout, hs.WriteTimeout, min)
	}
	if hs.ReadHeaderTimeout <= 0 || hs.ReadHeaderTimeout > 30*time.Second {
		t.Errorf("ReadHeaderTimeout %v should be small and set", hs.ReadHeaderTimeout)
	}
	if hs.Addr != "127.0.0.1:0" || hs.Handler == nil {
		t.Errorf("server not configured: %+v", hs)
	}

	// "-1" (unbounded): the host waits forever, so must the server.
	unbounded, err := ParseTimeSpan("-1")
	if err != nil {
		t.Fatal(err)
	}
	hs = NewHTTPServer("127.0.0.1:0", http.NotFoundHandler(), unbounded)
	if hs.ReadTimeout != 0 || hs.WriteTimeout != 0 || hs.ReadHeaderTimeout == 0 {
		t.Errorf("unbounded: Read/Write %v/%v header %v", hs.ReadTimeout, hs.WriteTimeout, hs.ReadHeaderTimeout)
	}
}

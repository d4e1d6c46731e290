package customhandler

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"
)

var (
	guidRE        = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	traceparentRE = regexp.MustCompile(`^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$`)
)

func TestClientSendsHostHeaders(t *testing.T) {
	var mu sync.Mutex
	var got *http.Request
	var body []byte
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, body = r, b
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"outputs":{"res":{"statusCode":200,"body":"ok"}},"logs":["a"],"returnValue":12345678901234567}`)
	}))
	defer ts.Close()

	c := &Client{BaseURL: ts.URL + "/", HTTP: ts.Client()}
	env := mustTimerEnv(t, "ExpirySweep")
	resp, err := c.Invoke(context.Background(), "ExpirySweep", env)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got.Method != http.MethodPost || got.URL.Path != "/ExpirySweep" {
		t.Errorf("%s %s", got.Method, got.URL.Path)
	}
	if id := got.Header.Get(HeaderInvocationID); !guidRE.MatchString(id) {
		t.Errorf("invocation id %q", id)
	}
	if v := got.Header.Get(HeaderHostVersion); !strings.HasPrefix(v, "4.") {
		t.Errorf("host version %q", v)
	}
	if ua := got.Header.Get("User-Agent"); !strings.HasPrefix(ua, "Azure-Functions-Host/4.") {
		t.Errorf("user agent %q", ua)
	}
	if tp := got.Header.Get(HeaderTraceParent); !traceparentRE.MatchString(tp) {
		t.Errorf("traceparent %q", tp)
	}
	if ct := got.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("content type %q", ct)
	}
	// The host streams the envelope: chunked, no Content-Length.
	if got.ContentLength != -1 || len(got.TransferEncoding) == 0 || got.TransferEncoding[0] != "chunked" {
		t.Errorf("want chunked body, got length %d encoding %v", got.ContentLength, got.TransferEncoding)
	}
	if string(body) != string(env) {
		t.Errorf("envelope altered in transit")
	}
	// Property names are case-insensitive, as with Newtonsoft.
	if len(resp.Logs) != 1 || resp.Outputs["res"] == nil || resp.ReturnValue != json.Number("12345678901234567") {
		t.Errorf("response %+v", resp)
	}
}

func TestClientHostFailureRules(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		ctype   string
		body    string
		wantErr func(error) bool
	}{
		{"non-2xx", 500, "application/json", `{"error":"x","Logs":["dropped"]}`, func(err error) bool {
			var ie *InvocationError
			return errors.As(err, &ie) && ie.Status == 500 && strings.Contains(ie.Body, `"x"`)
		}},
		{"404", 404, "application/json", `{}`, func(err error) bool {
			var ie *InvocationError
			return errors.As(err, &ie) && ie.Status == 404
		}},
		{"text/plain", 200, "text/plain", `{}`, func(err error) bool { return errors.Is(err, ErrBadResponse) }},
		{"invalid json", 200, "application/json", `{"Outputs":`, func(err error) bool { return errors.Is(err, ErrBadResponse) }},
		{"trailing", 200, "application/json", `{} {}`, func(err error) bool { return errors.Is(err, ErrBadResponse) }},
		{"ok", 200, "application/json; charset=utf-8", `{"Outputs":{}}`, func(err error) bool { return err == nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.ctype)
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			defer ts.Close()
			c := &Client{BaseURL: ts.URL, HTTP: ts.Client()}
			_, err := c.Invoke(context.Background(), "F", []byte(`{}`))
			if !tt.wantErr(err) {
				t.Errorf("err = %v", err)
			}
		})
	}
}

// TestClientServerEndToEnd runs the dev-runner path over loopback: encode
// as the host, post as the host, decode in the handler.
func TestClientServerEndToEnd(t *testing.T) {
	s := NewServer(zerolog.Nop(), ServerOptions{})
	want := ServiceBusMessage{Body: []byte(`{"type":"leaver","upn":"a@contoso.example"}`), MessageID: "m-9", DeliveryCount: 2, SequenceNumber: 5, ContentType: "application/cloudevents+json"}
	s.Handle("OnOffboarding", func(ctx context.Context, inv *Invocation) (Response, error) {
		m, err := inv.ServiceBusMessage("msg", BodyBinary)
		if err != nil {
			return Response{}, err
		}
		if m.MessageID != want.MessageID || m.DeliveryCount != want.DeliveryCount || string(m.Body) != string(want.Body) {
			return Response{}, errors.New("message mismatch")
		}
		if inv.InvocationID != "11111111-2222-4333-8444-555555555555" {
			return Response{}, errors.New("invocation id not passed")
		}
		return Response{Logs: []string{"handled " + m.MessageID}}, nil
	})
	s.Handle("Fails", func(ctx context.Context, inv *Invocation) (Response, error) {
		return Response{}, errors.New("transient")
	})
	ts := httptest.NewServer(s)
	defer ts.Close()
	c := &Client{BaseURL: ts.URL, HTTP: ts.Client()}

	env, err := EncodeServiceBus("OnOffboarding", "msg", want, BodyBinary, now)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.InvokeWith(context.Background(), "OnOffboarding", env, InvokeOptions{InvocationID: "11111111-2222-4333-8444-555555555555"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Logs) != 1 || resp.Logs[0] != "handled m-9" {
		t.Errorf("logs %v", resp.Logs)
	}
	_, err = c.Invoke(context.Background(), "Fails", env)
	var ie *InvocationError
	if !errors.As(err, &ie) || ie.Status != http.StatusInternalServerError || !strings.Contains(ie.Body, "transient") {
		t.Errorf("err = %v", err)
	}
}

func TestDecodeReturnValue(t *testing.T) {
	resp, err := DecodeResponse("application/json", []byte(`{"ReturnValue":{"Result":"applied","Count":12345678901234567}}`))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Result string
		Count  int64
	}
	if err := resp.DecodeReturnValue(&got); err != nil {
		t.Fatal(err)
	}
	if got.Result != "applied" || got.Count != 12345678901234567 {
		t.Fatalf("decoded %+v", got)
	}
	if err := (Response{}).DecodeReturnValue(&got); !errors.Is(err, ErrNoReturnValue) {
		t.Fatalf("no ReturnValue: %v", err)
	}
	if err := (Response{ReturnValue: "text"}).DecodeReturnValue(&got); err == nil {
		t.Fatal("a string decoded into a struct")
	}
}

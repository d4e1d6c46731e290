package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// The webhook URL grants anyone who has it the right to post into the
// channel. Whatever goes wrong, neither the URL nor its signature may reach
// an error string or a log line.
func TestTeamsWebhookURLNeverRevealed(t *testing.T) {
	const (
		sig  = "S3cr3tSignatureValue_0123456789abcdef"
		path = "/workflows/7f3c2a91e4b04d5c/triggers/manual/paths/invoke"
	)
	query := "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=" + sig

	echoURL := func(code int) http.HandlerFunc {
		// A misbehaving endpoint that quotes the request back.
		return func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
			fmt.Fprintf(w, "could not handle %s %s (sig=%s)", r.Method, r.URL.String(), r.URL.Query().Get("sig"))
		}
	}
	closedURL := func(t *testing.T) string {
		// A loopback port nobody listens on: a transport error, which
		// net/http reports as *url.Error quoting the full URL.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return "http://" + addr
	}

	// release frees hanging handlers; each subtest closes its own.
	var release chan struct{}
	for _, tc := range []struct {
		name    string
		handler http.Handler
		base    func(t *testing.T, srv *httptest.Server) string
		timeout time.Duration
		wantIs  error
	}{
		{name: "400 echoing the URL", handler: echoURL(400)},
		{name: "500 echoing the URL", handler: echoURL(500)},
		{name: "429 echoing the URL", handler: echoURL(429)},
		{name: "connection refused", base: func(t *testing.T, _ *httptest.Server) string { return closedURL(t) }},
		{
			name: "timeout",
			handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-release:
				}
			}),
			timeout: 200 * time.Millisecond,
			wantIs:  context.DeadlineExceeded,
		},
		{name: "malformed URL", base: func(*testing.T, *httptest.Server) string { return "http://127.0.0.1:bad port" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release = make(chan struct{})
			h := tc.handler
			if h == nil {
				h = http.NotFoundHandler()
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			// Runs before srv.Close: frees a handler that hangs.
			defer close(release)
			base := srv.URL
			if tc.base != nil {
				base = tc.base(t, srv)
			}
			hook := base + path + query

			var logs bytes.Buffer
			log := zerolog.New(&logs).Level(zerolog.TraceLevel)
			d := NewDispatcher(log, newTeams(hook, srv.Client(), fastRetry(1))).
				WithRetry(RetryPolicy{Attempts: 2, Backoff: time.Millisecond, MaxBackoff: time.Millisecond})

			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			err := d.Send(ctx, sampleAlert())
			if err == nil {
				t.Fatal("Send succeeded against a failing webhook")
			}
			var de *DeliveryError
			if !errors.As(err, &de) || len(de.Failed) != 1 || de.Failed[0].Channel != "teams" {
				t.Fatalf("want a DeliveryError naming teams, got %v", err)
			}
			if !strings.Contains(err.Error(), "teams webhook") {
				t.Errorf("error %q does not say which channel failed", err)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("errors.Is(err, %v) = false; redaction must keep the cause: %v", tc.wantIs, err)
			}

			// Every rendering of every error in the chain, and the logs.
			var texts []string
			for e := error(err); e != nil; {
				texts = append(texts, e.Error(), fmt.Sprintf("%+v", e), fmt.Sprintf("%q", e))
				switch u := e.(type) {
				case interface{ Unwrap() []error }:
					for _, inner := range u.Unwrap() {
						for x := inner; x != nil; x = errors.Unwrap(x) {
							texts = append(texts, x.Error(), fmt.Sprintf("%+v", x))
						}
					}
					e = nil
				default:
					e = errors.Unwrap(e)
				}
			}
			texts = append(texts, logs.String())
			ch := newTeams(hook, nil, fastRetry(0))
			texts = append(texts, fmt.Sprintf("%v %+v %#v %s", ch, ch, ch, ch))
			if logs.Len() == 0 {
				t.Error("the failure was not logged at all")
			}
			for _, s := range texts {
				for _, secret := range []string{sig, path, hook, "workflows/7f3c2a91e4b04d5c"} {
					if strings.Contains(s, secret) {
						t.Errorf("secret %q revealed in %q", secret, s)
					}
				}
			}
		})
	}
}

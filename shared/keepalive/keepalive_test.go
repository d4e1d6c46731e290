package keepalive

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/holdfast/holdfast/shared/testbed/conncheck"
)

func get(hc *http.Client, url string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	}
}

// Rounds of 16 concurrent requests reuse their connections: at most one
// dial per concurrent request, however many rounds. DefaultTransport
// dials again for all but two of each round, which the test must see.
func TestConcurrentRequestsReuseConnections(t *testing.T) {
	srv := conncheck.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(2 * time.Millisecond) // let each round overlap
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	ctx := context.Background()

	if err := conncheck.Rounds(ctx, 16, 20, get(&http.Client{Transport: Transport(srv.URL)}, srv.URL)); err != nil {
		t.Fatal(err)
	}
	if got := srv.Conns(); got > conncheck.Allowed(16) {
		t.Errorf("%d connections for 20 rounds of 16 requests, want at most %d", got, conncheck.Allowed(16))
	}

	before := srv.Conns()
	def := http.DefaultTransport.(*http.Transport).Clone()
	if err := conncheck.Rounds(ctx, 16, 20, get(&http.Client{Transport: def}, srv.URL)); err != nil {
		t.Fatal(err)
	}
	if got := srv.Conns() - before; got <= conncheck.Allowed(16) {
		t.Errorf("DefaultTransport made only %d connections; the test cannot tell reuse from churn", got)
	}
}

func TestIdleTimeoutByEndpoint(t *testing.T) {
	tests := []struct {
		endpoint string
		want     time.Duration
	}{
		{"http://127.0.0.1:10002/devstoreaccount1", loopbackIdle},
		{"http://localhost:7071", loopbackIdle},
		{"http://[::1]:8080", loopbackIdle},
		{"https://graph.microsoft.com/v1.0", remoteIdle},
		{"https://outlook.office365.com", remoteIdle},
		{"https://holdfast.table.core.windows.net", remoteIdle},
		{"", remoteIdle},
		{"://bad", remoteIdle},
	}
	for _, tc := range tests {
		tr := Transport(tc.endpoint)
		if tr.IdleConnTimeout != tc.want {
			t.Errorf("%q: idle timeout %v, want %v", tc.endpoint, tr.IdleConnTimeout, tc.want)
		}
		if tr.MaxIdleConnsPerHost != MaxIdlePerHost {
			t.Errorf("%q: %d idle connections per host, want %d", tc.endpoint, tr.MaxIdleConnsPerHost, MaxIdlePerHost)
		}
	}
}

// Package keepalive provides the HTTP transport every adapter talks to its
// service with: one that keeps a connection per concurrent invocation.
//
// net/http's DefaultTransport keeps two idle connections per host. With
// the host's maxConcurrentCalls at 8 or 16, every response beyond the
// second closes its connection and the next request dials (and, against
// Microsoft, shakes hands over TLS) again: a dial per request or two to
// Graph and Exchange Online, measured in docs/performance.md ("Connection
// reuse").
package keepalive

import (
	"net"
	"net/http"
	"net/url"
	"time"
)

// MaxIdlePerHost is how many idle connections a host keeps: above the
// concurrency docs/performance.md advises per instance (16), so a burst
// at that concurrency finds its connections again.
const MaxIdlePerHost = 32

// Idle timeouts stay under the server's keep-alive, so the client closes
// an idle connection before the server does and never sends on one being
// torn down: Azurite and the test bed close after 5 s; Microsoft's front
// doors keep connections for minutes.
const (
	loopbackIdle = 4 * time.Second
	remoteIdle   = 60 * time.Second
)

// Transport returns a new transport for the service at endpoint.
func Transport(endpoint string) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = MaxIdlePerHost
	t.MaxIdleConns = 4 * MaxIdlePerHost
	t.IdleConnTimeout = remoteIdle
	if loopback(endpoint) {
		t.IdleConnTimeout = loopbackIdle
	}
	return t
}

func loopback(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil {
		return false
	}
	h := u.Hostname()
	ip := net.ParseIP(h)
	return h == "localhost" || ip != nil && ip.IsLoopback()
}

// Package conncheck tells whether a client keeps its connections: a test
// server that counts the connections it accepts, and rounds of concurrent
// calls like a host's maxConcurrentCalls invocations make.
package conncheck

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// Server is an httptest.Server that counts accepted connections.
type Server struct {
	*httptest.Server
	conns atomic.Int64
}

// NewServer starts a counting server in front of h.
func NewServer(h http.Handler) *Server {
	s := &Server{Server: httptest.NewUnstartedServer(h)}
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	return s
}

// Conns returns how many connections the server has accepted.
func (s *Server) Conns() int64 { return s.conns.Load() }

// settle is the pause between rounds. net/http hands a connection back
// to its pool from the connection's own goroutine after the caller has
// closed the body, so a round started the instant the last one returned
// can dial beside a connection still on its way back. A host's invocations
// are never that tightly packed; the pause keeps the count about reuse.
const settle = 5 * time.Millisecond

// Stragglers is how many dials beyond one per concurrent call a client
// that keeps its connections may still make: on a starved machine the
// pause can be too short for a connection's goroutine to run. A client
// that does not keep them dials several times every round.
const Stragglers = 2

// Allowed is how many connections c concurrent calls may make, however
// many rounds, from a client that keeps its connections.
func Allowed(c int) int64 { return int64(c) + Stragglers }

// Rounds runs call c times concurrently, rounds times over, waiting for
// each round to finish; it returns the first error.
func Rounds(ctx context.Context, c, rounds int, call func(context.Context) error) error {
	for range rounds {
		var g errgroup.Group
		for range c {
			g.Go(func() error { return call(ctx) })
		}
		if err := g.Wait(); err != nil {
			return err
		}
		time.Sleep(settle)
	}
	return nil
}

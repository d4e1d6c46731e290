package sim

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
)

// Area wire: the simulator served in process, without a listener.

// InProcessHost is the host name requests through Transport carry; the
// simulator's own links (@odata.nextLink) name it too.
const InProcessHost = "sim.invalid"

// Transport returns an http.RoundTripper that serves each request with
// Handler in this process: the same routing, faults, budgets and realism
// as over TCP, minus the socket. Clients use http://InProcessHost as their
// base URL. Failures a socket adds (connection refused or reset) cannot
// happen through it, and a call returns when the handler does: scripted
// latency watches the request's context, so a cancelled call still ends
// at once, with the context's error.
func (s *Sim) Transport() http.RoundTripper { return inProcess{h: s.Handler()} }

type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	in := r.Clone(r.Context())
	in.Host = r.URL.Host
	in.RequestURI = r.URL.RequestURI()
	in.Body = http.NoBody
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		_ = r.Body.Close()
		if err != nil {
			return nil, err
		}
		in.Body = io.NopCloser(bytes.NewReader(b))
		in.ContentLength = int64(len(b))
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, in)
	// A client that gave up while the handler ran gets its context's
	// error, as from a socket.
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	res := rec.Result()
	res.Request = r
	return res, nil
}

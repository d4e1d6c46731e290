package customhandler

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Response is what the handler answers. The host reads only Outputs keys
// that match output bindings in function.json, logs each Logs line at
// Information, and uses ReturnValue only for a $return binding.
type Response struct {
	Outputs     map[string]any `json:"Outputs"`
	Logs        []string       `json:"Logs"`
	ReturnValue any            `json:"ReturnValue"`
}

// HandlerFunc handles one invocation. A nil error means success: the server
// answers 200 and a Service Bus message is completed. A non-nil error means
// "retry wanted": the server answers 500, the host fails the invocation and
// DISCARDS Outputs and Logs, and a Service Bus message is abandoned and
// redelivered (dead-lettered after MaxDeliveryCount). Timers are not
// retried. Log anything that must survive a failure through zerolog.Ctx.
type HandlerFunc func(ctx context.Context, inv *Invocation) (Response, error)

// ServerOptions configures a Server. The zero value is usable.
type ServerOptions struct {
	// MaxBody bounds an envelope; <= 0 means DefaultMaxBody. Larger
	// requests get 413, which fails the invocation.
	MaxBody int64
}

// Server is the custom handler's http.Handler: GET / for readiness and
// POST /{FunctionName} for invocations. It is safe for concurrent use; the
// host sends up to maxConcurrentCalls invocations at once.
type Server struct {
	log     zerolog.Logger
	maxBody int64

	mu       sync.RWMutex
	handlers map[string]HandlerFunc
}

// NewServer returns a Server that logs through log. It does no work beyond
// allocating, so the host's readiness probe is answered at once.
func NewServer(log zerolog.Logger, opts ServerOptions) *Server {
	max := opts.MaxBody
	if max <= 0 {
		max = DefaultMaxBody
	}
	return &Server{log: log, maxBody: max, handlers: map[string]HandlerFunc{}}
}

// Handle registers fn for function, the function folder name exactly as
// the host sends it. Like http.ServeMux it panics on an empty name, a nil
// handler or a duplicate, which are programming errors.
func (s *Server) Handle(function string, fn HandlerFunc) {
	if function == "" || fn == nil {
		panic("customhandler: Handle needs a function name and a handler")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.handlers[function]; dup {
		panic("customhandler: duplicate handler for " + function)
	}
	s.handlers[function] = fn
}

func (s *Server) handler(function string) (HandlerFunc, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	fn, ok := s.handlers[function]
	return fn, ok
}

// errorBody is the JSON body of every non-2xx answer. The host ignores it
// (beyond its own logging); it is for people and the local runner.
type errorBody struct {
	Error        string `json:"error"`
	InvocationID string `json:"invocationId,omitempty"`
}

// ServeHTTP implements http.Handler. Every answer is application/json.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if r.URL.Path == "/" {
			// Readiness: the host polls this every 25 ms during start-up.
			writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
			return
		}
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: "invocations are POST /{FunctionName}"})
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: "method " + r.Method + " not allowed"})
		return
	}

	function := r.URL.Path
	if len(function) > 0 && function[0] == '/' {
		function = function[1:]
	}
	invID := r.Header.Get(HeaderInvocationID)
	log := s.log.With().
		Str("invocationId", invID).
		Str("function", function).
		Str("traceparent", r.Header.Get(HeaderTraceParent)).
		Logger()

	fn, ok := s.handler(function)
	if !ok {
		log.Warn().Msg("invocation for unknown function")
		writeJSON(w, http.StatusNotFound, errorBody{Error: fmt.Sprintf("no function %q", function), InvocationID: invID})
		return
	}
	inv, err := DecodeInvocation(r, s.maxBody)
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, ErrBodyTooLarge) {
			status = http.StatusRequestEntityTooLarge
		}
		log.Error().Err(err).Int("status", status).Msg("undecodable invocation")
		writeJSON(w, status, errorBody{Error: err.Error(), InvocationID: invID})
		return
	}

	ctx := log.WithContext(r.Context())
	started := time.Now()
	resp, err := s.invoke(ctx, fn, inv)
	if err != nil {
		log.Error().Err(err).Dur("took", time.Since(started)).Msg("invocation failed; host will retry or drop per trigger")
		writeJSON(w, http.StatusInternalServerError, errorBody{Error: err.Error(), InvocationID: invID})
		return
	}
	// The host iterates Outputs and Logs; send empty collections, not null.
	if resp.Outputs == nil {
		resp.Outputs = map[string]any{}
	}
	if resp.Logs == nil {
		resp.Logs = []string{}
	}
	body, err := marshal(resp)
	if err != nil {
		log.Error().Err(err).Msg("response not serialisable")
		writeJSON(w, http.StatusInternalServerError, errorBody{Error: "response not serialisable: " + err.Error(), InvocationID: invID})
		return
	}
	log.Debug().Dur("took", time.Since(started)).Msg("invocation done")
	writeRaw(w, http.StatusOK, body)
}

// errPanic marks a recovered handler panic.
var errPanic = errors.New("customhandler: handler panicked")

func (s *Server) invoke(ctx context.Context, fn HandlerFunc, inv *Invocation) (resp Response, err error) {
	defer func() {
		if p := recover(); p != nil {
			zerolog.Ctx(ctx).Error().Str("panic", fmt.Sprint(p)).Bytes("stack", debug.Stack()).Msg("handler panicked")
			resp, err = Response{}, errPanic
		}
	}()
	return fn(ctx, inv)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding failed"}`)
	}
	writeRaw(w, status, b)
}

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Environment variables the host sets on the handler process.
const (
	EnvPort       = "FUNCTIONS_CUSTOMHANDLER_PORT"
	EnvPortLegacy = "FUNCTIONS_HTTPWORKER_PORT"
)

// ErrNoPort: neither port variable is set (not started by the host).
var ErrNoPort = errors.New("customhandler: " + EnvPort + " is not set")

// ListenAddr returns 127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT, falling back
// to FUNCTIONS_HTTPWORKER_PORT. The host always calls 127.0.0.1, so the
// handler never listens on other interfaces.
func ListenAddr(getenv func(string) (string, bool)) (string, error) {
	for _, name := range []string{EnvPort, EnvPortLegacy} {
		v, ok := getenv(name)
		if !ok || v == "" {
			continue
		}
		port, err := strconv.Atoi(v)
		if err != nil || port < 1 || port > 65535 {
			return "", fmt.Errorf("customhandler: %s=%q is not a port", name, v)
		}
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
	}
	return "", ErrNoPort
}

// HostClientTimeout is how long the host's HttpClient waits for the
// handler: functionTimeout + 1 minute (DefaultHttpWorkerService). Zero
// means no limit (functionTimeout unset or -1).
func HostClientTimeout(functionTimeout time.Duration) time.Duration {
	if functionTimeout <= 0 {
		return 0
	}
	return functionTimeout + time.Minute
}

// serverSlack keeps the handler's own timeouts beyond the host's, so the
// host, not the handler, decides when an invocation has run too long and a
// slow but successful answer is never cut off.
const serverSlack = 30 * time.Second

// NewHTTPServer returns an http.Server for h whose Read and Write timeouts
// are at least the host's client timeout (functionTimeout + 1 minute), plus
// slack. functionTimeout <= 0 (host.json "-1" or unset) means the host
// waits forever, so the body timeouts are off. ReadHeaderTimeout stays
// small: the host sends headers at once.
func NewHTTPServer(addr string, h http.Handler, functionTimeout time.Duration) *http.Server {
	var body time.Duration
	if functionTimeout > 0 {
		body = HostClientTimeout(functionTimeout) + serverSlack
	}
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       body,
		WriteTimeout:      body,
		IdleTimeout:       5 * time.Minute,
	}
}

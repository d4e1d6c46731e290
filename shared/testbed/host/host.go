// Package host emulates the Azure Functions host in front of holdfast's
// custom handler: it turns Service Bus messages, timer ticks and HTTP
// requests into invocation envelopes and posts them to the handler, which
// runs either in this process (InProcess, on a loopback listener) or as a
// `holdfast serve` child process (StartChild). Queue deliveries follow
// Service Bus: a failed invocation is redelivered with DeliveryCount+1, and
// after MaxDeliveryCount failed deliveries the message is dead-lettered
// (Deliver reports ErrDeadLettered; a Broker keeps the letter).
//
// The local stack, the chaos harness and the benchmarks all drive the
// handler through this package; their special needs are options (a
// transport that kills the child mid-invocation, the callers' own
// concurrency).
package host

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/holdfast/holdfast/shared/customhandler"
	"github.com/holdfast/holdfast/shared/keepalive"
)

// MaxDeliveryCount mirrors the queues' setting in infra/.
const MaxDeliveryCount = 10

// ErrDeadLettered: a message kept failing and would be dead-lettered.
var ErrDeadLettered = errors.New("dead-lettered after max deliveries")

// Options configure a Host.
type Options struct {
	// Transport carries the invocations (nil: a pooled keepalive transport). The
	// chaos harness passes one that kills the child mid-invocation.
	Transport http.RoundTripper
	// Timeout bounds one invocation (default 11 minutes: the Functions
	// timeout of the plan, with a margin).
	Timeout time.Duration
	// MaxDeliveryCount bounds deliveries of one message (default
	// MaxDeliveryCount).
	MaxDeliveryCount int
	// APIFunction is the HTTP-triggered function CallAPI and APIHandler
	// invoke (default "Api").
	APIFunction string
	// Queues are the queue triggers, in the order Pump serves them.
	Queues []Binding
}

// Binding is one queue trigger: the function bound to a queue. (The host
// reads it from function.json; the package takes it as data so that it
// links nothing of the app.)
type Binding struct {
	Queue, Function string
}

// Host posts invocations to one handler. It is safe for concurrent use.
type Host struct {
	// URL is the handler's base address.
	URL    string
	client *customhandler.Client
	now    func() time.Time
	o      Options
	close  func()
}

// New returns a host in front of the handler at url, with now as the
// host's clock (the envelopes' timestamps, a message's enqueued time).
func New(url string, now func() time.Time, o Options) *Host {
	if o.Timeout <= 0 {
		o.Timeout = 11 * time.Minute
	}
	if o.MaxDeliveryCount <= 0 {
		o.MaxDeliveryCount = MaxDeliveryCount
	}
	if o.APIFunction == "" {
		o.APIFunction = "Api"
	}
	rt := o.Transport
	if rt == nil {
		// The Functions host pools its connections to the worker.
		rt = keepalive.Transport(url)
	}
	return &Host{URL: url, now: now, o: o,
		client: &customhandler.Client{BaseURL: url, HTTP: &http.Client{Transport: rt, Timeout: o.Timeout}}}
}

// InProcess serves handler (a customhandler.Server) on a loopback port of
// this process and returns a host in front of it. Close stops the server.
func InProcess(handler http.Handler, now func() time.Time, o Options) (*Host, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	h := New("http://"+l.Addr().String(), now, o)
	h.close = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
	return h, nil
}

// Close stops an in-process handler's server; a no-op otherwise.
func (h *Host) Close() {
	if h.close != nil {
		h.close()
	}
}

// Invoke posts a ready envelope to function.
func (h *Host) Invoke(ctx context.Context, function string, envelope []byte) (customhandler.Response, error) {
	return h.client.Invoke(ctx, function, envelope)
}

// Message is one Service Bus message.
type Message struct {
	ID   string
	Body []byte
	// ContentType defaults to application/cloudevents+json.
	ContentType string
	// SequenceNumber defaults to the clock's UnixNano.
	SequenceNumber int64
	// EnqueuedTime defaults to the clock's now.
	EnqueuedTime time.Time
	Properties   map[string]any
	// DeliveryCount is the delivery being made (1 for the first).
	DeliveryCount int
}

// DeliverOnce posts one delivery of m to the queue-triggered function.
func (h *Host) DeliverOnce(ctx context.Context, function string, m Message) (customhandler.Response, error) {
	now := h.now()
	if m.ContentType == "" {
		m.ContentType = "application/cloudevents+json"
	}
	if m.SequenceNumber == 0 {
		m.SequenceNumber = now.UnixNano()
	}
	if m.EnqueuedTime.IsZero() {
		m.EnqueuedTime = now
	}
	if m.DeliveryCount < 1 {
		m.DeliveryCount = 1
	}
	env, err := customhandler.EncodeServiceBus(function, "msg", customhandler.ServiceBusMessage{
		Body: m.Body, MessageID: m.ID, DeliveryCount: m.DeliveryCount, SequenceNumber: m.SequenceNumber,
		EnqueuedTime: m.EnqueuedTime, ContentType: m.ContentType, ApplicationProperties: m.Properties,
	}, customhandler.BodyBinary, now)
	if err != nil {
		return customhandler.Response{}, err
	}
	return h.client.Invoke(ctx, function, env)
}

// DeliverMessage delivers m the way the host and Service Bus do: while
// the handler fails the invocation, m is redelivered at once with
// DeliveryCount+1, up to the maximum; then it is dead-lettered (an error
// wrapping ErrDeadLettered, with the last failure's text). deliveries is
// how many invocations were made.
func (h *Host) DeliverMessage(ctx context.Context, function string, m Message) (resp customhandler.Response, deliveries int, err error) {
	var last error
	for n := 1; n <= h.o.MaxDeliveryCount; n++ {
		m.DeliveryCount = n
		resp, err := h.DeliverOnce(ctx, function, m)
		if err == nil {
			return resp, n, nil
		}
		last = err
		if ctx.Err() != nil {
			return customhandler.Response{}, n, ctx.Err()
		}
	}
	return customhandler.Response{}, h.o.MaxDeliveryCount, fmt.Errorf("%w: %v", ErrDeadLettered, last)
}

// Deliver delivers a message with id and body (see DeliverMessage).
func (h *Host) Deliver(ctx context.Context, function, id string, body []byte) (customhandler.Response, error) {
	resp, _, err := h.DeliverMessage(ctx, function, Message{ID: id, Body: body})
	return resp, err
}

// FireTimer invokes a timer-triggered function as the host does (a
// 5-minute schedule around now). A failed timer invocation is not retried:
// the next tick is the retry.
func (h *Host) FireTimer(ctx context.Context, function string) (customhandler.Response, error) {
	now := h.now()
	env, err := customhandler.EncodeTimer(function, "timer", customhandler.TimerInfo{HasStatus: true, Last: now.Add(-5 * time.Minute), Next: now.Add(5 * time.Minute), LastUpdated: now}, now)
	if err != nil {
		return customhandler.Response{}, err
	}
	return h.client.Invoke(ctx, function, env)
}

// CallAPI invokes the Api function with a GET of path (below
// /api/holdfast/).
func (h *Host) CallAPI(ctx context.Context, path string) (customhandler.Response, error) {
	env, err := customhandler.EncodeHTTP(h.o.APIFunction, "req", customhandler.HTTPRequest{
		URL: "http://127.0.0.1" + APIPrefix + path, Method: "GET", Query: map[string]string{},
		Headers: http.Header{"Accept": {"application/json"}}, Params: map[string]string{"path": path},
	}, h.now())
	if err != nil {
		return customhandler.Response{}, err
	}
	return h.client.Invoke(ctx, h.o.APIFunction, env)
}

package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/customhandler"
	"github.com/holdfast/holdfast/shared/redelivery"
)

// fakeClock is the host's clock in these tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// handler is a custom handler whose queue function fails the first
// failFirst[id] deliveries of a message (-1: every one) and records each
// delivery's count.
type handler struct {
	mu        sync.Mutex
	failFirst map[string]int
	seen      map[string][]int
	timers    int
}

func (h *handler) server(t *testing.T) *customhandler.Server {
	srv := customhandler.NewServer(zerolog.Nop(), customhandler.ServerOptions{})
	srv.Handle("OnQueue", func(ctx context.Context, inv *customhandler.Invocation) (customhandler.Response, error) {
		m, err := inv.ServiceBusMessage("msg", customhandler.BodyBinary)
		if err != nil {
			t.Errorf("envelope: %v", err)
			return customhandler.Response{}, err
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		h.seen[m.MessageID] = append(h.seen[m.MessageID], m.DeliveryCount)
		if n := h.failFirst[m.MessageID]; n < 0 || m.DeliveryCount <= n {
			return customhandler.Response{}, fmt.Errorf("transient failure of %s", m.MessageID)
		}
		return customhandler.Response{ReturnValue: map[string]any{"Result": "applied", "MessageID": m.MessageID}}, nil
	})
	srv.Handle("Tick", func(ctx context.Context, inv *customhandler.Invocation) (customhandler.Response, error) {
		if _, err := inv.Timer("timer"); err != nil {
			t.Errorf("timer payload: %v", err)
		}
		h.mu.Lock()
		h.timers++
		h.mu.Unlock()
		return customhandler.Response{Logs: []string{"ticked"}}, nil
	})
	srv.Handle("Api", func(ctx context.Context, inv *customhandler.Invocation) (customhandler.Response, error) {
		req, err := inv.HTTPRequest("req")
		if err != nil {
			return customhandler.Response{}, err
		}
		return customhandler.Response{Outputs: map[string]any{"res": customhandler.HTTPOutput{
			StatusCode: http.StatusCreated, Body: req.Method + " " + req.Params["path"], Headers: map[string]string{"X-Test": "yes"}}}}, nil
	})
	return srv
}

func start(t *testing.T, failFirst map[string]int, o Options) (*Host, *handler, *fakeClock) {
	t.Helper()
	h := &handler{failFirst: failFirst, seen: map[string][]int{}}
	clk := &fakeClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	o.Queues = []Binding{{Queue: "q", Function: "OnQueue"}}
	hst, err := InProcess(h.server(t), clk.Now, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hst.Close)
	return hst, h, clk
}

func counts(n int) string {
	var s []string
	for i := 1; i <= n; i++ {
		s = append(s, fmt.Sprint(i))
	}
	return strings.Join(s, ",")
}

func join(ns []int) string {
	var s []string
	for _, n := range ns {
		s = append(s, fmt.Sprint(n))
	}
	return strings.Join(s, ",")
}

// A failed delivery is redelivered with DeliveryCount+1; after the
// maximum the message is dead-lettered.
func TestDeliverRedeliversThenDeadLetters(t *testing.T) {
	tests := []struct {
		name       string
		failFirst  int
		max        int
		deliveries int
		dead       bool
	}{
		{"first delivery succeeds", 0, 0, 1, false},
		{"third redelivery succeeds", 3, 0, 4, false},
		{"succeeds on the last allowed delivery", MaxDeliveryCount - 1, 0, MaxDeliveryCount, false},
		{"always fails", -1, 0, MaxDeliveryCount, true},
		{"always fails, max 3", -1, 3, 3, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hst, h, _ := start(t, map[string]int{"m": tc.failFirst}, Options{MaxDeliveryCount: tc.max})
			resp, n, err := hst.DeliverMessage(context.Background(), "OnQueue", Message{ID: "m", Body: []byte(`{"n":1}`)})
			if got := errors.Is(err, ErrDeadLettered); got != tc.dead {
				t.Fatalf("dead-lettered %v, want %v (err %v)", got, tc.dead, err)
			}
			if !tc.dead && (err != nil || resp.ReturnValue == nil) {
				t.Fatalf("answer %+v, err %v", resp, err)
			}
			if n != tc.deliveries {
				t.Errorf("%d deliveries reported, want %d", n, tc.deliveries)
			}
			if got := join(h.seen["m"]); got != counts(tc.deliveries) {
				t.Errorf("delivery counts seen by the handler %s, want %s", got, counts(tc.deliveries))
			}
		})
	}
}

// The broker delivers in order, abandons and redelivers a failing message
// up to the maximum, then dead-letters it with Service Bus's reason; a
// scheduled message waits for its time; a repeated id within the
// duplicate window is dropped.
func TestPumpRetriesDeadLettersAndSchedules(t *testing.T) {
	hst, h, clk := start(t, map[string]int{"bad": -1, "flaky": 2}, Options{})
	b := NewBroker(clk.Now)
	for _, id := range []string{"ok", "bad", "flaky"} {
		if !b.Send("q", id, []byte(`{"n":1}`), "application/json") {
			t.Fatalf("send %s dropped", id)
		}
	}
	if b.Send("q", "ok", []byte(`{"n":2}`), "application/json") {
		t.Error("a repeated message id within the duplicate window was accepted")
	}
	if err := b.Schedule(context.Background(), "q", copyOf("later"), clk.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	st, err := hst.Pump(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	want := PumpStats{Deliveries: 1 + MaxDeliveryCount + 3, Completed: 2, Abandoned: MaxDeliveryCount - 1 + 2, DeadLettered: 1}
	if st != want {
		t.Errorf("pump %+v, want %+v", st, want)
	}
	if got := join(h.seen["bad"]); got != counts(MaxDeliveryCount) {
		t.Errorf("bad delivered with counts %s", got)
	}
	dead, _ := b.Peek(context.Background(), "q", 10)
	if len(dead) != 1 || dead[0].MessageID != "bad" || dead[0].Reason != "MaxDeliveryCountExceeded" || dead[0].DeliveryCount != MaxDeliveryCount ||
		!strings.Contains(dead[0].Description, "transient failure of bad") {
		t.Fatalf("dead letters %+v", dead)
	}
	if b.Active("q") != 1 || len(h.seen["later"]) != 0 {
		t.Fatalf("scheduled message: %d active, delivered %v", b.Active("q"), h.seen["later"])
	}
	clk.Advance(time.Hour)
	if st, err := hst.Pump(context.Background(), b); err != nil || st.Completed != 1 || b.Active("q") != 0 {
		t.Fatalf("after its time: %+v %v, %d active", st, err, b.Active("q"))
	}
	if _, err := New(hst.URL, clk.Now, Options{}).Pump(context.Background(), b); err == nil {
		t.Error("a host without queue bindings pumped")
	}
}

// Timers are fired once, not retried; the Api front turns a plain HTTP
// request into an invocation and the "res" output into the answer.
func TestTimerAndAPIFront(t *testing.T) {
	hst, h, _ := start(t, nil, Options{})
	resp, err := hst.FireTimer(context.Background(), "Tick")
	if err != nil || h.timers != 1 || len(resp.Logs) != 1 {
		t.Fatalf("timer: %+v %v (%d runs)", resp, err, h.timers)
	}
	front := httptest.NewServer(hst.APIHandler())
	defer front.Close()
	tests := []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/api/holdfast/cases", http.StatusCreated, "GET cases"},
		{"POST", "/api/holdfast/ui/x", http.StatusCreated, "POST ui/x"},
		{"DELETE", "/api/holdfast/cases", http.StatusMethodNotAllowed, ""},
		{"GET", "/elsewhere", http.StatusNotFound, ""},
	}
	for _, tc := range tests {
		req, _ := http.NewRequest(tc.method, front.URL+tc.path, nil)
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != tc.status || (tc.body != "" && (string(b) != tc.body || r.Header.Get("X-Test") != "yes")) {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, r.StatusCode, b, tc.status, tc.body)
		}
	}
	if resp, err := hst.CallAPI(context.Background(), "health"); err != nil || resp.Outputs["res"] == nil {
		t.Errorf("CallAPI: %+v %v", resp, err)
	}
}

func copyOf(id string) redelivery.Copy {
	return redelivery.Copy{MessageID: id, Body: []byte(`{"n":3}`), ContentType: "application/json"}
}

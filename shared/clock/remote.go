package clock

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Remote reads the time from a tenant simulator's virtual clock
// (GET <base>/_sim/clock), so that a handler running in its own process
// shares the simulator's time. Local mode only.
//
// Nothing is cached: every Now is one loopback request, because the
// simulator's clock jumps whenever the driver advances it. When a request
// fails, Now returns the last time it read (the zero time before any
// successful read): the Clock interface has no error, and a stale virtual
// time only delays work, which the next sweep catches up.
type Remote struct {
	url    string
	client *http.Client

	mu   sync.Mutex
	last time.Time
}

// NewRemote returns a clock reading base's /_sim/clock.
func NewRemote(base string) *Remote {
	return &Remote{url: strings.TrimRight(base, "/") + "/_sim/clock", client: &http.Client{Timeout: 5 * time.Second}}
}

// Now returns the simulator's time, or the last one read on error.
func (r *Remote) Now() time.Time {
	t, err := r.Read(context.Background())
	if err != nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.last
	}
	return t
}

// Read asks the simulator for its time and remembers it.
func (r *Remote) Read(ctx context.Context) (time.Time, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return time.Time{}, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return time.Time{}, fmt.Errorf("remote clock: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return time.Time{}, fmt.Errorf("remote clock: %s", resp.Status)
	}
	var body struct {
		Now string `json:"now"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&body); err != nil {
		return time.Time{}, fmt.Errorf("remote clock: %w", err)
	}
	t, err := time.Parse(time.RFC3339Nano, body.Now)
	if err != nil {
		return time.Time{}, fmt.Errorf("remote clock: %w", err)
	}
	t = t.UTC()
	r.mu.Lock()
	r.last = t
	r.mu.Unlock()
	return t, nil
}

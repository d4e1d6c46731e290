package notify

import (
	"context"
	"maps"
	"sync"

	"github.com/holdfast/holdfast/shared/alert"
)

// Recorder is an in-memory Channel for tests and the local demo. The zero
// value is ready to use and safe for concurrent use.
type Recorder struct {
	mu     sync.Mutex
	alerts []alert.Alert
}

// Name implements Channel.
func (r *Recorder) Name() string { return "recorder" }

// Send implements Channel; it records a copy of a.
func (r *Recorder) Send(ctx context.Context, a alert.Alert) error {
	a.Details = maps.Clone(a.Details)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.alerts = append(r.alerts, a)
	return nil
}

// Alerts returns the alerts recorded so far, oldest first.
func (r *Recorder) Alerts() []alert.Alert {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]alert.Alert, len(r.alerts))
	for i, a := range r.alerts {
		a.Details = maps.Clone(a.Details)
		out[i] = a
	}
	return out
}

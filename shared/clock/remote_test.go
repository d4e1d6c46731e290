package clock

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestRemote(t *testing.T) {
	var (
		now  atomic.Int64
		fail atomic.Bool
	)
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	now.Store(start.Unix())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/_sim/clock" {
			http.NotFound(w, r)
			return
		}
		if fail.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, `{"now": %q}`, time.Unix(now.Load(), 0).UTC().Format(time.RFC3339))
	}))
	defer srv.Close()

	c := NewRemote(srv.URL + "/")
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now = %s, want %s", got, start)
	}
	later := start.Add(31 * 24 * time.Hour)
	now.Store(later.Unix())
	if got := c.Now(); !got.Equal(later) {
		t.Fatalf("after advance Now = %s, want %s (nothing may be cached)", got, later)
	}
	fail.Store(true)
	if _, err := c.Read(context.Background()); err == nil {
		t.Fatal("Read succeeded against a failing simulator")
	}
	if got := c.Now(); !got.Equal(later) {
		t.Fatalf("on error Now = %s, want the last value read %s", got, later)
	}
	if got := NewRemote(srv.URL).Now(); !got.IsZero() {
		t.Fatalf("never read: Now = %s, want the zero time", got)
	}
}

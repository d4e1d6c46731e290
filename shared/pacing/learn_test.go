package pacing

import (
	"context"
	"math"
	"net/http"
	"testing"
	"time"
)

// A rate learnt from a lone 429 is forgotten after learntFor without
// another; while 429s keep coming it holds.
func TestLearntRateIsForgotten(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	l := New("x", Unknown())
	l.now = func() time.Time { return now }
	ok := &http.Response{StatusCode: 200, Header: http.Header{}}
	for range 20 {
		if err := l.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		l.Done(ok)
	}
	l.Done(&http.Response{StatusCode: 429, Header: http.Header{}})
	if r := l.Rate(); math.IsInf(r, 1) || r > 18 {
		t.Fatalf("after a 429 at 20 requests a second the rate is %.1f", r)
	}
	now = now.Add(10 * time.Second)
	l.Done(ok)
	if r := l.Rate(); math.IsInf(r, 1) {
		t.Fatal("the learnt rate was forgotten within 10 s")
	}
	now = now.Add(learntFor)
	l.Done(ok)
	if r := l.Rate(); !math.IsInf(r, 1) {
		t.Fatalf("rate %.1f %s after the only 429, want unpaced again", r, 10*time.Second+learntFor)
	}
}

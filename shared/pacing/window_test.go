package pacing

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fixedWindow is a service budget without rate headers: Budget requests per
// Window, 429 with Retry-After in whole seconds, rounded up, beyond it.
// Anchored windows begin with the first request after the last one ended
// (the simulator's Faults budget); otherwise they are aligned to t0.
type fixedWindow struct {
	budget   int
	window   time.Duration
	anchored bool
	t0       time.Time
	freeFor  time.Duration // no budget before t0 + freeFor (traffic before a layoff)
	// The sender slows to slowPer between t0+slowFrom and t0+slowTo (a
	// loaded machine).
	slowFrom, slowTo time.Duration
	slowPer          time.Duration
	// Every jitterEvery-th request reaches the service jitter late (a
	// loaded instance or network).
	jitter      time.Duration
	jitterEvery int
	n           int
	start       time.Time
	used        int
	started     bool
}

func (f *fixedWindow) serve(now time.Time) *http.Response {
	if f.n++; f.jitterEvery > 0 && f.n%f.jitterEvery == 0 {
		now = now.Add(f.jitter)
	}
	if now.Before(f.t0.Add(f.freeFor)) {
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}}
	}
	switch {
	case f.anchored && (!f.started || now.Sub(f.start) >= f.window):
		f.start, f.used, f.started = now, 0, true
	case !f.anchored:
		if s := f.t0.Add(now.Sub(f.t0).Truncate(f.window)); !s.Equal(f.start) || !f.started {
			f.start, f.used, f.started = s, 0, true
		}
	}
	if f.used >= f.budget {
		ra := max(1, int(math.Ceil(f.start.Add(f.window).Sub(now).Seconds())))
		return &http.Response{StatusCode: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {strconv.Itoa(ra)}}}
	}
	f.used++
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}}
}

// playWindow sends n requests one after another through l on a virtual
// clock, each taking per, a 429 retried at once (the Limiter holds the
// pause). It returns the virtual time taken and the 429s served.
func playWindow(t *testing.T, l *Limiter, svc *fixedWindow, n int, per time.Duration) (time.Duration, int) {
	t.Helper()
	t0 := svc.t0
	now := t0
	l.now = func() time.Time { return now }
	l.sleep = func(_ context.Context, d time.Duration) error { now = now.Add(d); return nil }
	throttled := 0
	for done := 0; done < n; {
		tk, err := l.wait(context.Background())
		if err != nil {
			t.Fatalf("request %d: %v", done, err)
		}
		p := per
		if el := now.Sub(t0); el >= svc.slowFrom && el < svc.slowTo {
			p = svc.slowPer
		}
		now = now.Add(p / 2)
		resp := svc.serve(now)
		now = now.Add(p - p/2)
		l.done(tk, resp)
		if resp.StatusCode == http.StatusTooManyRequests {
			throttled++
			if throttled > n {
				t.Fatal("more 429s than requests: the pacer does not learn")
			}
			continue
		}
		done++
	}
	return now.Sub(t0), throttled
}

// A fixed window without rate headers is learnt from the first 429: the
// following windows send their budget and wait for the window's end, not a
// whole Retry-After second after a 429. Without the learning each window
// costs its spend time plus a second (the "honour only" column).
func TestWindowIsLearntFromRetryAfter(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		budget   int
		window   time.Duration
		anchored bool
		per      time.Duration // time one request takes
		windows  int           // windows' worth of requests
		maxRatio float64       // time / (windows × window)
		max429   int
		freeFor  time.Duration // unbudgeted traffic first, not counted in the ratio
	}{
		// The instance's first requests long before the budget binds: the
		// first episode teaches nothing, the one after the pause does.
		{"1 s anchored after 5 s of unbudgeted traffic", 150, time.Second, true, 2500 * time.Microsecond, 30, 1.1, 10, 5 * time.Second},
		{"1 s anchored, as the simulator", 150, time.Second, true, 2500 * time.Microsecond, 30, 1.08, 3, 0},
		{"1 s aligned", 150, time.Second, false, 2500 * time.Microsecond, 30, 1.08, 3, 0},
		// A sender just faster than the budget (166/s against 150/s): the
		// service's windows roll over in the middle of a burst.
		{"1 s anchored, sender barely faster than the budget", 150, time.Second, true, 6 * time.Millisecond, 30, 1.08, 3, 0},
		// Aligned windows: an episode after a pause need not begin one, so
		// the budget is first overestimated, then shrunk by 10 % per 429.
		{"1 s aligned, sender barely faster than the budget", 150, time.Second, false, 6 * time.Millisecond, 30, 1.2, 6, 0},
		{"1 s anchored, sender slowed while the window is taught", 150, time.Second, true, 2500 * time.Microsecond, 30, 1.1, 6, 0},
		{"1 s anchored, every 7th request received 30 ms late", 150, time.Second, true, 2500 * time.Microsecond, 30, 1.1, 4, 0},
		{"10 s anchored", 1000, 10 * time.Second, true, 3 * time.Millisecond, 20, 1.05, 3, 0},
		// Not whole seconds: the guess stays at the whole second above
		// (documented cost), still ahead of honouring Retry-After alone.
		{"1.5 s: 2 s guessed", 100, 1500 * time.Millisecond, true, 4 * time.Millisecond, 30, 1.4, 3, 0},
		{"2.5 s refutes 2 s (twice: the first is taken for a late receipt), narrowed from 3 s", 200, 2500 * time.Millisecond, true, 4 * time.Millisecond, 30, 1.15, 7, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			free := int(tc.freeFor / tc.per)
			n := tc.budget*tc.windows + free
			// Strict: the last window's budget could go at its start.
			floor := time.Duration(tc.windows-1)*tc.window + time.Duration(tc.budget+free)*tc.per
			svc := &fixedWindow{budget: tc.budget, window: tc.window, anchored: tc.anchored, t0: t0, freeFor: tc.freeFor}
			if strings.Contains(tc.name, "received 30 ms late") {
				svc.jitter, svc.jitterEvery = 30*time.Millisecond, 7
			}
			if strings.Contains(tc.name, "slowed") {
				// After the first 429 (0.375 s) and its Retry-After, the
				// second window's requests come at 8 ms for a second: the
				// 429 comes in the window after, 1.15 s in, with 275 served.
				svc.slowFrom, svc.slowTo, svc.slowPer = 1375*time.Millisecond, 2400*time.Millisecond, 8*time.Millisecond
			}
			took, n429 := playWindow(t, New("x", Unknown()), svc, n, tc.per)
			ratio := took.Seconds() / floor.Seconds()
			t.Logf("%d requests in %s (floor %s, %.3f), %d 429s", n, took.Round(time.Millisecond), floor, ratio, n429)
			if ratio > tc.maxRatio {
				t.Errorf("took %.3f of the floor, want <= %.2f", ratio, tc.maxRatio)
			}
			if n429 > tc.max429 {
				t.Errorf("%d 429s, want <= %d", n429, tc.max429)
			}
		})
	}
}

// The same service with a client that only honours Retry-After (the
// Limiter's window learning switched off by forgetting after every answer)
// is measurably slower: the test above can fail.
func TestHonouringRetryAfterAloneIsSlower(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	svc := &fixedWindow{budget: 150, window: time.Second, anchored: true, t0: t0}
	l := New("x", Unknown())
	now := t0
	l.now = func() time.Time { return now }
	l.sleep = func(_ context.Context, d time.Duration) error { now = now.Add(d); return nil }
	for done := 0; done < 150*30; {
		tk, err := l.wait(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		now = now.Add(2500 * time.Microsecond)
		resp := svc.serve(now)
		l.done(tk, resp)
		l.win = window{} // no learning
		if resp.StatusCode == http.StatusOK {
			done++
		}
	}
	if ratio := now.Sub(t0).Seconds() / 30; ratio < 1.2 {
		t.Fatalf("honouring Retry-After alone took %.3f of the floor: the service model does not tell learning from none", ratio)
	}
}

func TestWindowGuess(t *testing.T) {
	s := time.Second
	tests := []struct {
		name        string
		lo, hi, est time.Duration
		spent       bool // lo is only a time to a 429
	}{
		{"a time to a 429 beyond the whole second does not refute it", 1150 * time.Millisecond, 2150 * time.Millisecond, 2 * s, true},
		{"nor below it", 1150 * time.Millisecond, 1460 * time.Millisecond, s, true},
		{"nothing known", 0, 0, 0, false},
		{"a whole second fits", 400 * time.Millisecond, 1400 * time.Millisecond, s, false},
		{"whole seconds fit: the largest", 400 * time.Millisecond, 2700 * time.Millisecond, 2 * s, false},
		{"confirmed whole second stays", 400 * time.Millisecond, 1010 * time.Millisecond, s, false},
		{"refuted whole second: narrow from hi by 5 %", s, 1400 * time.Millisecond, 1330 * time.Millisecond, false},
		{"narrow by halves near lo", 1300 * time.Millisecond, 1400 * time.Millisecond, 1350 * time.Millisecond, false},
		{"within 3 %: hi", 975 * time.Millisecond, s, s, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := window{lo: tc.lo, hi: tc.hi, refused: tc.lo}
			if tc.spent {
				w.refused = 0 // lo from the time to a 429, which may have run into the next window
			}
			w.guess()
			if w.est != tc.est {
				t.Fatalf("lo %s hi %s: est %s, want %s", tc.lo, tc.hi, w.est, tc.est)
			}
		})
	}
}

// After a 429 the wait ends at the reset instant the answer's rate headers
// name when that is sooner than the whole-second Retry-After, and the
// answer handed to the retry policy above says so (retry-after-ms), so it
// does not sleep the whole second on top.
func TestThrottledAnswerWaitsForTheResetInstant(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		headers map[string]string
		want    time.Duration // pause the Limiter holds after the 429
	}{
		{"rate headers: the reset instant", map[string]string{"Retry-After": "1", "Rate-Limit-Limit": "100", "Rate-Limit-Remaining": "0",
			"Rate-Limit-Reset": t0.Add(200 * time.Millisecond).Format("2006-01-02T15:04:05.000Z")}, 200*time.Millisecond + resetMargin},
		{"rate headers with a reset later than Retry-After: Retry-After", map[string]string{"Retry-After": "1", "Rate-Limit-Limit": "100", "Rate-Limit-Remaining": "0",
			"Rate-Limit-Reset": t0.Add(3 * time.Second).Format("2006-01-02T15:04:05.000Z")}, time.Second},
		{"no rate headers: Retry-After honoured", map[string]string{"Retry-After": "2"}, 2 * time.Second},
		{"retry-after-ms", map[string]string{"retry-after-ms": "150"}, 150 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := New("exchange", Unknown())
			l.now = func() time.Time { return t0 }
			tk, err := l.wait(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			resp := &http.Response{StatusCode: http.StatusTooManyRequests, Header: http.Header{}}
			for k, v := range tc.headers {
				resp.Header.Set(k, v)
			}
			if got := l.done(tk, resp); got != tc.want {
				t.Fatalf("pause %s, want %s", got, tc.want)
			}
		})
	}
}

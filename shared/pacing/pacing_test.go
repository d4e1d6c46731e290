package pacing_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdfast/holdfast/shared/clock"
	"github.com/holdfast/holdfast/shared/pacing"
	"github.com/holdfast/holdfast/shared/tenant"
	"github.com/holdfast/holdfast/shared/testbed/sim"
)

const tenantID = "4a1c2d9e-1111-4222-8333-944455566677"

func startSim(t *testing.T, b *sim.Budgets) string {
	t.Helper()
	s := sim.New(sim.Options{Clock: clock.NewVirtual(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)), TenantID: tenantID, Seed: 3})
	if err := s.Load(sim.TenantSpec{Users: []sim.UserSpec{{UPN: "ann@contoso.test", Licenses: []string{"ENTERPRISEPACK"}}}}); err != nil {
		t.Fatal(err)
	}
	f := sim.Faults{Budgets: b}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	s.SetFaults(f)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// hammer sends Get-Mailbox from c workers for d and counts the answers.
func hammer(t *testing.T, base string, rt http.RoundTripper, c int, d time.Duration) (ok, throttled int64) {
	t.Helper()
	hc := &http.Client{Transport: rt}
	body := []byte(`{"CmdletInput":{"CmdletName":"Get-Mailbox","Parameters":{"Identity":"ann@contoso.test"}}}`)
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	var nOK, n429 atomic.Int64
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				resp, err := hc.Post(base+"/adminapi/beta/"+tenantID+"/InvokeCommand", "application/json", bytes.NewReader(body))
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusOK:
					nOK.Add(1)
				case http.StatusTooManyRequests:
					n429.Add(1)
					// What a client without pacing does: sleep the
					// Retry-After it was given.
					time.Sleep(time.Second)
				}
			}
		}()
	}
	wg.Wait()
	return nOK.Load(), n429.Load()
}

// Under an Exchange budget the paced client gets (almost) no 429s and still
// spends the whole budget; the same load unpaced bounces.
func TestPacingKeepsToTheExchangeBudget(t *testing.T) {
	const perWindow, window, run = 40, 250 * time.Millisecond, 2 * time.Second
	budget := &sim.Budgets{Exchange: &sim.WindowBudget{Requests: perWindow, Window: window.String()}}
	windows := float64(run / window)

	l := pacing.New("exchange", pacing.Unknown())
	ok, throttled := hammer(t, startSim(t, budget), pacing.Transport(http.DefaultTransport, func(*http.Request) *pacing.Limiter { return l }), 8, run)
	t.Logf("paced: %d served, %d throttled", ok, throttled)
	if float64(throttled) > 0.01*float64(ok)+1 {
		t.Errorf("paced client got %d 429s for %d served", throttled, ok)
	}
	// The budget allows perWindow × windows (+ the window in progress).
	if float64(ok) < 0.85*perWindow*windows || float64(ok) > perWindow*(windows+1) {
		t.Errorf("paced client served %d, budget %v", ok, perWindow*windows)
	}

	ok, throttled = hammer(t, startSim(t, budget), http.DefaultTransport, 8, run)
	t.Logf("unpaced: %d served, %d throttled", ok, throttled)
	if throttled < 8 {
		t.Errorf("unpaced client got only %d 429s: the test cannot tell pacing from none", throttled)
	}
}

func answer(status int, h map[string]string) *http.Response {
	r := &http.Response{StatusCode: status, Header: http.Header{}}
	for k, v := range h {
		r.Header.Set(k, v)
	}
	return r
}

func waitTook(t *testing.T, l *pacing.Limiter) time.Duration {
	t.Helper()
	start := time.Now()
	if err := l.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	l.Done(answer(200, nil))
	return time.Since(start)
}

func TestWaitsAreSubSecond(t *testing.T) {
	tests := []struct {
		name     string
		answer   func(now time.Time) *http.Response
		min, max time.Duration
	}{
		{"retry-after-ms", func(time.Time) *http.Response {
			return answer(429, map[string]string{"retry-after-ms": "150"})
		}, 140 * time.Millisecond, 600 * time.Millisecond},
		{"exhausted window waits for the reset instant", func(now time.Time) *http.Response {
			return answer(200, map[string]string{"Rate-Limit-Limit": "100", "Rate-Limit-Remaining": "0",
				"Rate-Limit-Reset": now.Add(200 * time.Millisecond).UTC().Format("2006-01-02T15:04:05.000Z")})
		}, 150 * time.Millisecond, 700 * time.Millisecond},
		{"Retry-After in seconds is honoured", func(time.Time) *http.Response {
			return answer(429, map[string]string{"Retry-After": "1"})
		}, 990 * time.Millisecond, 1500 * time.Millisecond},
		{"remaining budget is spent without waiting", func(now time.Time) *http.Response {
			return answer(200, map[string]string{"Rate-Limit-Limit": "30000", "Rate-Limit-Remaining": "29000",
				"Rate-Limit-Reset": now.Add(time.Minute).UTC().Format("2006-01-02T15:04:05.000Z")})
		}, 0, 50 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := pacing.New("x", pacing.Unknown())
			if err := l.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
			l.Done(tc.answer(time.Now()))
			if d := waitTook(t, l); d < tc.min || d > tc.max {
				t.Fatalf("next request waited %s, want %s..%s", d, tc.min, tc.max)
			}
		})
	}
}

func TestRemainingGatesRequestsUntilReset(t *testing.T) {
	l := pacing.New("x", pacing.Unknown())
	_ = l.Wait(context.Background())
	reset := time.Now().Add(300 * time.Millisecond)
	l.Done(answer(200, map[string]string{"Rate-Limit-Limit": "10", "Rate-Limit-Remaining": "2",
		"Rate-Limit-Reset": reset.UTC().Format("2006-01-02T15:04:05.000Z")}))
	// Two left: two requests go at once and stay in flight.
	for range 2 {
		start := time.Now()
		if err := l.Wait(context.Background()); err != nil || time.Since(start) > 50*time.Millisecond {
			t.Fatalf("request with budget left waited %s (%v)", time.Since(start), err)
		}
	}
	// The third waits for the reset, not a whole second more.
	start := time.Now()
	if err := l.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := time.Now(); got.Before(reset) || got.Sub(start) > 700*time.Millisecond {
		t.Fatalf("third request left %s before the reset, after waiting %s", reset.Sub(got), got.Sub(start))
	}
}

func TestBare429LowersTheRate(t *testing.T) {
	l := pacing.New("x", pacing.Budget{Requests: 100, Per: time.Second, Burst: 100})
	for range 50 {
		_ = l.Wait(context.Background())
		l.Done(answer(200, nil))
	}
	_ = l.Wait(context.Background())
	l.Done(answer(429, nil))
	if r := l.Rate(); r >= 100 || r < 1 {
		t.Fatalf("rate after a 429 %.1f, want below the 100/s it started at", r)
	}
	if s := l.Stats(); s.Throttled != 1 || s.Requests != 51 {
		t.Fatalf("stats %+v", s)
	}
}

func TestByMethod(t *testing.T) {
	r, w := pacing.New("r", pacing.Unknown()), pacing.New("w", pacing.GraphWrites())
	route := pacing.ByMethod(r, w)
	for m, want := range map[string]*pacing.Limiter{"GET": r, "PATCH": w, "POST": w, "DELETE": w} {
		req, _ := http.NewRequest(m, "http://127.0.0.1/v1.0/users", nil)
		if route(req) != want {
			t.Errorf("%s paced by %s", m, route(req).Name())
		}
	}
	if got := w.Rate(); got != 20 {
		t.Fatalf("Graph writes start at %.1f/s, want 3,000 per 150 s = 20/s", got)
	}
}

func TestLongPausesFailFastAsThrottled(t *testing.T) {
	l := pacing.New("exchange", pacing.Unknown())
	_ = l.Wait(context.Background())
	l.Done(answer(429, map[string]string{"Retry-After": "3600"}))
	start := time.Now()
	err := l.Wait(context.Background())
	if !errors.Is(err, pacing.ErrExhausted) || !errors.Is(err, tenant.ErrThrottled) {
		t.Fatalf("err %v, want ErrExhausted wrapping tenant.ErrThrottled", err)
	}
	if time.Since(start) > 100*time.Millisecond {
		t.Fatal("an hour's pause was slept through, not refused")
	}
}

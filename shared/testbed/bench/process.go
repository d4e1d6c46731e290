package bench

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/app"
	"github.com/holdfast/holdfast/shared/clock"
	"github.com/holdfast/holdfast/shared/testbed/host"
	"github.com/holdfast/holdfast/shared/testbed/localstack"
	"github.com/holdfast/holdfast/shared/testbed/sim"
)

// footprintBatch is how many events the child gets per Azurite lifetime.
const footprintBatch = 2000

// startRuns is how many cold starts figure 7 takes the median of.
const startRuns = 5

// status reads a kB field of /proc/PID/status of c, in MiB.
func status(c *host.Child, field string) (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", c.Pid()))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("%s not in /proc status", field)
}

// footprint measures figure 7 on the built binary.
func (r *run) footprint(ctx context.Context) error {
	defer r.phase("7. start-up and footprint")()
	if r.o.Binary == "" {
		return fmt.Errorf("no binary given")
	}
	fi, err := os.Stat(r.o.Binary)
	if err != nil {
		return err
	}
	// A simulator on loopback on the system clock, as the child uses it.
	sm := sim.New(sim.Options{Clock: clock.NewVirtual(time.Now()), TenantID: localstack.TenantID, Log: zerolog.Nop()})
	users := upns("fp", r.o.FootprintEvents)
	if err := seed(sm, users); err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: sm.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	simURL := "http://" + l.Addr().String()
	env := localstack.Settings(simURL, r.az.ConnectionString)

	var starts []time.Duration
	var c *host.Child
	for i := 0; i < startRuns; i++ {
		ch, err := host.StartChild(ctx, host.ChildOptions{Bin: r.o.Binary, Env: env, ReadyWithin: 10 * time.Second})
		if err != nil {
			return err
		}
		starts = append(starts, ch.StartedIn())
		if i < startRuns-1 {
			ch.Stop()
		} else {
			c = ch
		}
	}
	defer c.Stop()
	slices.Sort(starts)
	med := float64(starts[len(starts)/2]) / float64(time.Millisecond)
	tgt, met := atMost(med, 100, "ms")
	r.add(Result{Name: "start-up: process start to GET / answered", Value: med, Unit: "ms", Target: tgt, Met: met,
		Note: fmt.Sprintf("median of %d: %v", len(starts), starts)})

	// Let the background wiring (table creation) finish before reading RSS.
	time.Sleep(500 * time.Millisecond)
	rss0, err := status(c, "VmRSS")
	if err != nil {
		return err
	}
	tgt, met = atMost(rss0, 60, "MiB")
	r.add(Result{Name: "RSS after start", Value: rss0, Unit: "MiB", Target: tgt, Met: met})

	// The child runs on the system clock; the host stamps envelopes with it.
	h := c.Host(func() time.Time { return time.Now().UTC() }, host.Options{Timeout: 2 * time.Minute})
	var failed, redelivered atomic.Int64
	var firstErr atomic.Value
	now := time.Now().UTC()
	start := time.Now()
	var restarts time.Duration
	// Azurite's cost per transaction grows with the rows it holds, so 10k
	// events into one table would measure Azurite, not the child. Between
	// batches (nothing in flight) Azurite restarts empty and the child's
	// store recreates its tables on first use (its heal path).
	for lo := 0; lo < len(users) && ctx.Err() == nil; lo += footprintBatch {
		if lo > 0 {
			t := time.Now()
			if err := r.az.Restart(ctx); err != nil {
				return err
			}
			restarts += time.Since(t)
		}
		hi := min(lo+footprintBatch, len(users))
		var next atomic.Int64
		next.Store(int64(lo))
		var wg sync.WaitGroup
		for w := 0; w < r.o.Concurrency; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= hi || ctx.Err() != nil {
						return
					}
					id := fmt.Sprintf("bench-fp-%05d", i)
					// Redelivered like Service Bus while the handler asks for it.
					_, n, err := h.DeliverMessage(ctx, app.FnOnOffboarding, host.Message{
						ID: id, Body: hrEvent(id, users[i], "retain", now), SequenceNumber: int64(i + 1)})
					redelivered.Add(int64(max(0, n-1)))
					if err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
					}
				}
			}()
		}
		wg.Wait()
	}
	el := time.Since(start) - restarts
	rss1, err := status(c, "VmRSS")
	if err != nil {
		return err
	}
	hwm, _ := status(c, "VmHWM")
	tgt, met = atMost(rss1, 60, "MiB")
	note := fmt.Sprintf("%d events in %s (%.0f/s; Azurite restarted empty every %d events), %d redelivered, %d failed; peak RSS (VmHWM) %.1f MiB",
		len(users), el.Round(time.Millisecond), float64(len(users))/el.Seconds(), footprintBatch, redelivered.Load(), failed.Load(), hwm)
	if e := firstErr.Load(); e != nil {
		note += "; first failure: " + e.(string)
	}
	r.add(Result{Name: fmt.Sprintf("RSS after %d events", len(users)), Value: rss1, Unit: "MiB", Target: tgt, Met: met, Note: note})
	r.add(Result{Name: "binary size", Value: float64(fi.Size()) / (1 << 20), Unit: "MiB", Note: r.o.Binary})
	if failed.Load() > 0 {
		return fmt.Errorf("%d of %d events failed in the child", failed.Load(), len(users))
	}
	return nil
}

// cpuTicks sums user+system CPU time, in clock ticks (1/100 s on Linux),
// of the processes whose command line contains every one of words; "self"
// reads this process.
func cpuTicks(words ...string) int64 {
	var total int64
	read := func(dir string) {
		b, err := os.ReadFile(dir + "/stat")
		if err != nil {
			return
		}
		s := string(b)
		// Fields after the parenthesised command name: state is field 3,
		// utime 14, stime 15.
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			return
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 13 {
			return
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		total += u + st
	}
	if len(words) == 1 && words[0] == "self" {
		read("/proc/self")
		return total
	}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + d.Name() + "/cmdline")
		if err != nil {
			continue
		}
		cmd := string(b)
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(cmd, w)
		}
		if ok {
			read("/proc/" + d.Name())
		}
	}
	return total
}

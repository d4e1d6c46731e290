package host

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// ChildOptions configure a handler child process.
type ChildOptions struct {
	// Bin is the holdfast binary, run as `holdfast serve`.
	Bin string
	// Env is the child's environment on top of PATH and HOME (app
	// settings); FUNCTIONS_CUSTOMHANDLER_PORT is set by StartChild.
	Env map[string]string
	// Log receives the child's output (nil: discarded).
	Log io.Writer
	// ReadyWithin bounds the wait for GET / to answer 200 (default 30 s).
	ReadyWithin time.Duration
}

// Child is a `holdfast serve` process the host talks to, as the Functions
// host starts the custom handler: on a port given by
// FUNCTIONS_CUSTOMHANDLER_PORT, ready when GET / answers. Restart starts
// it again on the same port (after a kill).
type Child struct {
	// URL is the child's base address.
	URL string
	o   ChildOptions
	env []string

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	started time.Duration
}

// StartChild starts the binary and returns once it is ready.
func StartChild(ctx context.Context, o ChildOptions) (*Child, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.ReadyWithin <= 0 {
		o.ReadyWithin = 30 * time.Second
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	c := &Child{URL: fmt.Sprintf("http://127.0.0.1:%d", port), o: o,
		env: []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}}
	for k, v := range o.Env {
		c.env = append(c.env, k+"="+v)
	}
	c.env = append(c.env, "FUNCTIONS_CUSTOMHANDLER_PORT="+strconv.Itoa(port))
	if err := c.Restart(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Restart starts the process (again, after Kill or Stop) on the same port
// and waits until GET / answers 200.
func (c *Child) Restart(ctx context.Context) error {
	cmd := exec.Command(c.o.Bin, "serve")
	cmd.Env = c.env
	if c.o.Log != io.Discard {
		cmd.Stdout, cmd.Stderr = c.o.Log, c.o.Log
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", c.o.Bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	c.mu.Lock()
	c.cmd, c.done = cmd, done
	c.mu.Unlock()
	hc := &http.Client{Timeout: time.Second}
	deadline := start.Add(c.o.ReadyWithin)
	for {
		resp, err := hc.Get(c.URL + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				c.mu.Lock()
				c.started = time.Since(start)
				c.mu.Unlock()
				return nil
			}
		}
		select {
		case <-done:
			return fmt.Errorf("%s serve exited before it was ready: %v", c.o.Bin, cmd.ProcessState)
		case <-ctx.Done():
			c.Kill()
			return ctx.Err()
		case <-time.After(500 * time.Microsecond):
		}
		if time.Now().After(deadline) {
			c.Kill()
			return fmt.Errorf("%s serve not ready after %s: %v", c.o.Bin, c.o.ReadyWithin, err)
		}
	}
}

// StartedIn is how long the last start took, from process start to GET /
// answered.
func (c *Child) StartedIn() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.started
}

// Pid is the running process's id.
func (c *Child) Pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cmd.Process.Pid
}

// Kill sends SIGKILL and waits for the process to be gone.
func (c *Child) Kill() {
	c.mu.Lock()
	cmd, done := c.cmd, c.done
	c.mu.Unlock()
	_ = cmd.Process.Kill()
	<-done
}

// Stop ends the process gracefully (SIGTERM), killing it after 5 s.
func (c *Child) Stop() {
	c.mu.Lock()
	cmd, done := c.cmd, c.done
	c.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Host returns a host in front of the child.
func (c *Child) Host(now func() time.Time, o Options) *Host {
	return New(c.URL, now, o)
}

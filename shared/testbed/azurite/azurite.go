// Package azurite starts and stops Azurite's table service (the npm
// package pinned in the repository's package.json) for tests and the local
// stack.
//
// The server is started through node_modules/.bin/azurite-table, never npx:
// npx forks npm → sh → node and killing its PID leaves the node server
// running, whereas the .bin script execs node directly, so the PID we hold is
// the server itself. Data lives in memory only (--inMemoryPersistence), which
// is fast and makes Restart a clean fault injection (everything is lost).
// --tableKeepAliveTimeout 120 lifts Azurite's 5 s keep-alive above the idle
// timeout of the store's HTTP transport, so reused idle connections are not
// reset under the client.
//
// Unless Options.PlainLookups is set, lookup.cjs is preloaded into the
// server (NODE_OPTIONS --require): Azurite's entity lookups scan every row
// that shares a RowKey, so a table of N cases made each point read O(N)
// (4.6 ms at 100,000 rows), a cost Azure Table Storage, indexed on
// PartitionKey + RowKey, does not have. The preload puts the more selective
// key first; the rows returned are the same. See docs/performance.md,
// "Found: Azurite's point lookups scan every row that shares the RowKey".
package azurite

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// AccountName and AccountKey are Azurite's well-known development
// credentials (public, documented by Microsoft; not a secret).
const (
	AccountName = "devstoreaccount1"
	AccountKey  = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// binRel is the table-service launcher relative to the repository root.
var binRel = filepath.Join("node_modules", ".bin", "azurite-table")

const (
	readyTimeout = 30 * time.Second
	stopGrace    = 3 * time.Second
)

// Options configures Start.
type Options struct {
	// Dir is the repository root holding node_modules. Empty means: walk up
	// from the working directory to the first directory with package.json.
	Dir string
	// Port is the table port on 127.0.0.1; 0 picks a free loopback port.
	Port int
	// Log receives Azurite's stdout and stderr; nil discards them.
	Log io.Writer
	// Location, when set, persists the tables in this directory instead of
	// memory, so a Restart is an outage, not a data loss (the shape of a
	// storage service hiccup in Azure).
	Location string
	// PlainLookups runs Azurite without the selective-lookup preload, to
	// measure what the unpatched server costs.
	PlainLookups bool
}

//go:embed lookup.cjs
var lookupJS []byte

// LookupPreloadBanner is what lookup.cjs writes to stderr once loaded.
const LookupPreloadBanner = "holdfast test bed: selective entity lookup loaded"

// DiskAutosave is how often Azurite with a Location saves its tables
// (measured: every 5 s). A write acknowledged less than this before a
// restart may be lost; wait it out for a restart that loses nothing.
const DiskAutosave = 5 * time.Second

// Instance is a running Azurite table service.
type Instance struct {
	// Port is the table service port on 127.0.0.1.
	Port int
	// Endpoint is the table service URL, http://127.0.0.1:PORT/devstoreaccount1.
	Endpoint string
	// ConnectionString is the full devstoreaccount1 connection string with
	// TableEndpoint set (aztables rejects UseDevelopmentStorage=true).
	ConnectionString string

	bin      string
	log      io.Writer
	location string
	preload  string // path of lookup.cjs, empty for plain lookups

	// ops serializes Stop and Restart; mu guards proc.
	ops  sync.Mutex
	mu   sync.Mutex
	proc *process
}

// process is one started server and the channel closed when it exits.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // valid after done is closed
}

// Start launches Azurite's table service and waits (at most 30 s) until it
// answers HTTP on its port.
func Start(ctx context.Context, opts Options) (*Instance, error) {
	dir := opts.Dir
	if dir == "" {
		var err error
		if dir, err = findRepoRoot(); err != nil {
			return nil, err
		}
	}
	bin := filepath.Join(dir, binRel)
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("azurite: %s not found (run `make deps` to install the pinned Azurite): %w", bin, err)
	}
	// A picked port can be taken between our probe and node's listen; the
	// server then exits (EADDRINUSE) and we try another one.
	attempts := 1
	if opts.Port == 0 {
		attempts = 3
	}
	var preload string
	if !opts.PlainLookups {
		var err error
		if preload, err = writePreload(); err != nil {
			return nil, err
		}
	}
	var err error
	for range attempts {
		port := opts.Port
		if port == 0 {
			if port, err = freePort(); err != nil {
				return nil, fmt.Errorf("azurite: pick a port: %w", err)
			}
		}
		in := newInstance(bin, port, opts.Log)
		in.location = opts.Location
		in.preload = preload
		if err = in.start(ctx); err == nil {
			return in, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, err
}

func newInstance(bin string, port int, log io.Writer) *Instance {
	endpoint := fmt.Sprintf("http://127.0.0.1:%d/%s", port, AccountName)
	return &Instance{
		Port:     port,
		Endpoint: endpoint,
		ConnectionString: "DefaultEndpointsProtocol=http;AccountName=" + AccountName + ";AccountKey=" + AccountKey +
			";TableEndpoint=" + endpoint + ";",
		bin: bin,
		log: log,
	}
}

// start launches the server on in.Port and waits until it is ready.
func (in *Instance) start(ctx context.Context) error {
	args := []string{
		"--tableHost", "127.0.0.1",
		"--tablePort", strconv.Itoa(in.Port),
		"--disableTelemetry",
		"--silent",
		"--tableKeepAliveTimeout", "120",
	}
	if in.location != "" {
		args = append(args, "--location", in.location)
	} else {
		args = append(args, "--inMemoryPersistence")
	}
	// Fail fast when another program holds the port (node would exit with
	// EADDRINUSE only after a readiness probe or two).
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(in.Port)))
	if err != nil {
		return fmt.Errorf("azurite: port %d unavailable: %w", in.Port, err)
	}
	_ = l.Close()
	// Not exec.CommandContext: the server must outlive the ctx used to start it.
	cmd := exec.Command(in.bin, args...)
	// In-memory mode should write nothing, but keep any stray file out of the repo.
	cmd.Dir = os.TempDir()
	tail := &tailBuffer{max: 4096}
	var out io.Writer = tail
	if in.log != nil {
		out = io.MultiWriter(tail, in.log)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	if in.preload != "" {
		cmd.Env = append(os.Environ(), "NODE_OPTIONS="+strings.TrimSpace(os.Getenv("NODE_OPTIONS")+" --require "+in.preload))
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("azurite: start %s: %w", in.bin, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()

	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if in.ready(ctx) {
			in.mu.Lock()
			in.proc = p
			in.mu.Unlock()
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("azurite: exited before serving on port %d (%v): %s", in.Port, p.err, bytes.TrimSpace(tail.Bytes()))
		case <-ctx.Done():
			_ = kill(p)
			return fmt.Errorf("azurite: not serving on port %d after %s: %w", in.Port, readyTimeout, ctx.Err())
		case <-tick.C:
		}
	}
}

// writePreload writes lookup.cjs to a file named for its content in the
// temporary directory (node loads it by path) and returns the path. The
// rename makes concurrent test processes safe.
func writePreload() (string, error) {
	sum := sha256.Sum256(lookupJS)
	path := filepath.Join(os.TempDir(), "holdfast-azurite-lookup-"+hex.EncodeToString(sum[:8])+".cjs")
	if b, err := os.ReadFile(path); err == nil && bytes.Equal(b, lookupJS) {
		return path, nil
	}
	f, err := os.CreateTemp(os.TempDir(), "holdfast-azurite-lookup-*.tmp")
	if err != nil {
		return "", fmt.Errorf("azurite: write lookup preload: %w", err)
	}
	_, werr := f.Write(lookupJS)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(f.Name())
		return "", fmt.Errorf("azurite: write lookup preload: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		_ = os.Remove(f.Name())
		return "", fmt.Errorf("azurite: write lookup preload: %w", err)
	}
	return path, nil
}

// ready reports whether Azurite's table service answers on the port. An
// open port is not enough: another program may hold it, and our server
// then exits with EADDRINUSE. Any answer (403 without credentials) carrying
// Azurite's Server header will do.
func (in *Instance) ready(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, in.Endpoint+"/Tables", nil)
	if err != nil {
		return false
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return strings.HasPrefix(resp.Header.Get("Server"), "Azurite-Table")
}

// Stop terminates the server process (SIGTERM, then SIGKILL after a grace
// period) and waits for it. Stopping a stopped instance is a no-op.
func (in *Instance) Stop() error {
	in.ops.Lock()
	defer in.ops.Unlock()
	return in.stop()
}

func (in *Instance) stop() error {
	in.mu.Lock()
	p := in.proc
	in.proc = nil
	in.mu.Unlock()
	if p == nil {
		return nil
	}
	return kill(p)
}

// Restart stops the server and starts a new one on the same port. Data is
// in memory, so everything stored is lost: tests use this to inject a
// storage outage.
func (in *Instance) Restart(ctx context.Context) error {
	in.ops.Lock()
	defer in.ops.Unlock()
	if err := in.stop(); err != nil {
		return err
	}
	return in.start(ctx)
}

func kill(p *process) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("azurite: signal: %w", err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(stopGrace):
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("azurite: kill: %w", err)
	}
	<-p.done
	return nil
}

// findRepoRoot walks up from the working directory to the first directory
// containing package.json.
func findRepoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("azurite: %w", err)
	}
	for d := wd; ; {
		if _, err := os.Stat(filepath.Join(d, "package.json")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("azurite: no package.json above %s (run from the repository, then `make deps`)", wd)
		}
		d = parent
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tailBuffer keeps the last max bytes written, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.b...)
}

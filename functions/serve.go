package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/holdfast/holdfast/shared/app"
	"github.com/holdfast/holdfast/shared/clock"
	"github.com/holdfast/holdfast/shared/config"
	"github.com/holdfast/holdfast/shared/customhandler"
	"github.com/holdfast/holdfast/shared/logging"
)

// defaultFunctionTimeout matches host.json; used when host.json is not
// beside the binary.
const defaultFunctionTimeout = 10 * time.Minute

// secretValues returns the values of settings marked secret, so the log
// redactor can scrub them.
func secretValues() []string {
	var out []string
	for _, s := range config.Settings() {
		if v := os.Getenv(s.Name); s.Secret && v != "" {
			out = append(out, v)
		}
	}
	return out
}

// functionTimeout reads functionTimeout from host.json in the app root.
func functionTimeout() time.Duration {
	root := os.Getenv("FUNCTIONS_APP_ROOT_PATH")
	if root == "" {
		root = "."
	}
	b, err := os.ReadFile(filepath.Join(root, "host.json"))
	if err != nil {
		return defaultFunctionTimeout
	}
	d, err := hostFunctionTimeout(b)
	if err != nil {
		return defaultFunctionTimeout
	}
	return d // negative ("-1": unbounded) means no body timeouts
}

// serveCmd runs the custom handler. It answers GET / at once and wires
// storage and clients in the background, so the host's readiness probe
// is not held up by network calls; invocations wait for the wiring.
func serveCmd(ctx context.Context, args []string) error {
	started := time.Now()
	cfg, err := config.FromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, "holdfast:", err)
		return exitError(2)
	}
	log := logging.New(os.Stdout, cfg.LogLevel, secretValues())
	addr, err := customhandler.ListenAddr(os.LookupEnv)
	if err != nil {
		return err
	}
	if cfg.Mode == config.ModeLocal {
		if host, _, _ := net.SplitHostPort(addr); host != "127.0.0.1" {
			return fmt.Errorf("local mode listens on loopback only, not %s", addr)
		}
	}
	timeout := functionTimeout()
	srv := customhandler.NewServer(log, customhandler.ServerOptions{})
	ready := make(chan struct{})
	var stack *app.Stack
	var wireErr error
	for _, name := range app.FunctionNames() {
		name := name
		srv.Handle(name, func(ctx context.Context, inv *customhandler.Invocation) (customhandler.Response, error) {
			select {
			case <-ready:
			case <-ctx.Done():
				return customhandler.Response{}, ctx.Err()
			}
			if wireErr != nil {
				return customhandler.Response{}, fmt.Errorf("holdfast is not configured: %w", wireErr)
			}
			return stack.Functions.Handlers()[name](ctx, inv)
		})
	}
	go func() {
		defer close(ready)
		opts := app.Options{Log: log}
		if cfg.ClockURL != "" {
			// Local mode only (config refuses it otherwise): the
			// simulator's virtual clock, for a handler in its own process.
			opts.Clock = clock.NewRemote(cfg.ClockURL)
		}
		stack, wireErr = app.Wire(ctx, cfg, opts)
		if wireErr != nil {
			log.Error().Err(wireErr).Msg("wiring failed; every invocation will fail until restarted")
			return
		}
		log.Info().Dur("wired", time.Since(started)).Msg("storage and clients ready")
	}()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	hs := customhandler.NewHTTPServer(addr, srv, timeout)
	log.Info().Str("addr", addr).Str("mode", string(cfg.Mode)).Dur("functionTimeout", timeout).
		Dur("startup", time.Since(started)).Msg("handler listening")
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
		if stack != nil {
			stack.Close()
		}
		return nil
	}
}

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

// serveCmd runs the custom handler. It answers GET / at once and opens the
// storage in the background and, should that fail, again on demand with
// backoff (app.Lazy): the handler answers the host's protocol whatever its
// dependencies do, and recovers without a restart.
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
	opts := app.Options{Log: log}
	if cfg.ClockURL != "" {
		// Local mode only (config refuses it otherwise): the simulator's
		// virtual clock, for a handler in its own process.
		opts.Clock = clock.NewRemote(cfg.ClockURL)
	}
	// Prepare touches no network; its errors are configuration errors.
	stack, err := app.Prepare(cfg, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "holdfast:", err)
		return exitError(2)
	}
	defer stack.Close()
	lazy := app.NewLazy(stack, log)
	srv := customhandler.NewServer(log, customhandler.ServerOptions{})
	lazy.Register(srv)
	go func() {
		if lazy.Ready(ctx) == nil {
			log.Info().Dur("wired", time.Since(started)).Msg("storage and clients ready")
		}
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
		return nil
	}
}

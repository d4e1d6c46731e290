package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// repoRoot walks up from the working directory to the module root.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// goCmd runs the go tool in dir with extra environment and returns its wall
// time and the tail of its output.
func goCmd(ctx context.Context, dir string, env []string, args ...string) (time.Duration, string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	el := time.Since(start)
	tail := strings.TrimSpace(out.String())
	if len(tail) > 600 {
		tail = "…" + tail[len(tail)-600:]
	}
	return el, tail, err
}

// build measures figure 8: a cold build of the binary with an empty build
// cache (the module cache stays: downloads are not compile time), and a
// warm `go test ./...`.
func (r *run) build(ctx context.Context) error {
	defer r.phase("8. build")()
	dir := r.o.RepoDir
	if dir == "" {
		var err error
		if dir, err = repoRoot(); err != nil {
			return err
		}
	}
	var errs []error
	if !r.o.SkipColdBuild {
		cache, err := os.MkdirTemp("", "holdfast-bench-gocache-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(cache)
		out := filepath.Join(cache, "holdfast")
		el, tail, err := goCmd(ctx, dir, []string{"GOCACHE=" + cache}, "build", "-trimpath", "-o", out, "./functions")
		if err != nil {
			errs = append(errs, fmt.Errorf("cold build: %w: %s", err, tail))
		} else {
			tgt, met := atMost(el.Minutes(), 4, "min")
			r.add(Result{Name: "cold go build (empty GOCACHE)", Value: el.Seconds(), Unit: "s", Target: strings.Replace(tgt, "min", "min (240 s)", 1), Met: met})
		}
	}
	if !r.o.SkipTests {
		el, tail, err := goCmd(ctx, dir, nil, "test", "-count=1", "-timeout", "10m", "./...")
		if ctx.Err() != nil {
			return errors.Join(append(errs, ctx.Err())...)
		}
		note := "all packages passed"
		if err != nil {
			note = "FAILED: " + tail
			errs = append(errs, fmt.Errorf("go test: %w", err))
		}
		r.add(Result{Name: "warm go test ./... (-count=1)", Value: el.Seconds(), Unit: "s", Note: note})
	}
	return errors.Join(errs...)
}

// Package eventstest reads the event corpora checked in under
// shared/events/testdata (valid and hostile events), for the tests of the
// decoder and of the handler end to end.
package eventstest

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Entry is one line of a corpus manifest (the directory's README):
// "file queue want", where want is an event kind (valid corpus) or a
// rejection code (hostile corpus).
type Entry struct {
	File, Queue, Want string
}

// ReadManifest reads dir/README. Every .json file in dir must have exactly
// one line and every line a file, so a case cannot be added without an
// expectation or silently dropped; each breach is reported in the error.
func ReadManifest(dir string) ([]Entry, error) {
	f, err := os.Open(filepath.Join(dir, "README"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Entry
	var errs []error
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Fields(line)
		if len(parts) != 3 {
			return nil, fmt.Errorf("%s/README: bad line %q: want file queue want", dir, line)
		}
		out = append(out, Entry{parts[0], parts[1], parts[2]})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	listed := map[string]bool{}
	for _, e := range out {
		if listed[e.File] {
			errs = append(errs, fmt.Errorf("%s/README lists %s twice", dir, e.File))
		}
		listed[e.File] = true
	}
	for _, f := range files {
		if !listed[filepath.Base(f)] {
			errs = append(errs, fmt.Errorf("%s has no README entry", f))
		}
		delete(listed, filepath.Base(f))
	}
	for f := range listed {
		errs = append(errs, fmt.Errorf("%s/README lists missing file %s", dir, f))
	}
	return out, errors.Join(errs...)
}

package main

import "runtime/debug"

// The collector's pacing when the environment does not set it. The
// handler's live heap is a few MiB while an event allocates about half a
// MiB (most of it the Tables SDK's per-entity copy buffers), so Go's
// default GOGC=100 collects dozens of times a second under load. At 400
// the same child handles a quarter to a third more events per second with
// resident memory well inside figure 7's 60 MiB (docs/performance.md,
// "Issue 16: connection reuse and garbage collector pacing"). The soft
// limit caps the heap a larger live set would grow to; it only collects
// more often than the default would once the live heap passes 64 MiB.
const (
	defaultGCPercent   = 400
	defaultMemoryLimit = 128 << 20
)

// tuneGC applies the defaults above unless GOGC or GOMEMLIMIT is set, so
// an operator's setting always wins (docs/operations.md). An empty value
// counts as unset, as it does for the runtime (an app setting left blank).
func tuneGC(lookup func(string) (string, bool)) {
	set := func(k string) bool { v, ok := lookup(k); return ok && v != "" }
	if !set("GOGC") {
		debug.SetGCPercent(defaultGCPercent)
	}
	if !set("GOMEMLIMIT") {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
}

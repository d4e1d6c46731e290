package main

import (
	"math"
	"runtime/debug"
	"testing"
)

// An operator's GOGC or GOMEMLIMIT always wins over the built-in pacing.
func TestTuneGCLeavesOperatorSettings(t *testing.T) {
	percent0 := debug.SetGCPercent(100)
	limit0 := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() {
		debug.SetGCPercent(percent0)
		debug.SetMemoryLimit(limit0)
	})
	tests := []struct {
		name        string
		env         map[string]string
		wantPercent int   // the collector's setting afterwards
		wantLimit   int64 // the soft limit afterwards
	}{
		{"nothing set", nil, defaultGCPercent, defaultMemoryLimit},
		{"GOGC set", map[string]string{"GOGC": "100"}, 100, defaultMemoryLimit},
		{"GOMEMLIMIT set", map[string]string{"GOMEMLIMIT": "off"}, defaultGCPercent, math.MaxInt64},
		{"both set", map[string]string{"GOGC": "100", "GOMEMLIMIT": "off"}, 100, math.MaxInt64},
		{"both blank", map[string]string{"GOGC": "", "GOMEMLIMIT": ""}, defaultGCPercent, defaultMemoryLimit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// What the runtime read from this environment at start.
			debug.SetGCPercent(100)
			debug.SetMemoryLimit(math.MaxInt64)
			tuneGC(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			if p := debug.SetGCPercent(100); p != tc.wantPercent {
				t.Errorf("GOGC %d, want %d", p, tc.wantPercent)
			}
			if l := debug.SetMemoryLimit(-1); l != tc.wantLimit {
				t.Errorf("memory limit %d, want %d", l, tc.wantLimit)
			}
		})
	}
}

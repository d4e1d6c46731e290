package ledger

import (
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Counter counts storage round trips (requests on the wire, retries
// included) by operation: the Store method that sent them ("Commit",
// "LoadCase", "DueTimers", ...). The memory store counts what the Table
// Storage one would send. The zero value is ready to use; a nil *Counter
// counts nothing.
type Counter struct {
	mu sync.Mutex
	n  map[string]int64
}

// Add counts one round trip of op.
func (c *Counter) Add(op string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int64{}
	}
	c.n[op]++
}

// Snapshot returns a copy of the counts by operation.
func (c *Counter) Snapshot() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.n))
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

// Total returns the number of requests of every operation.
func (c *Counter) Total() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var t int64
	for _, v := range c.n {
		t += v
	}
	return t
}

// Reset sets every count to zero.
func (c *Counter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n = nil
}

// String lists the counts sorted by operation, for logs and test output.
func (c *Counter) String() string {
	snap := c.Snapshot()
	keys := make([]string, 0, len(snap))
	for k := range snap {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strconv.FormatInt(snap[k], 10))
	}
	return b.String()
}

package sim

import (
	"strings"
	"sync"
)

// RequestLog keeps every Graph and Exchange request the simulator serves:
// register it with s.OnRequest(log.Add). Tests of observe-only mode use it
// to show that nothing changed the tenant.
type RequestLog struct {
	mu  sync.Mutex
	all []RequestInfo
}

// Add records one request.
func (l *RequestLog) Add(ri RequestInfo) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, ri)
}

// Writes lists the requests that change the tenant, as "api method op
// path": any Graph method but GET, any cmdlet but Get-*.
func (l *RequestLog) Writes() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var w []string
	for _, ri := range l.all {
		if ri.API == "graph" && ri.Method != "GET" || ri.API == "exchange" && !strings.HasPrefix(ri.Op, "Get-") {
			w = append(w, ri.API+" "+ri.Method+" "+ri.Op+" "+ri.Path)
		}
	}
	return w
}

// All returns a copy of the recorded requests, in arrival order.
func (l *RequestLog) All() []RequestInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]RequestInfo(nil), l.all...)
}

// Count is how many requests were recorded.
func (l *RequestLog) Count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.all)
}

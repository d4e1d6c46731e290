package graph_test

import (
	"net/http/httptest"
	"testing"

	"github.com/holdfast/holdfast/shared/graph"
	"github.com/holdfast/holdfast/shared/testbed/directorytest"
	"github.com/holdfast/holdfast/shared/testbed/sim"
)

// TestDirectoryConformance holds graph.Client, over the simulator's TCP
// listener, to the Directory port's behaviours; package simdirectory runs
// the same suite against its in-process client.
func TestDirectoryConformance(t *testing.T) {
	directorytest.Run(t, func(t *testing.T, s *sim.Sim, o directorytest.Options) directorytest.Directory {
		srv := httptest.NewServer(s.Handler())
		t.Cleanup(srv.Close)
		c, err := graph.New(graph.Options{BaseURL: srv.URL + "/v1.0", MaxRetries: o.MaxRetries, RetryDelay: o.RetryDelay})
		if err != nil {
			t.Fatal(err)
		}
		return c
	})
}

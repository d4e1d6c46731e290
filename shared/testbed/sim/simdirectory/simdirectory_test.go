package simdirectory_test

import (
	"testing"

	"github.com/holdfast/holdfast/shared/testbed/directorytest"
	"github.com/holdfast/holdfast/shared/testbed/sim"
	"github.com/holdfast/holdfast/shared/testbed/sim/simdirectory"
)

// TestConformance holds the in-process client to the Directory port's
// behaviours; package graph runs the same suite against graph.Client.
func TestConformance(t *testing.T) {
	directorytest.Run(t, func(t *testing.T, s *sim.Sim, o directorytest.Options) directorytest.Directory {
		c, err := simdirectory.New(simdirectory.Options{Transport: s.Transport(), MaxRetries: o.MaxRetries, RetryDelay: o.RetryDelay})
		if err != nil {
			t.Fatal(err)
		}
		return c
	})
}

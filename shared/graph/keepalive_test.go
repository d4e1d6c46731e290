package graph_test

import (
	"context"
	"testing"

	"github.com/holdfast/holdfast/shared/clock"
	"github.com/holdfast/holdfast/shared/graph"
	"github.com/holdfast/holdfast/shared/testbed/conncheck"
	"github.com/holdfast/holdfast/shared/testbed/sim"
)

// Without a caller's client the adapter keeps a connection per concurrent
// request: eight concurrent user reads, twenty rounds, at most eight
// connections (net/http's default transport keeps two).
func TestConcurrentCallsKeepTheirConnections(t *testing.T) {
	s := sim.New(sim.Options{Clock: clock.NewVirtual(simStart), TenantID: "4a1c2d9e-1111-4222-8333-944455566677", Domain: "contoso.test", Seed: 7})
	if err := s.Load(simTenant()); err != nil {
		t.Fatal(err)
	}
	srv := conncheck.NewServer(s.Handler())
	defer srv.Close()
	c := simClient(t, srv.URL+"/v1.0", graph.Options{})
	err := conncheck.Rounds(context.Background(), 8, 20, func(ctx context.Context) error {
		_, err := c.GetUser(ctx, "ann@contoso.test")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.Conns(); got > conncheck.Allowed(8) {
		t.Errorf("%d connections for 20 rounds of 8 concurrent calls, want at most %d", got, conncheck.Allowed(8))
	}
}

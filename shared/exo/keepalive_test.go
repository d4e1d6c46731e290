package exo_test

import (
	"context"
	"testing"

	"github.com/holdfast/holdfast/shared/clock"
	"github.com/holdfast/holdfast/shared/exo"
	"github.com/holdfast/holdfast/shared/tenant"
	"github.com/holdfast/holdfast/shared/testbed/conncheck"
	"github.com/holdfast/holdfast/shared/testbed/sim"
)

// Without a caller's client the adapter keeps a connection per concurrent
// request: eight concurrent Get-Mailbox calls, twenty rounds, at most
// eight connections. net/http's default keeps two, and the other six of
// every round would dial (and against Exchange Online shake hands over
// TLS) again.
func TestConcurrentCallsKeepTheirConnections(t *testing.T) {
	s := sim.New(sim.Options{Clock: clock.NewVirtual(simStart), TenantID: simTenantID, Domain: "contoso.test", Seed: 7})
	if err := s.Load(sim.TenantSpec{Users: []sim.UserSpec{{UPN: "ann@contoso.test", Licenses: []string{"ENTERPRISEPACK"}}}}); err != nil {
		t.Fatal(err)
	}
	srv := conncheck.NewServer(s.Handler())
	defer srv.Close()
	c := simClient(t, srv.URL, exo.Options{})
	err := conncheck.Rounds(context.Background(), 8, 20, func(ctx context.Context) error {
		_, err := c.GetMailbox(ctx, "ann@contoso.test", tenant.ScopeActive)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.Conns(); got > conncheck.Allowed(8) {
		t.Errorf("%d connections for 20 rounds of 8 concurrent calls, want at most %d", got, conncheck.Allowed(8))
	}
}

package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/holdfast/holdfast/shared/ledger"
	"github.com/holdfast/holdfast/shared/ledger/ledgertest"
	"github.com/holdfast/holdfast/shared/store"
	"github.com/holdfast/holdfast/shared/testbed/azurite"
)

// TestConformance runs the ledger suite on Azurite; package memledger
// runs the same suite in memory. One Azurite, fresh tables per check.
func TestConformance(t *testing.T) {
	az := azurite.ForTest(t)
	var n atomic.Int64
	ledgertest.Run(t, func(t *testing.T) ledgertest.Fixture {
		c := &ledger.Counter{}
		ctx := context.Background()
		s, err := store.Open(ctx, store.Options{ConnectionString: az.ConnectionString, Counter: c,
			TablePrefix: fmt.Sprintf("conf%d", n.Add(1))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Drop(ctx) })
		return ledgertest.Fixture{Store: s, Counter: c}
	})
}

package memledger_test

import (
	"testing"

	"github.com/holdfast/holdfast/shared/ledger"
	"github.com/holdfast/holdfast/shared/ledger/ledgertest"
	"github.com/holdfast/holdfast/shared/ledger/memledger"
)

// TestConformance runs the ledger suite on the memory store; package
// store runs the same suite on Azurite.
func TestConformance(t *testing.T) {
	ledgertest.Run(t, func(t *testing.T) ledgertest.Fixture {
		c := &ledger.Counter{}
		return ledgertest.Fixture{Store: memledger.New(memledger.Options{Counter: c}), Counter: c}
	})
}

package engine_test

import (
	"github.com/holdfast/holdfast/shared/ledger"
	"github.com/holdfast/holdfast/shared/ledger/memledger"
)

// memory is an in-memory ledger and its round-trip counter. Engine tests
// keep their records in it instead of Azurite: ledgertest holds it to the
// Table Storage store's semantics and round trips, and Azurite stays in
// that suite, the scenarios and the chaos runs.
type memory struct {
	store   ledger.Store
	counter *ledger.Counter
}

func newMemory() memory {
	c := &ledger.Counter{}
	return memory{store: memledger.New(memledger.Options{Counter: c}), counter: c}
}

package memledger_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/holdfast/holdfast/shared/ledger"
	"github.com/holdfast/holdfast/shared/ledger/memledger"
)

// TestFault: an injected failure is counted as a round trip, returned
// wrapped, and changes nothing; later calls succeed again.
func TestFault(t *testing.T) {
	ctx := context.Background()
	down := errors.New("storage down")
	failing := map[string]bool{}
	c := &ledger.Counter{}
	s := memledger.New(memledger.Options{Counter: c, Fault: func(_ context.Context, op string) error {
		if failing[op] {
			return down
		}
		return nil
	}})
	const key = "t_1"
	failing["Commit"] = true
	if _, err := s.Commit(ctx, ledger.Commit{Case: ledger.CaseRecord{Key: key}, EventID: "e"}); !errors.Is(err, down) {
		t.Fatalf("commit while down: %v", err)
	}
	if _, err := s.LoadCase(ctx, key); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("a failed commit wrote: %v", err)
	}
	failing["Commit"] = false
	if _, err := s.Commit(ctx, ledger.Commit{Case: ledger.CaseRecord{Key: key}, EventID: "e"}); err != nil {
		t.Fatalf("commit after recovery (its marker must not exist): %v", err)
	}
	failing["PutTimer"] = true
	if err := s.PutTimer(ctx, ledger.Timer{CaseKey: key, Kind: "k", DueAt: time.Unix(0, 0)}); !errors.Is(err, down) {
		t.Fatalf("put timer while down: %v", err)
	}
	n := 0
	if err := s.DueTimers(ctx, time.Unix(1, 0), 0, func(ledger.Timer) error { n++; return nil }); err != nil || n != 0 {
		t.Fatalf("due timers: %d %v", n, err)
	}
	if got := c.Snapshot(); got["Commit"] != 2 || got["PutTimer"] != 1 {
		t.Fatalf("round trips %v: failed requests are counted", c)
	}
}

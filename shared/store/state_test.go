package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/holdfast/holdfast/shared/ledger"
)

func TestStateCompareAndSwap(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	rec, err := s.LoadState(ctx, "graphSubscription")
	if err != nil || rec.ETag != "" || rec.Data != nil {
		t.Fatalf("missing row = %+v, %v", rec, err)
	}
	// Two writers start from "no row": one insert wins.
	a, b := rec, rec
	a.Data, b.Data = []byte(`{"w":"a"}`), []byte(`{"w":"b"}`)
	tagA, errA := s.SaveState(ctx, a)
	_, errB := s.SaveState(ctx, b)
	if errA != nil || !errors.Is(errB, ledger.ErrConflict) {
		t.Fatalf("insert race: %v / %v", errA, errB)
	}
	// A stale ETag loses; the current one wins.
	a.ETag, a.Data = tagA, []byte(`{"w":"a2"}`)
	tagA2, err := s.SaveState(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	a.ETag = tagA
	if _, err := s.SaveState(ctx, a); !errors.Is(err, ledger.ErrConflict) {
		t.Fatalf("stale update: %v", err)
	}
	got, err := s.LoadState(ctx, "graphSubscription")
	if err != nil || got.ETag != tagA2 || string(got.Data) != `{"w":"a2"}` {
		t.Fatalf("reload = %+v, %v", got, err)
	}
	// PutState overwrites; state rows are not cases.
	if err := s.PutState(ctx, ledger.StateRecord{Name: "lastNotification", Data: []byte(`1`)}); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := s.ListCases(ctx, func(ledger.CaseRecord) error { n++; return nil }); err != nil || n != 0 {
		t.Fatalf("ListCases saw %d state rows, %v", n, err)
	}
}

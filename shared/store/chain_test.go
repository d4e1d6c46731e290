package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/holdfast/holdfast/shared/auditchain"
	"github.com/holdfast/holdfast/shared/ledger"
)

// TestCommitChainsAudit: each commit extends the case's audit hash chain
// from the head its case row carries; the stored rows verify against the
// stored head, and a caller's slice sees the hashes Commit wrote.
func TestCommitChainsAudit(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	first := auditN(2, t0)
	etag, err := s.Commit(ctx, ledger.Commit{Case: ledger.CaseRecord{Key: keyA, State: "tracking"}, Audit: first})
	if err != nil {
		t.Fatal(err)
	}
	if first[0].Prev != "" || first[0].Hash == "" || first[1].Prev != first[0].Hash {
		t.Fatalf("first commit rows not linked: %+v", first)
	}
	for i := 1; i <= 3; i++ {
		rec, err := s.LoadCase(ctx, keyA)
		if err != nil {
			t.Fatal(err)
		}
		if rec.ETag != etag {
			t.Fatalf("etag %q, want %q", rec.ETag, etag)
		}
		if etag, err = s.Commit(ctx, ledger.Commit{Case: rec, Audit: auditN(2, t0.Add(time.Duration(i)*time.Minute))}); err != nil {
			t.Fatal(err)
		}
	}
	// A commit without audit rows keeps the head.
	rec, _ := s.LoadCase(ctx, keyA)
	head := rec.AuditHead
	if _, err := s.Commit(ctx, ledger.Commit{Case: rec}); err != nil {
		t.Fatal(err)
	}
	rec, _ = s.LoadCase(ctx, keyA)
	if rec.AuditHead != head || head == "" {
		t.Fatalf("head %q after an audit-less commit, was %q", rec.AuditHead, head)
	}
	var rows []auditchain.Row
	if err := s.ListAudit(ctx, keyA, func(a ledger.AuditRecord) error { rows = append(rows, a.Row()); return nil }); err != nil {
		t.Fatal(err)
	}
	res, err := auditchain.Verify(auditchain.ChainOrder(rows, head), head)
	if err != nil || res.Verified != 8 || res.Legacy != 0 {
		t.Fatalf("verify: %+v %v", res, err)
	}
	// Drop the third stored row: the walk from the head misses it and
	// Verify names a row.
	cut := append(append([]auditchain.Row(nil), rows[:2]...), rows[3:]...)
	if _, err := auditchain.Verify(auditchain.ChainOrder(cut, head), head); !errors.Is(err, auditchain.ErrBroken) {
		t.Fatalf("a removed row verified: %v", err)
	}
}

func TestRecordRun(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	if _, err := s.LastRun(ctx, "sweep"); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("before any run: %v", err)
	}
	for i, ok := range []bool{true, false} {
		at := t0.Add(time.Duration(i) * time.Hour)
		if err := s.RecordRun(ctx, ledger.Run{Name: "sweep", At: at, OK: ok, Summary: "n"}); err != nil {
			t.Fatal(err)
		}
		got, err := s.LastRun(ctx, "sweep")
		if err != nil || !got.At.Equal(at.Truncate(100*time.Nanosecond)) || got.OK != ok {
			t.Fatalf("run %d: %+v %v", i, got, err)
		}
	}
	n := 0
	if err := s.ListCases(ctx, func(ledger.CaseRecord) error { n++; return nil }); err != nil || n != 0 {
		t.Fatalf("run rows listed as cases: %d %v", n, err)
	}
}

package store

import (
	"context"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/holdfast/holdfast/shared/ledger"
)

// Runs (ledger.Run) are kept one row per name in the cases table, partition "run_<name>", which
// ListCases skips (its filter is RowKey eq 'case').
const runRowKey = "last"

// RecordRun overwrites the last run of r.Name.
func (s *Store) RecordRun(ctx context.Context, r ledger.Run) error {
	if err := validKey("run name", r.Name); err != nil {
		return err
	}
	e := &entity{pk: "run_" + r.Name, rk: runRowKey}
	e.time("At", r.At)
	ok := "ok"
	if !r.OK {
		ok = "failed"
	}
	e.str("Result", ok)
	e.str("Summary", truncateUnits(r.Summary, ledger.MaxRunSummaryUnits))
	if err := e.validate(); err != nil {
		return err
	}
	b, err := e.marshal()
	if err != nil {
		return fmt.Errorf("store: encode run: %w", err)
	}
	err = s.withTable(ctx, s.cases, func() error {
		_, err := s.cases.UpsertEntity(withOp(ctx, "RecordRun"), b, &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace})
		return err
	})
	if err != nil {
		return fmt.Errorf("store: record run %s: %w", r.Name, err)
	}
	return nil
}

// LastRun reads the last run of name; ledger.ErrNotFound if it never ran.
func (s *Store) LastRun(ctx context.Context, name string) (ledger.Run, error) {
	if err := validKey("run name", name); err != nil {
		return ledger.Run{}, err
	}
	var resp aztables.GetEntityResponse
	err := s.withTable(ctx, s.cases, func() (err error) {
		resp, err = s.cases.GetEntity(withOp(ctx, "LastRun"), "run_"+name, runRowKey, nil)
		return err
	})
	if isCode(err, aztables.ResourceNotFound) {
		return ledger.Run{}, fmt.Errorf("run %s: %w", name, ledger.ErrNotFound)
	}
	if err != nil {
		return ledger.Run{}, fmt.Errorf("store: last run %s: %w", name, err)
	}
	r, err := parseRow(resp.Value)
	if err != nil {
		return ledger.Run{}, err
	}
	at, err := r.time("At")
	if err != nil {
		return ledger.Run{}, err
	}
	return ledger.Run{Name: name, At: at, OK: r.str("Result") == "ok", Summary: r.str("Summary")}, nil
}

package store

import (
	"context"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/holdfast/holdfast/shared/ledger"
)

// State rows hold holdfast's own bookkeeping that belongs to no case: the
// Graph subscription it owns, the users delta link, when a notification
// was last seen. They live in the cases table in one partition of their
// own ("sys_state", a row per name), which ListCases skips (its filter is on
// the case row key).
const statePK = "sys_state"

// LoadState reads the state row name; a missing row is returned empty (no
// ETag), not as an error, so the first writer inserts it.
func (s *Store) LoadState(ctx context.Context, name string) (ledger.StateRecord, error) {
	if err := validKey("state name", name); err != nil {
		return ledger.StateRecord{}, err
	}
	var resp aztables.GetEntityResponse
	err := s.withTable(ctx, s.cases, func() (err error) {
		resp, err = s.cases.GetEntity(withOp(ctx, "LoadState"), statePK, name, nil)
		return err
	})
	if isCode(err, aztables.ResourceNotFound) {
		return ledger.StateRecord{Name: name}, nil
	}
	if err != nil {
		return ledger.StateRecord{}, fmt.Errorf("store: load state %s: %w", name, err)
	}
	r, err := parseRow(resp.Value)
	if err != nil {
		return ledger.StateRecord{}, err
	}
	data, err := r.bin("Data")
	if err != nil {
		return ledger.StateRecord{}, err
	}
	return ledger.StateRecord{Name: name, Data: data, ETag: string(resp.ETag)}, nil
}

// SaveState writes rec by compare-and-swap: an insert when rec.ETag is
// empty, else a replace that succeeds only if the row still has rec.ETag.
// ledger.ErrConflict means another writer got there first; reload and decide
// again. It returns the new ETag.
func (s *Store) SaveState(ctx context.Context, rec ledger.StateRecord) (string, error) {
	if err := validKey("state name", rec.Name); err != nil {
		return "", err
	}
	e := &entity{pk: statePK, rk: rec.Name}
	e.bin("Data", rec.Data)
	if err := e.validate(); err != nil {
		return "", err
	}
	b, err := e.marshal()
	if err != nil {
		return "", fmt.Errorf("store: encode state: %w", err)
	}
	var etag azcore.ETag
	err = s.withTable(ctx, s.cases, func() error {
		if rec.ETag == "" {
			resp, err := s.cases.AddEntity(withOp(ctx, "SaveState"), b, nil)
			etag = resp.ETag
			return err
		}
		tag := azcore.ETag(rec.ETag)
		resp, err := s.cases.UpdateEntity(withOp(ctx, "SaveState"), b, &aztables.UpdateEntityOptions{IfMatch: &tag, UpdateMode: aztables.UpdateModeReplace})
		etag = resp.ETag
		return err
	})
	// 404 on a replace: the row with that ETag is gone (deleted by an
	// operator, or Azurite restarted); a stale version like any other,
	// so the caller reloads and inserts (found by the ledger suite).
	if isCode(err, aztables.EntityAlreadyExists) || isCode(err, aztables.UpdateConditionNotSatisfied) || statusOf(err) == 412 || statusOf(err) == 409 ||
		rec.ETag != "" && isCode(err, aztables.ResourceNotFound) {
		return "", fmt.Errorf("state %s: %w", rec.Name, ledger.ErrConflict)
	}
	if err != nil {
		return "", fmt.Errorf("store: save state %s: %w", rec.Name, err)
	}
	return string(etag), nil
}

// PutState writes rec unconditionally (last writer wins): for facts where
// any recent value will do, such as when a notification was last seen.
func (s *Store) PutState(ctx context.Context, rec ledger.StateRecord) error {
	if err := validKey("state name", rec.Name); err != nil {
		return err
	}
	e := &entity{pk: statePK, rk: rec.Name}
	e.bin("Data", rec.Data)
	if err := e.validate(); err != nil {
		return err
	}
	b, err := e.marshal()
	if err != nil {
		return fmt.Errorf("store: encode state: %w", err)
	}
	err = s.withTable(ctx, s.cases, func() error {
		_, err := s.cases.UpsertEntity(withOp(ctx, "PutState"), b, &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace})
		return err
	})
	if err != nil {
		return fmt.Errorf("store: put state %s: %w", rec.Name, err)
	}
	return nil
}

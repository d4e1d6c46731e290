package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/holdfast/holdfast/shared/ledger"
)

// Index rows map a user reference (a UPN or an employee id) to a case key,
// so an event that names a user the directory no longer shows as active
// (deleted: Entra rewrites its UPN in the recycle bin) still finds its
// case. They live in the cases table in partitions of their own
// ("idx_<kind>_<sha256 of the lower-cased value>"), which ListCases skips.
const indexRowKey = "idx"

func indexPK(kind, value string) string {
	h := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(value))))
	return "idx_" + kind + "_" + hex.EncodeToString(h[:20])
}

// PutIndex records that value of kind ("upn", "employeeId") belongs to
// caseKey. Writing it again is harmless.
func (s *Store) PutIndex(ctx context.Context, kind ledger.IndexKind, value, caseKey string) error {
	if value == "" {
		return nil
	}
	if err := validKey("case key", caseKey); err != nil {
		return err
	}
	e := &entity{pk: indexPK(string(kind), value), rk: indexRowKey}
	e.str("CaseKey", caseKey)
	e.str("Kind", string(kind))
	if err := e.validate(); err != nil {
		return err
	}
	b, err := e.marshal()
	if err != nil {
		return fmt.Errorf("store: encode index: %w", err)
	}
	err = s.withTable(ctx, s.cases, func() error {
		_, err := s.cases.UpsertEntity(withOp(ctx, "PutIndex"), b, &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace})
		return err
	})
	if err != nil {
		return fmt.Errorf("store: put index %s: %w", kind, err)
	}
	return nil
}

// LookupIndex returns the case key recorded for value; ledger.ErrNotFound if none.
func (s *Store) LookupIndex(ctx context.Context, kind ledger.IndexKind, value string) (string, error) {
	var resp aztables.GetEntityResponse
	err := s.withTable(ctx, s.cases, func() (err error) {
		resp, err = s.cases.GetEntity(withOp(ctx, "LookupIndex"), indexPK(string(kind), value), indexRowKey, nil)
		return err
	})
	if isCode(err, aztables.ResourceNotFound) {
		return "", fmt.Errorf("index %s: %w", kind, ledger.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("store: lookup index %s: %w", kind, err)
	}
	r, err := parseRow(resp.Value)
	if err != nil {
		return "", err
	}
	return r.str("CaseKey"), nil
}

// MarkOnce records id under kind and reports whether this call was the
// first to do so (an insert; a second caller gets false). holdfast uses it
// for side effects that have no case to remember them, such as the alert
// for a rejected event that is published again.
func (s *Store) MarkOnce(ctx context.Context, kind ledger.OnceKind, id string) (bool, error) {
	e := &entity{pk: indexPK(string(kind), id), rk: "once"}
	e.str("Kind", string(kind))
	if err := e.validate(); err != nil {
		return false, err
	}
	b, err := e.marshal()
	if err != nil {
		return false, fmt.Errorf("store: encode mark: %w", err)
	}
	err = s.withTable(ctx, s.cases, func() error {
		_, err := s.cases.AddEntity(withOp(ctx, "MarkOnce"), b, nil)
		return err
	})
	switch {
	case err == nil:
		return true, nil
	case isCode(err, aztables.EntityAlreadyExists):
		return false, nil
	}
	return false, fmt.Errorf("store: mark %s: %w", kind, err)
}

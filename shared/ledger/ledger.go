package ledger

import (
	"context"
	"time"
)

// Store is the port: everything holdfast keeps, as the engine, the
// functions, the dashboard and the CLI use it. Consumers declare the
// subset they need; Store is the whole, which every implementation
// provides and ledgertest checks. Implementations are safe for concurrent
// use.
type Store interface {
	// LoadCase reads a case with its ETag; ErrNotFound if there is none.
	LoadCase(ctx context.Context, key string) (CaseRecord, error)
	// Commit writes the case, its audit rows (chained from the case's
	// AuditHead, filling Prev and Hash in c.Audit) and the event's dedupe
	// marker, all or nothing, and returns the case's new ETag.
	Commit(ctx context.Context, c Commit) (string, error)
	// ListCases calls fn for every case, in key order. For admin views.
	ListCases(ctx context.Context, fn func(CaseRecord) error) error
	// ListAudit calls fn for the case's audit rows, oldest first.
	ListAudit(ctx context.Context, key string, fn func(AuditRecord) error) error

	// PutTimer writes the timer; writing the same timer again changes nothing.
	PutTimer(ctx context.Context, t Timer) error
	// DueTimers calls fn for up to max timers due at or before now (max ≤
	// 0: all), earliest first. Its cost is the number of due timers.
	DueTimers(ctx context.Context, now time.Time, max int, fn func(Timer) error) error
	// DeleteTimer deletes the timer if it is still the version read (its
	// ETag; "" deletes any version). Already gone: nil. Changed: ErrConflict.
	DeleteTimer(ctx context.Context, t Timer) error

	// Reject keeps a rejected event (truncating long fields).
	Reject(ctx context.Context, r RejectedEvent) error
	// ListRejected calls fn for up to max rejected events (max ≤ 0: all),
	// newest first.
	ListRejected(ctx context.Context, max int, fn func(RejectedEvent) error) error

	// PutIndex records that value of kind belongs to caseKey ("" value:
	// nothing to record). Writing it again is harmless.
	PutIndex(ctx context.Context, kind IndexKind, value, caseKey string) error
	// PutAlias makes alias, a case key no case uses, lead to the case
	// caseKey: LoadCase(alias) reads that case (its Key is caseKey; two
	// round trips), ListCases does not list the alias, and a Commit that
	// inserts a case under alias fails with ErrConflict. Writing the same
	// alias again is harmless; ErrConflict if alias is a case or leads
	// elsewhere.
	PutAlias(ctx context.Context, alias, caseKey string) error
	// LookupIndex returns the case key recorded for value; ErrNotFound if none.
	LookupIndex(ctx context.Context, kind IndexKind, value string) (string, error)
	// MarkOnce records id under kind and reports whether this call was the
	// first to do so.
	MarkOnce(ctx context.Context, kind OnceKind, id string) (bool, error)

	// LoadState reads a state row; a missing row comes back empty (no ETag).
	LoadState(ctx context.Context, name string) (StateRecord, error)
	// SaveState writes by compare-and-swap (insert when rec.ETag is "");
	// ErrConflict when another writer got there first. Returns the new ETag.
	SaveState(ctx context.Context, rec StateRecord) (string, error)
	// PutState writes unconditionally (last writer wins).
	PutState(ctx context.Context, rec StateRecord) error

	// RecordRun overwrites the last run of r.Name.
	RecordRun(ctx context.Context, r Run) error
	// LastRun reads the last run of name; ErrNotFound if it never ran.
	LastRun(ctx context.Context, name string) (Run, error)
}

package store

import "github.com/holdfast/holdfast/shared/ledger"

// The records and errors are package ledger's (the neutral port); these
// aliases keep store.X working for existing callers.
type (
	CaseRecord    = ledger.CaseRecord
	AuditRecord   = ledger.AuditRecord
	Commit        = ledger.Commit
	Timer         = ledger.Timer
	RejectedEvent = ledger.RejectedEvent
	Run           = ledger.Run
	StateRecord   = ledger.StateRecord
	Counter       = ledger.Counter
)

// Errors, test with errors.Is; the same values as package ledger's.
var (
	ErrNotFound       = ledger.ErrNotFound
	ErrConflict       = ledger.ErrConflict
	ErrDuplicateEvent = ledger.ErrDuplicateEvent
	ErrLimit          = ledger.ErrLimit
	ErrInvalidKey     = ledger.ErrInvalidKey
)

// MaxCaseData is ledger.MaxCaseData.
const MaxCaseData = ledger.MaxCaseData

// The Table Storage store is one implementation of the port.
var _ ledger.Store = (*Store)(nil)

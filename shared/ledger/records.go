package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"time"

	"github.com/holdfast/holdfast/shared/auditchain"
)

// CaseRecord is the stored form of one case.
type CaseRecord struct {
	Key      string
	Data     []byte // opaque JSON written by the engine, at most MaxCaseData bytes
	State    string
	UPN      string
	Deadline time.Time // zero: none
	ETag     string    // from LoadCase; "" in a Commit means insert
	// AuditHead is the hash of the case's last chained audit row ("" when
	// none yet); Commit chains new rows from it (package auditchain).
	AuditHead string
}

// AuditRecord is one audited step of a case transition.
type AuditRecord struct {
	CaseKey string // "" in a Commit means the case's key
	At      time.Time
	Seq     int // 0–9999, orders rows with the same At
	Actor   string
	Action  string
	Detail  string
	EventID string
	Result  string
	// Prev and Hash link the row into the case's hash chain. Commit fills
	// them (in the caller's slice too); rows written before the chain
	// existed have neither.
	Prev string
	Hash string
}

// Row is the row in the chain's terms.
func (a AuditRecord) Row() auditchain.Row {
	return auditchain.Row{CaseKey: a.CaseKey, At: a.At, Seq: a.Seq, Actor: a.Actor, Action: a.Action, Detail: a.Detail,
		EventID: a.EventID, Result: a.Result, Prev: a.Prev, Hash: a.Hash}
}

// Commit is one atomic case transition.
type Commit struct {
	// Case is inserted when ETag is "" (ErrConflict if it exists) and
	// otherwise replaced if its ETag still matches (ErrConflict if not).
	Case  CaseRecord
	Audit []AuditRecord
	// EventID, if set, writes a dedupe marker; ErrDuplicateEvent if it
	// exists already.
	EventID string
}

// Timer is a pending wake-up of a case. A timer is identified by its case,
// kind and due time; writing the same timer again changes nothing.
type Timer struct {
	CaseKey string
	Kind    string
	DueAt   time.Time
	ETag    string // set by DueTimers; DeleteTimer deletes only this version
}

// RejectedEvent is a message that could not be processed, kept for the admin.
type RejectedEvent struct {
	Queue, Code, Reason, Field, MessageID string
	ReceivedAt                            time.Time // required
	Body                                  []byte
}

// Rejected events keep at most these: text fields come from untrusted
// input and a rejected event must never be lost for being too big, so
// stores truncate rather than refuse.
const (
	MaxRejectedFieldUnits = 4000  // UTF-16 units per metadata string
	MaxRejectedBodyUnits  = 30000 // UTF-16 units of a UTF-8 body
	MaxRejectedBodyBytes  = 20000 // bytes of a body that is not UTF-8
)

// Fingerprint identifies a rejection's content: rejecting the same message
// twice at the same instant keeps one row, and rejections at the same
// instant list in fingerprint order.
func (r RejectedEvent) Fingerprint() [8]byte {
	h := sha256.New()
	for _, s := range []string{r.Queue, r.Code, r.Reason, r.Field, r.MessageID} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	h.Write(r.Body)
	var out [8]byte
	copy(out[:], h.Sum(nil))
	return out
}

// Run is the last run of a scheduled function (sweep, reconcile), kept so
// the dashboard's health page can say when it last ran on any instance.
type Run struct {
	Name    string
	At      time.Time
	OK      bool
	Summary string // truncated to MaxRunSummaryUnits
}

// MaxRunSummaryUnits is the longest Run.Summary kept, in UTF-16 units.
const MaxRunSummaryUnits = 2000

// StateRecord is one state row: holdfast's own bookkeeping that belongs to
// no case (the Graph subscription, the users delta link). Data is the
// owner's JSON, ETag its version (empty for a row not yet stored).
type StateRecord struct {
	Name string
	Data []byte
	ETag string
}

// IndexKind names what an index row maps to a case key. Values are
// matched case-insensitively, ignoring surrounding space.
type IndexKind string

// Index kinds holdfast writes.
const (
	IndexUPN          IndexKind = "upn"
	IndexEmployeeID   IndexKind = "employeeId"
	IndexObjectID     IndexKind = "objectId"
	IndexExchangeGUID IndexKind = "exchangeGuid"
)

// OnceKind names a family of MarkOnce markers.
type OnceKind string

// OnceRejectedAlert marks a rejected event already alerted on.
const OnceRejectedAlert OnceKind = "rejectedAlert"

// Precision is the resolution of stored DateTime values (Azure keeps 100 ns
// ticks): Deadline, Run.At and RejectedEvent.ReceivedAt come back truncated
// to it. Audit At and Timer DueAt keep nanoseconds (they are part of keys).
const Precision = 100 * time.Nanosecond

package ledger

import "errors"

// Errors every Store returns; test with errors.Is.
var (
	// ErrNotFound: the case (run, index row) does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a stale ETag, an insert of an existing case, or a timer
	// deleted by someone else's newer version.
	ErrConflict = errors.New("store: conflict")
	// ErrDuplicateEvent: the event's dedupe marker exists; nothing was written.
	ErrDuplicateEvent = errors.New("store: duplicate event")
	// ErrLimit: an Azure Table Storage limit would be exceeded; nothing was written.
	ErrLimit = errors.New("store: storage limit exceeded")
	// ErrInvalidKey: a key is empty, too long or has characters Azure forbids.
	ErrInvalidKey = errors.New("store: invalid key")
)

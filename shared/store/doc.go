// Package store is holdfast's Table Storage repository: cases with their
// audit trail and event-dedupe markers, timers, and rejected events, over
// aztables. It runs unchanged against Azure and against Azurite.
//
// It implements ledger.Store, the port whose records (ledger.CaseRecord,
// ledger.Timer, ...) and errors (ledger.ErrNotFound, ...) it uses.
// ledgertest.Run, the conformance suite the in-memory ledger (package
// memledger) passes too, runs against Azurite in TestConformance.
//
// # Tables and keys
//
// <prefix>cases (prefix defaults to "holdfast"): one partition per case.
//
//	PartitionKey  the case key, e.g. "<tenantGuid>_<objectGuid>" (caller-supplied)
//	RowKey "case"                          the case entity: Data (Edm.Binary, opaque JSON ≤ 60 KiB),
//	                                       State, UPN, Deadline (Edm.DateTime, omitted when zero),
//	                                       AuditHead (hash of the last audit row; absent before any)
//	RowKey "audit_<at>_<seq>_<tag>"        one audit row: at is UTC "2006-01-02T15:04:05.000000000Z",
//	                                       seq 4 digits, tag 8 hex digits naming the commit (below);
//	                                       Prev and Hash link it into the case's hash chain
//	                                       (package auditchain; rows written before it have neither)
//	RowKey "evt_<40 hex>"                  dedupe marker: the first 160 bits of sha256(event id)
//
// Keeping all three kinds in the case's partition lets one entity-group
// transaction (Commit) write the case, its audit rows and the dedupe marker
// atomically in exactly one round trip. The case row is written with the
// caller's ETag as a compare-and-swap, the marker and audit rows are inserts,
// so a stale ETag or an already-seen event aborts the whole transaction.
//
// The audit tag is derived from the ETag the commit replaces (or "new" for
// the insert). Only one commit can succeed per ETag, so audit rows of two
// commits carrying the same timestamp and sequence number (a virtual clock
// that did not move) never collide; rows then sort by at, seq, tag.
//
// Commit also chains the audit: each new row's Prev is the hash of the row
// before it, starting from the AuditHead of the case row it replaces (""
// for an insert), and the case row's AuditHead becomes the last new row's
// hash. The compare-and-swap makes that head current, so chains never fork.
// Callers pass the AuditHead they loaded with the ETag.
//
// A case key's partition may instead hold an alias (PutAlias): RowKey
// "case" with the one property AliasOf, the key of the case it leads to.
// LoadCase follows it (one more read, for the rare alias only), ListCases
// skips it, and an insert of a case under the alias key fails with
// ledger.ErrConflict. holdfast aliases the key of an account a recovery created
// to the case of the mailbox it received, so an event about the new
// account reaches that case through the read it makes anyway.
//
// Partitions "idx_…" hold index rows (index.go), "run_<name>" the last run
// of a timer function (runs.go); ListCases reads only RowKey "case". An
// index row maps a value (a UPN, an employee id, an ExchangeGuid) to a
// case: a lookup across cases, so it has a partition of its own, keyed by
// the value, and is written in a request of its own (not in the case's
// transaction), once per value.
//
// <prefix>timers: one entity per pending wake-up.
//
//	PartitionKey  due date in UTC, "20060102"
//	RowKey        due time "2006-01-02T15:04:05.000000000Z" + "_" + caseKey + "_" + kind
//
// DueTimers reads
//
//	(PartitionKey lt '<today>') or (PartitionKey eq '<today>' and RowKey le '<now>~')
//
// which is an exact key-range read: every entity it returns is due, so a
// sweep's cost grows with the number of due timers, not with the number of
// timers or cases ('~' sorts after the '_' that follows every fixed-width
// due time, so timers due exactly at now are included). Keys are strings
// compared with string literals: no typed literals, so no type-mismatch
// pitfalls (Azurite answers a mismatched comparison with HTTP 500, which
// azcore retries for ~9 s). Processed timers are deleted with IfMatch.
//
// <prefix>rejected: events that could not be processed, kept for the admin.
//
//	PartitionKey  "<99999999-yyyyMMdd>_<yyyyMMdd>" of receipt (UTC)
//	RowKey        inverted .NET ticks (19 digits) + "_" + 16 hex of a content hash
//
// Tables sort ascending only, so both keys are inverted to make a plain
// scan return the newest rejection first across days; the readable date
// follows the inverted one in the PartitionKey. Body is kept as UTF-8 text
// truncated to 30,000 characters, or as base64 of its first 20,000 bytes
// when it is not valid UTF-8 (BodyEncoding says which; BodyBytes is the
// original size). Rejecting the same message twice at the same instant
// overwrites one row (idempotent upsert).
//
// # Limits
//
// Azurite does not enforce most of Azure's limits (it accepts batches over
// several partitions, entities over 1 MiB, more than 252 properties), so a
// bug would pass every local test and fail in production. The store checks
// them itself before sending and returns ledger.ErrLimit: ≤ 100 operations and one
// PartitionKey per transaction, ≤ 4 MiB per transaction body, ≤ 1 MiB per
// entity counted as Azure does (strings at 2 bytes per UTF-16 unit), ≤ 252
// custom properties, string properties ≤ 32 Ki UTF-16 units (64 KiB),
// binary ≤ 64 KiB. Keys must not contain / \ # ? or control characters and
// are at most 1 KiB counted as UTF-16 bytes (512 ASCII characters);
// violations return ledger.ErrInvalidKey. DateTime properties are always typed
// (Edm.DateTime) and written in UTC with a Z suffix.
//
// Azurite 3.37 (the pinned version) stores a multi-byte UTF-8 character
// that a request body's chunking splits as U+FFFD (Azure/Azurite#2670; seen
// from 32 KiB of body on). aztables re-encodes entities, so the store cannot
// send them escaped; Azure is not affected. Case data is Edm.Binary (base64,
// ASCII) and safe; only long non-ASCII text (a rejected event's body) can be
// altered on Azurite, and tests avoid relying on it.
//
// # Transport
//
// Azurite closes idle keep-alive connections after 5 s unless started with
// --tableKeepAliveTimeout (package azurite passes 120); Go would otherwise
// reuse a closed connection and see "connection reset by peer". The default
// transport therefore keeps idle connections for 4 s against loopback
// endpoints and 60 s elsewhere. azcore's default retry policy is kept; the
// store never sends requests Azurite answers with a 500 (mismatched filter
// types, '/' in keys), so retries only cover real transient failures.
// Every HTTP attempt, retries included, is counted by an optional Counter.
package store

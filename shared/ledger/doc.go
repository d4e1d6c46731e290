// Package ledger holds the records holdfast keeps (cases with their audit
// trail, timers, rejected events, index rows, case aliases, state rows, runs) and Store,
// the port every storage implementation provides. It is neutral: nothing
// here knows about Azure Table Storage, so the stored JSON of a case is
// shaped by the engine, never by an adapter.
//
// Two implementations exist: package store (Table Storage over aztables,
// production and Azurite) and package ledger/memledger (in memory, for fast
// tests). Package ledger/ledgertest is the conformance suite both pass; a
// behaviour the engine relies on belongs in that suite.
//
// # Semantics every implementation keeps
//
//   - Commit is all or nothing: the case (insert when its ETag is "",
//     compare-and-swap otherwise), its audit rows and the event's dedupe
//     marker. A stale ETag is ErrConflict, a seen event ErrDuplicateEvent.
//   - A commit is one entity-group transaction in Azure's terms: at most
//     MaxTransactionOps operations (marker + case + audit rows), one
//     partition (every audit row belongs to the committed case), else
//     ErrLimit before anything is written.
//   - Keys follow Azure's rules (ValidKey), times come back in UTC at the
//     precision the Table service keeps (see Precision), long free text is
//     truncated as documented on each record.
//   - Every call that would be a request on the wire counts one round trip
//     in the Counter, named by operation, so tests can hold the engine to
//     its budget whichever store it runs on.
package ledger

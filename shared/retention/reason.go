package retention

import "strings"

// ReasonKind is the typed part of why a case is in its state. Code that
// must act on a reason reads the kind, never the words: Reason is for
// people and may be reworded at any time.
type ReasonKind string

const (
	// ReasonUnspecified: the words say it all; no code acts on them.
	ReasonUnspecified ReasonKind = ""
	// ReasonExchangeGUIDConflict: another account synced with this
	// mailbox's ExchangeGuid hard-deleted it. The remedy is upstream
	// (directory sync), so the purged alert says so.
	ReasonExchangeGUIDConflict ReasonKind = "exchangeGuidConflict"
)

// legacyConflictPrefix is how cases stored before ReasonKind existed said
// ReasonExchangeGUIDConflict. Only UpgradeLegacy reads it.
const legacyConflictPrefix = "ExchangeGuid conflict"

// ExchangeGUIDConflictReason words ReasonExchangeGUIDConflict for the
// account that came back with the GUID.
func ExchangeGUIDConflictReason(account string) string {
	return legacyConflictPrefix + ": account " + account + " came back through directory sync with this mailbox's ExchangeGuid, which hard-deleted the original"
}

// Explain sets why the case is in its state: the kind code may act on,
// and the words admins read. Every change of Reason goes through here so
// a kind never outlives the words it was set with.
func (c *Case) Explain(kind ReasonKind, words string) {
	c.ReasonKind, c.Reason = kind, words
}

// UpgradeLegacy derives fields a case stored by an older holdfast lacks.
// Called once on load; idempotent. It is the only place that reads the
// words of a reason back.
func (c *Case) UpgradeLegacy() {
	if c.ReasonKind == ReasonUnspecified && strings.HasPrefix(c.Reason, legacyConflictPrefix) {
		c.ReasonKind = ReasonExchangeGUIDConflict
	}
}

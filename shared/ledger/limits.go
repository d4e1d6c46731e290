package ledger

import (
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Azure Table Storage limits every implementation enforces, so a commit the
// memory store accepts is one production accepts too.
const (
	// MaxTransactionOps is the most operations in one entity-group
	// transaction: a Commit's dedupe marker, case and audit rows together.
	MaxTransactionOps = 100
	// MaxCaseData is the largest CaseRecord.Data accepted (one Edm.Binary
	// property, limit 64 KiB, with headroom).
	MaxCaseData = 60 << 10
	// MaxStringUnits is the longest string property, in UTF-16 units (64 KiB).
	MaxStringUnits = 32 << 10
	// MaxTransactionBytes is the largest transaction body.
	MaxTransactionBytes = 4 << 20
	// MaxKeyBytes is the longest key, counted as UTF-16 bytes.
	MaxKeyBytes = 1 << 10
	// MaxAuditSeq is the largest AuditRecord.Seq (4 digits in the key).
	MaxAuditSeq = 9999
)

// UTF16Units is the length of s in UTF-16 code units (how Azure sizes
// strings); an invalid byte counts as U+FFFD, one unit, as JSON sends it.
func UTF16Units(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// ValidKey applies Azure's key rules to a key or a value that becomes part
// of one: not empty, valid UTF-8, ≤ MaxKeyBytes, none of / \ # ? nor
// control characters. Violations are ErrInvalidKey.
func ValidKey(what, k string) error {
	if k == "" {
		return fmt.Errorf("%s is empty: %w", what, ErrInvalidKey)
	}
	if !utf8.ValidString(k) {
		return fmt.Errorf("%s is not valid UTF-8: %w", what, ErrInvalidKey)
	}
	if n := 2 * UTF16Units(k); n > MaxKeyBytes {
		return fmt.Errorf("%s is %d bytes (UTF-16), limit %d: %w", what, n, MaxKeyBytes, ErrInvalidKey)
	}
	if i := strings.IndexFunc(k, badKeyRune); i >= 0 {
		r, _ := utf8.DecodeRuneInString(k[i:])
		return fmt.Errorf("%s %q has forbidden character %q: %w", what, k, r, ErrInvalidKey)
	}
	return nil
}

func badKeyRune(r rune) bool {
	switch r {
	case '/', '\\', '#', '?':
		return true
	}
	return r < 0x20 || r >= 0x7f && r <= 0x9f
}

// Truncate cuts s to at most n UTF-16 units on a rune boundary and makes it
// valid UTF-8: how stores keep free text of bounded size.
func Truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	units := 0
	for i, r := range s {
		units += utf16.RuneLen(r)
		if units > n {
			return s[:i]
		}
	}
	return s
}

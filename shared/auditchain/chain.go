// Package auditchain links a case's audit rows into a hash chain, so an
// auditor holding an export can check that no row was removed, changed or
// reordered. Each row carries the hash of the row before it (Prev) and its
// own hash (Hash): SHA-256 over a canonical encoding of its fields and Prev.
//
// The canonical encoding is a sequence of netstrings, one per field in a
// fixed order: "<byte length>:<UTF-8 bytes>," for version, case key, time,
// seq, actor, action, detail, event id, result, prev. Netstrings need no
// escaping rules, so another language reproduces them in a few lines. Time
// is UTC with nine fractional digits, "2006-01-02T15:04:05.000000000Z", the
// form the store keeps in the row key. Hashes are lower-case hex; the first
// row of a chain has Prev "".
package auditchain

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Version names the canonical encoding; it is hashed first so a future
// encoding cannot collide with this one.
const Version = "holdfast-audit-v1"

// TimeLayout is how a row's time is encoded (and exported).
const TimeLayout = "2006-01-02T15:04:05.000000000Z"

// Row is one audit row as hashed and exported.
type Row struct {
	CaseKey string    `json:"caseKey"`
	At      time.Time `json:"at"`
	Seq     int       `json:"seq"`
	Actor   string    `json:"actor"`
	Action  string    `json:"action"`
	Detail  string    `json:"detail"`
	EventID string    `json:"eventId"`
	Result  string    `json:"result"`
	Prev    string    `json:"prev"`
	Hash    string    `json:"hash"`
}

// Canonical returns the bytes Hash is computed over.
func (r Row) Canonical() []byte {
	var b strings.Builder
	for _, f := range []string{Version, r.CaseKey, r.At.UTC().Format(TimeLayout), strconv.Itoa(r.Seq),
		r.Actor, r.Action, r.Detail, r.EventID, r.Result, r.Prev} {
		b.WriteString(strconv.Itoa(len(f)))
		b.WriteByte(':')
		b.WriteString(f)
		b.WriteByte(',')
	}
	return []byte(b.String())
}

// ComputeHash is the row's hash given its Prev.
func (r Row) ComputeHash() string {
	h := sha256.Sum256(r.Canonical())
	return hex.EncodeToString(h[:])
}

// Link sets Prev and Hash on each row in order, starting from prev, and
// returns the new head (prev when rows is empty).
func Link(prev string, rows []Row) string {
	for i := range rows {
		rows[i].Prev = prev
		rows[i].Hash = rows[i].ComputeHash()
		prev = rows[i].Hash
	}
	return prev
}

// ErrBroken: the chain does not verify.
var ErrBroken = errors.New("audit chain broken")

// BadRowError names the first row that does not verify (1-based, in the
// order given) and why.
type BadRowError struct {
	Row    int
	Reason string
}

func (e *BadRowError) Error() string {
	return fmt.Sprintf("audit row %d: %s", e.Row, e.Reason)
}

func (e *BadRowError) Unwrap() error { return ErrBroken }

// Result summarises a verified chain.
type Result struct {
	Rows     int    // rows checked
	Legacy   int    // leading rows written before the chain existed (no hash)
	Head     string // hash of the last row
	Verified int    // rows whose hash and link verified
}

// Verify checks rows in the order given: leading rows without a hash are
// legacy (written before holdfast chained its audit) and are counted, not
// verified; from the first hashed row on, each row's Prev must equal the
// previous hashed row's Hash ("" for the first) and its Hash must match its
// content. A hashless row after the first hashed one is an error. When
// head is not "", the last row's hash must equal it: that catches rows cut
// from the end. The error is a *BadRowError wrapping ErrBroken.
func Verify(rows []Row, head string) (Result, error) {
	res := Result{Rows: len(rows)}
	prev, chained := "", false
	for i, r := range rows {
		n := i + 1
		if r.Hash == "" && r.Prev == "" && !chained {
			res.Legacy++
			continue
		}
		if r.Hash == "" {
			return res, &BadRowError{n, "has no hash after chained rows (inserted or stripped)"}
		}
		chained = true
		if r.Prev != prev {
			return res, &BadRowError{n, fmt.Sprintf("prev %s does not match the hash of the row before (%s): a row was removed, inserted or reordered", short(r.Prev), short(prev))}
		}
		if got := r.ComputeHash(); got != r.Hash {
			return res, &BadRowError{n, fmt.Sprintf("content does not match its hash %s (computed %s): the row was edited", short(r.Hash), short(got))}
		}
		prev = r.Hash
		res.Verified++
	}
	res.Head = prev
	if head != "" && head != prev {
		return res, &BadRowError{len(rows), fmt.Sprintf("last hash %s is not the case's head %s: rows were cut from the end", short(prev), short(head))}
	}
	return res, nil
}

// ChainOrder puts rows in chain order by following the links back from
// head: stored order (by time) can differ from commit order when instances'
// clocks disagree. Legacy rows come first in their given order. Rows the
// walk does not reach are appended at the end in their given order, so
// Verify reports them. With head "" the given order is kept.
func ChainOrder(rows []Row, head string) []Row {
	if head == "" {
		return rows
	}
	byHash := make(map[string]int, len(rows))
	var legacy []Row
	for i, r := range rows {
		if r.Hash == "" {
			legacy = append(legacy, r)
			continue
		}
		byHash[r.Hash] = i
	}
	used := make([]bool, len(rows))
	var rev []Row
	for h := head; h != ""; {
		i, ok := byHash[h]
		if !ok || used[i] {
			break
		}
		used[i] = true
		rev = append(rev, rows[i])
		h = rows[i].Prev
	}
	out := append([]Row(nil), legacy...)
	for i := len(rev) - 1; i >= 0; i-- {
		out = append(out, rev[i])
	}
	for i, r := range rows {
		if r.Hash != "" && !used[i] {
			out = append(out, r)
		}
	}
	return out
}

func short(h string) string {
	if h == "" {
		return `""`
	}
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}

package store

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/holdfast/holdfast/shared/ledger"
)

// Azure Table Storage limits, enforced here because Azurite does not.
const (
	maxTxOps       = ledger.MaxTransactionOps
	maxTxBodyBytes = ledger.MaxTransactionBytes
	maxEntityBytes = 1 << 20
	maxCustomProps = 252
	maxStringUnits = ledger.MaxStringUnits
	maxBinaryBytes = 64 << 10
	maxPropNameLen = 255
	txOpOverhead   = 1024 // multipart headers and request line per operation
)

// kind is an EDM type the store writes.
type kind int

const (
	edmString kind = iota
	edmBinary
	edmDateTime
	edmInt32
	edmInt64
	edmBool
)

// prop is one typed property.
type prop struct {
	name  string
	kind  kind
	value any // string, []byte, time.Time, int32, int64, bool
}

// entity is what the store writes: keys plus typed properties.
type entity struct {
	pk, rk string
	props  []prop
}

func (e *entity) str(name, v string) { e.props = append(e.props, prop{name, edmString, v}) }
func (e *entity) bin(name string, v []byte) {
	e.props = append(e.props, prop{name, edmBinary, v})
}
func (e *entity) time(name string, v time.Time) {
	e.props = append(e.props, prop{name, edmDateTime, v})
}
func (e *entity) i32(name string, v int32) { e.props = append(e.props, prop{name, edmInt32, v}) }

// edmTime is how DateTime values are written: UTC, 7 fractional digits
// (Azure's 100 ns ticks), Z. Azurite stores whatever it is given.
const edmTime = "2006-01-02T15:04:05.0000000Z"

func utf16Len(s string) int { return ledger.UTF16Units(s) }

// size is the entity size as Azure computes it:
// 4 + 2·len(PK+RK) + Σ(8 + 2·len(name) + sizeof(value)).
func (e *entity) size() int {
	n := 4 + 2*(utf16Len(e.pk)+utf16Len(e.rk))
	for _, p := range e.props {
		n += 8 + 2*utf16Len(p.name)
		switch p.kind {
		case edmString:
			n += 4 + 2*utf16Len(p.value.(string))
		case edmBinary:
			n += 4 + len(p.value.([]byte))
		case edmDateTime, edmInt64:
			n += 8
		case edmInt32:
			n += 4
		case edmBool:
			n++
		}
	}
	return n
}

// validate checks keys and Azure's per-entity limits.
func (e *entity) validate() error {
	if err := validKey("PartitionKey", e.pk); err != nil {
		return err
	}
	if err := validKey("RowKey", e.rk); err != nil {
		return err
	}
	if len(e.props) > maxCustomProps {
		return fmt.Errorf("entity %s/%s has %d properties, Azure allows %d: %w", e.pk, e.rk, len(e.props), maxCustomProps, ErrLimit)
	}
	seen := make(map[string]bool, len(e.props))
	for _, p := range e.props {
		if !validPropName(p.name) || seen[p.name] {
			return fmt.Errorf("entity %s/%s: bad or repeated property name %q: %w", e.pk, e.rk, p.name, ErrLimit)
		}
		seen[p.name] = true
		switch p.kind {
		case edmString:
			if n := utf16Len(p.value.(string)); n > maxStringUnits {
				return fmt.Errorf("property %s is %d UTF-16 units, Azure allows %d: %w", p.name, n, maxStringUnits, ErrLimit)
			}
		case edmBinary:
			if n := len(p.value.([]byte)); n > maxBinaryBytes {
				return fmt.Errorf("property %s is %d bytes, Azure allows %d: %w", p.name, n, maxBinaryBytes, ErrLimit)
			}
		case edmDateTime:
			t := p.value.(time.Time).UTC()
			if t.Year() < 1601 || t.Year() > 9999 {
				return fmt.Errorf("property %s: %s outside Azure's DateTime range: %w", p.name, t, ErrLimit)
			}
		}
	}
	if n := e.size(); n > maxEntityBytes {
		return fmt.Errorf("entity %s/%s is %d bytes as Azure counts them, limit %d: %w", e.pk, e.rk, n, maxEntityBytes, ErrLimit)
	}
	return nil
}

// validPropName: C# identifier rules restricted to ASCII, ≤ 255 chars, and
// not a system property.
func validPropName(n string) bool {
	if n == "" || len(n) > maxPropNameLen {
		return false
	}
	switch n {
	case "PartitionKey", "RowKey", "Timestamp", "ETag":
		return false
	}
	for i, r := range n {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_'
		if !letter && (i == 0 || r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// validKey is ledger.ValidKey: the key rules are the port's, so the memory
// store refuses what Azure refuses. ('/' in particular makes Azurite
// answer 500, which azcore would retry for seconds.)
func validKey(what, k string) error { return ledger.ValidKey(what, k) }

// marshal renders the entity as the JSON aztables sends, with @odata.type
// on every type JSON cannot express.
func (e *entity) marshal() ([]byte, error) {
	m := make(map[string]any, 2+2*len(e.props))
	m["PartitionKey"], m["RowKey"] = e.pk, e.rk
	for _, p := range e.props {
		switch p.kind {
		case edmString, edmInt32, edmBool:
			m[p.name] = p.value
		case edmBinary:
			m[p.name] = base64.StdEncoding.EncodeToString(p.value.([]byte))
			m[p.name+"@odata.type"] = "Edm.Binary"
		case edmDateTime:
			m[p.name] = p.value.(time.Time).UTC().Format(edmTime)
			m[p.name+"@odata.type"] = "Edm.DateTime"
		case edmInt64:
			m[p.name] = fmt.Sprint(p.value.(int64))
			m[p.name+"@odata.type"] = "Edm.Int64"
		}
	}
	return json.Marshal(m)
}

// row is a received entity.
type row map[string]any

func parseRow(b []byte) (row, error) {
	var r row
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("store: decode entity: %w", err)
	}
	return r, nil
}

func (r row) str(name string) string {
	s, _ := r[name].(string)
	return s
}

func (r row) etag() string { return r.str("odata.etag") }

func (r row) int(name string) int64 {
	switch v := r[name].(type) {
	case float64:
		return int64(v)
	case string: // Edm.Int64 arrives as a string
		var n int64
		_, _ = fmt.Sscan(v, &n)
		return n
	}
	return 0
}

func (r row) bin(name string) ([]byte, error) {
	s := r.str(name)
	if s == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("store: property %s: %w", name, err)
	}
	return b, nil
}

func (r row) time(name string) (time.Time, error) {
	s := r.str(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("store: property %s: %w", name, err)
	}
	return t.UTC(), nil
}

// truncateUnits is ledger.Truncate.
func truncateUnits(s string, n int) string { return ledger.Truncate(s, n) }

package store

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

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
		return fmt.Errorf("entity %s/%s has %d properties, Azure allows %d: %w", e.pk, e.rk, len(e.props), maxCustomProps, ledger.ErrLimit)
	}
	seen := make(map[string]bool, len(e.props))
	for _, p := range e.props {
		if !validPropName(p.name) || seen[p.name] {
			return fmt.Errorf("entity %s/%s: bad or repeated property name %q: %w", e.pk, e.rk, p.name, ledger.ErrLimit)
		}
		seen[p.name] = true
		switch p.kind {
		case edmString:
			if n := utf16Len(p.value.(string)); n > maxStringUnits {
				return fmt.Errorf("property %s is %d UTF-16 units, Azure allows %d: %w", p.name, n, maxStringUnits, ledger.ErrLimit)
			}
		case edmBinary:
			if n := len(p.value.([]byte)); n > maxBinaryBytes {
				return fmt.Errorf("property %s is %d bytes, Azure allows %d: %w", p.name, n, maxBinaryBytes, ledger.ErrLimit)
			}
		case edmDateTime:
			t := p.value.(time.Time).UTC()
			if t.Year() < 1601 || t.Year() > 9999 {
				return fmt.Errorf("property %s: %s outside Azure's DateTime range: %w", p.name, t, ledger.ErrLimit)
			}
		}
	}
	if n := e.size(); n > maxEntityBytes {
		return fmt.Errorf("entity %s/%s is %d bytes as Azure counts them, limit %d: %w", e.pk, e.rk, n, maxEntityBytes, ledger.ErrLimit)
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
// on every type JSON cannot express. It appends the JSON directly (keys
// first, then the properties in the order they were added): the map and
// reflection json.Marshal needed were most of the store's own CPU per
// commit, and aztables re-reads the object into a map anyway, so the
// order of names never reaches the wire.
func (e *entity) marshal() ([]byte, error) {
	n := 64 + len(e.pk) + len(e.rk)
	for _, p := range e.props {
		n += 2*len(p.name) + 32
		switch v := p.value.(type) {
		case string:
			n += len(v)
		case []byte:
			n += base64.StdEncoding.EncodedLen(len(v))
		}
	}
	b := make([]byte, 0, n)
	b = append(b, `{"PartitionKey":`...)
	b = appendJSONString(b, e.pk)
	b = append(b, `,"RowKey":`...)
	b = appendJSONString(b, e.rk)
	for _, p := range e.props {
		b = append(b, ',')
		b = appendJSONString(b, p.name)
		b = append(b, ':')
		var typ string
		switch p.kind {
		case edmString:
			s, ok := p.value.(string)
			if !ok {
				return nil, fmt.Errorf("property %s: %T is not a string", p.name, p.value)
			}
			b = appendJSONString(b, s)
		case edmInt32:
			v, ok := p.value.(int32)
			if !ok {
				return nil, fmt.Errorf("property %s: %T is not an int32", p.name, p.value)
			}
			b = strconv.AppendInt(b, int64(v), 10)
		case edmBool:
			v, ok := p.value.(bool)
			if !ok {
				return nil, fmt.Errorf("property %s: %T is not a bool", p.name, p.value)
			}
			b = strconv.AppendBool(b, v)
		case edmBinary:
			v, _ := p.value.([]byte)
			b = append(b, '"')
			b = base64.StdEncoding.AppendEncode(b, v)
			b = append(b, '"')
			typ = "Edm.Binary"
		case edmDateTime:
			v, ok := p.value.(time.Time)
			if !ok {
				return nil, fmt.Errorf("property %s: %T is not a time", p.name, p.value)
			}
			b = append(b, '"')
			b = v.UTC().AppendFormat(b, edmTime)
			b = append(b, '"')
			typ = "Edm.DateTime"
		case edmInt64:
			v, ok := p.value.(int64)
			if !ok {
				return nil, fmt.Errorf("property %s: %T is not an int64", p.name, p.value)
			}
			b = append(b, '"')
			b = strconv.AppendInt(b, v, 10)
			b = append(b, '"')
			typ = "Edm.Int64"
		default:
			return nil, fmt.Errorf("property %s: unknown kind %d", p.name, p.kind)
		}
		if typ != "" {
			b = append(b, ',')
			b = appendJSONString(b, p.name+"@odata.type")
			b = append(b, ':', '"')
			b = append(b, typ...)
			b = append(b, '"')
		}
	}
	return append(b, '}'), nil
}

// appendJSONString appends s as a JSON string, escaping what JSON requires
// (quote, backslash, control characters) and replacing invalid UTF-8 with
// U+FFFD, as encoding/json does.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
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

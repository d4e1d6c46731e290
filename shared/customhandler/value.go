package customhandler

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Errors returned by decoding. Check them with errors.Is.
var (
	// ErrMalformed: the envelope or a value in it does not have the
	// expected shape.
	ErrMalformed = errors.New("customhandler: malformed invocation")
	// ErrNoBinding: Data has no value for the requested binding name.
	ErrNoBinding = errors.New("customhandler: binding not in Data")
	// ErrBodyTooLarge: the request body exceeds the configured limit.
	ErrBodyTooLarge = errors.New("customhandler: request body too large")
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// isNull reports whether raw is absent or JSON null. The host omits null
// metadata, but other encoders may not.
func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// stringValue returns the string a Data or Metadata value carries. The host
// encodes strings twice ("\"abc\""); older hosts and some paths encode once,
// so a once-decoded value is unwrapped again only if it is itself a valid
// JSON string literal. A JSON number or bool is returned as its literal
// text. ok is false for an absent or null value.
//
// The tolerance has one ambiguity: a single-encoded value whose content is
// itself a quoted JSON string loses one level of quotes. The host proper
// always double-encodes, so this only matters for foreign encoders.
func stringValue(raw json.RawMessage) (s string, ok bool, err error) {
	raw = bytes.TrimSpace(raw)
	if isNull(raw) {
		return "", false, nil
	}
	switch raw[0] {
	case '"':
		var once string
		if err := json.Unmarshal(raw, &once); err != nil {
			return "", false, malformed("string value: %v", err)
		}
		if len(once) >= 2 && once[0] == '"' && once[len(once)-1] == '"' {
			var twice string
			if json.Unmarshal([]byte(once), &twice) == nil {
				return twice, true, nil
			}
		}
		return once, true, nil
	case '{', '[':
		return "", false, malformed("expected a string, got %s", kind(raw))
	}
	if !json.Valid(raw) {
		return "", false, malformed("invalid JSON value")
	}
	return string(raw), true, nil
}

// plainString reads a value inside an HTTP request object, which the host
// serialises as a JObject: strings are encoded once and are never
// unwrapped a second time.
func plainString(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if isNull(raw) {
		return "", nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", malformed("string value: %v", err)
		}
		return s, nil
	case '{', '[':
		return "", malformed("expected a string, got %s", kind(raw))
	}
	if !json.Valid(raw) {
		return "", malformed("invalid JSON value")
	}
	return string(raw), nil
}

// intValue reads an integer sent as a string ("4", the host's form), a
// double-encoded string, or a real JSON number.
func intValue(raw json.RawMessage) (n int64, ok bool, err error) {
	s, ok, err := stringValue(raw)
	if err != nil || !ok {
		return 0, ok, err
	}
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true, nil
	}
	// Tolerate 4.0 or 4e0 from encoders that treat every number as double.
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || f > math.MaxInt64 || f < math.MinInt64 {
		return 0, false, malformed("not an integer: %.40q", s)
	}
	return int64(f), true, nil
}

// timeLayouts are tried in order. The host writes DateTime values without
// a zone (they are UTC), DateTimeOffset values with "+00:00", and sys.UtcNow
// with a fraction and "Z". Go accepts a fraction after the seconds even when
// the layout has none.
var timeLayouts = [...]string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04:05Z0700",
}

// parseTime parses a host timestamp leniently; a value without a zone is
// UTC. The result is always in UTC.
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, malformed("unrecognised time %.60q", s)
}

// timeValue reads a timestamp from a (possibly double-encoded) string.
func timeValue(raw json.RawMessage) (t time.Time, ok bool, err error) {
	s, ok, err := stringValue(raw)
	if err != nil || !ok {
		return time.Time{}, ok, err
	}
	t, err = parseTime(s)
	return t, err == nil, err
}

// objectValue reads a JSON object, also when it arrives wrapped in a
// (single- or double-encoded) string, as older hosts sent some objects.
func objectValue(raw json.RawMessage) (map[string]json.RawMessage, bool, error) {
	raw = bytes.TrimSpace(raw)
	if isNull(raw) {
		return nil, false, nil
	}
	if raw[0] == '"' {
		s, _, err := stringValue(raw)
		if err != nil {
			return nil, false, err
		}
		raw = bytes.TrimSpace([]byte(s))
		if len(raw) == 0 {
			return map[string]json.RawMessage{}, true, nil
		}
	}
	if raw[0] != '{' {
		return nil, false, malformed("expected an object, got %s", kind(raw))
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, false, malformed("object: %v", err)
	}
	if m == nil {
		m = map[string]json.RawMessage{}
	}
	return m, true, nil
}

// anyValue decodes raw keeping numbers as json.Number, so large integers in
// application properties survive.
func anyValue(raw json.RawMessage) (any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, malformed("value: %v", err)
	}
	return v, nil
}

// lookup finds key in m: the exact key first, else the single key equal
// under case folding (Newtonsoft and .NET dictionaries are often
// case-insensitive). Several folded matches are ambiguous and not used.
func lookup(m map[string]json.RawMessage, key string) (json.RawMessage, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	var found json.RawMessage
	n := 0
	for k, v := range m {
		if strings.EqualFold(k, key) {
			found, n = v, n+1
		}
	}
	return found, n == 1
}

func kind(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

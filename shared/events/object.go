package events

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// object is a decoded JSON object with exact-case key lookup. encoding/json's
// struct decoding matches keys case-insensitively ("UserId" fills userId), which
// would let two spellings of one field disagree; reading a map by exact key
// and flagging near-miss spellings avoids that.
type object struct {
	path string // JSON path of this object ("" for the envelope, "data", "data.resourceData")
	m    map[string]json.RawMessage
}

func parseObject(path string, raw json.RawMessage) (object, *Rejection) {
	if k := kindOf(raw); k != "object" {
		return object{}, reject(CodeInvalidField, path, "%s must be a JSON object, got %s", nameOf(path), k)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		// precheck validated the syntax; this is a belt-and-braces answer.
		return object{}, reject(CodeMalformedJSON, path, "%s is not a valid JSON object", nameOf(path))
	}
	return object{path: path, m: m}, nil
}

func nameOf(path string) string {
	if path == "" {
		return "the event"
	}
	return path
}

func (o object) field(key string) string {
	if o.path == "" {
		return key
	}
	return o.path + "." + key
}

// kindOf names the JSON type of a raw value for error messages.
func kindOf(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
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
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

// get returns the raw value of key, treating null as absent: producers often
// write null for "not set".
func (o object) get(key string) (json.RawMessage, bool) {
	raw, ok := o.m[key]
	if !ok || kindOf(raw) == "null" {
		return nil, false
	}
	return raw, true
}

// has reports whether key is present with a non-null value.
func (o object) has(key string) bool {
	_, ok := o.get(key)
	return ok
}

// str reads an optional string. Empty strings count as absent: HR systems
// commonly send "" for "no value".
func (o object) str(key string) (string, bool, *Rejection) {
	raw, ok := o.get(key)
	if !ok {
		return "", false, nil
	}
	if k := kindOf(raw); k != "string" {
		return "", false, reject(CodeInvalidField, o.field(key), "%s must be a string, got %s", o.field(key), k)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false, reject(CodeInvalidField, o.field(key), "%s is not a valid JSON string", o.field(key))
	}
	if s == "" {
		return "", false, nil
	}
	return s, true, nil
}

// reqStr reads a required string.
func (o object) reqStr(key string) (string, *Rejection) {
	s, ok, rej := o.str(key)
	if rej != nil {
		return "", rej
	}
	if !ok {
		return "", o.missing(key)
	}
	return s, nil
}

// missing builds the missing_field rejection, pointing at a miscased
// spelling of the key when the producer sent one.
func (o object) missing(key string) *Rejection {
	if alt, ok := o.miscased(key); ok {
		return reject(CodeMissingField, o.field(key), "%s is required; found %s instead (field names are case-sensitive)", o.field(key), quote(alt))
	}
	if raw, ok := o.m[key]; ok {
		if kindOf(raw) == "null" {
			return reject(CodeMissingField, o.field(key), "%s is required but is null", o.field(key))
		}
		return reject(CodeMissingField, o.field(key), "%s is required but is empty", o.field(key))
	}
	return reject(CodeMissingField, o.field(key), "%s is required", o.field(key))
}

// integer reads an optional JSON integer: no fraction, no exponent, no
// quotes. "2555" and 2555.0 are refused so that a producer's type bug shows
// up here rather than as a silently different hold duration.
func (o object) integer(key string) (int64, bool, *Rejection) {
	raw, ok := o.get(key)
	if !ok {
		return 0, false, nil
	}
	if k := kindOf(raw); k != "number" {
		return 0, false, reject(CodeInvalidField, o.field(key), "%s must be a whole number, got %s", o.field(key), k)
	}
	n, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
	if err != nil {
		return 0, false, reject(CodeInvalidField, o.field(key), "%s must be a whole number without fraction or exponent, got %s", o.field(key), quote(string(raw)))
	}
	return n, true, nil
}

// sub reads an optional nested object.
func (o object) sub(key string) (object, bool, *Rejection) {
	raw, ok := o.get(key)
	if !ok {
		return object{}, false, nil
	}
	s, rej := parseObject(o.field(key), raw)
	return s, rej == nil, rej
}

// strList reads an optional array of strings.
func (o object) strList(key string) ([]string, bool, *Rejection) {
	raw, ok := o.get(key)
	if !ok {
		return nil, false, nil
	}
	if k := kindOf(raw); k != "array" {
		return nil, false, reject(CodeInvalidField, o.field(key), "%s must be an array of strings, got %s", o.field(key), k)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, false, reject(CodeInvalidField, o.field(key), "%s is not a valid JSON array", o.field(key))
	}
	out := make([]string, 0, len(items))
	for i, it := range items {
		f := o.field(key) + "[" + strconv.Itoa(i) + "]"
		if k := kindOf(it); k != "string" {
			return nil, false, reject(CodeInvalidField, f, "%s must be a string, got %s", f, k)
		}
		var s string
		if err := json.Unmarshal(it, &s); err != nil {
			return nil, false, reject(CodeInvalidField, f, "%s is not a valid JSON string", f)
		}
		out = append(out, s)
	}
	return out, true, nil
}

// miscased returns a key that equals key except for letter case. With several
// candidates it returns the smallest, so the reason does not depend on map order.
func (o object) miscased(key string) (string, bool) {
	var alt string
	for k := range o.m {
		if k != key && strings.EqualFold(k, key) && (alt == "" || k < alt) {
			alt = k
		}
	}
	return alt, alt != ""
}

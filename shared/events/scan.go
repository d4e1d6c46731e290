package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxDepth is the deepest JSON nesting accepted. A Graph notification is four
// levels deep; 32 leaves room for producers' extensions while stopping
// stack-exhaustion and CPU games before any full unmarshal.
const MaxDepth = 32

// DefaultMaxBytes is the body size limit when Options.MaxBytes is not set.
// Real events are under 2 KiB; Service Bus Standard allows 256 KB.
const DefaultMaxBytes = 64 << 10

// precheck runs the checks that must happen before the body is unmarshalled:
// size, UTF-8, syntax, nesting depth and duplicate keys, in that order, so
// that each hostile body is refused by the cheapest check that catches it.
func precheck(body []byte, maxBytes int) *Rejection {
	if len(body) > maxBytes {
		return reject(CodeTooLarge, "", "event body is %d bytes; the limit is %d bytes", len(body), maxBytes)
	}
	if !utf8.Valid(body) {
		return reject(CodeInvalidUTF8, "", "event body is not valid UTF-8 (first invalid byte at offset %d); send UTF-8 encoded JSON", invalidUTF8Offset(body))
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return reject(CodeMalformedJSON, "", "event body is empty; expected one CloudEvents 1.0 JSON object")
	}
	switch trimmed[0] {
	case '{':
	case '[':
		return reject(CodeMalformedJSON, "", "event body is a JSON array; holdfast takes one CloudEvent per message (structured mode), not a batch")
	default:
		return reject(CodeMalformedJSON, "", "event body is not a JSON object; expected one CloudEvents 1.0 JSON object")
	}
	return scanTokens(body)
}

func invalidUTF8Offset(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// frame is one open object or array during the token scan.
type frame struct {
	object    bool
	expectKey bool                // object: next token is a key (or '}')
	key       string              // object: key whose value is being read
	keys      map[string]struct{} // object: keys seen, for duplicate detection
	index     int                 // array: index of the next element
}

// scanTokens walks the body token by token. It refuses duplicate keys because
// parsers disagree on which copy wins (encoding/json keeps the last, others
// the first), and an event that means different things to different readers
// has no place in an audit trail.
func scanTokens(body []byte) *Rejection {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // numbers are not converted here, only scanned
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return syntaxRejection(err, dec.InputOffset())
		}
		top := len(stack) - 1
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:top]
			if len(stack) == 0 {
				break
			}
			valueDone(stack[len(stack)-1])
			continue
		}
		if top >= 0 && stack[top].object && stack[top].expectKey {
			key := tok.(string) // the decoder guarantees a string key here
			f := stack[top]
			if _, dup := f.keys[key]; dup {
				return reject(CodeDuplicateKey, jsonPath(stack, key),
					"key %s appears more than once in the same object; duplicate keys are refused because JSON parsers disagree on which one counts", quote(key))
			}
			f.keys[key] = struct{}{}
			f.key = key
			f.expectKey = false
			continue
		}
		if d, ok := tok.(json.Delim); ok { // '{' or '[' opening a value
			if len(stack) >= MaxDepth {
				return reject(CodeTooDeep, "", "JSON nesting is deeper than %d levels", MaxDepth)
			}
			f := &frame{object: d == '{'}
			if f.object {
				f.expectKey = true
				f.keys = make(map[string]struct{})
			}
			stack = append(stack, f)
			continue
		}
		if top < 0 {
			// Unreachable: precheck only calls us for bodies starting with '{'.
			return reject(CodeMalformedJSON, "", "event body is not a JSON object")
		}
		valueDone(stack[top])
	}
	// One object only: trailing bytes would be a second message smuggled in.
	if _, err := dec.Token(); err != io.EOF {
		return reject(CodeMalformedJSON, "", "unexpected data after the JSON object at byte %d; send exactly one JSON object per message", dec.InputOffset())
	}
	return nil
}

func valueDone(f *frame) {
	if f.object {
		f.expectKey = true
	} else {
		f.index++
	}
}

// jsonPath names a key inside the innermost open object, for Rejection.Field.
func jsonPath(stack []*frame, key string) string {
	var b strings.Builder
	for i, f := range stack[:len(stack)-1] {
		if f.object {
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(safeName(f.key))
		} else {
			b.WriteString("[" + strconv.Itoa(f.index) + "]")
		}
	}
	if b.Len() > 0 {
		b.WriteByte('.')
	}
	b.WriteString(safeName(key))
	return b.String()
}

func syntaxRejection(err error, offset int64) *Rejection {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		offset = se.Offset
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return reject(CodeMalformedJSON, "", "event body is not valid JSON: it ends before the object is closed (at byte %d)", offset)
	}
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "json: ")
	return reject(CodeMalformedJSON, "", "event body is not valid JSON: %s (at byte %d)", msg, offset)
}

package events

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrRejected matches every *Rejection with errors.Is.
var ErrRejected = errors.New("event rejected")

// ErrUnknownQueue is returned (not as a Rejection) when Decode is called with
// a queue it does not know: that is a wiring bug in the caller, not bad input,
// so it must not be filed as a rejected event.
var ErrUnknownQueue = errors.New("events: unknown queue")

// Rejection codes. They are stable: the engine stores them in the rejected-events
// table and admins filter and alert on them.
const (
	CodeTooLarge           = "too_large"            // body over Options.MaxBytes
	CodeInvalidUTF8        = "invalid_utf8"         // body is not UTF-8
	CodeMalformedJSON      = "malformed_json"       // not one JSON object (syntax error, empty, trailing data, array)
	CodeTooDeep            = "too_deep"             // nesting over MaxDepth
	CodeDuplicateKey       = "duplicate_key"        // same key twice in one object
	CodeEventGridSchema    = "event_grid_schema"    // Event Grid schema instead of CloudEvents 1.0
	CodeMissingField       = "missing_field"        // a required attribute or data field is absent, null or empty
	CodeInvalidField       = "invalid_field"        // wrong JSON type, bad format, inconsistent values
	CodeOutOfRange         = "out_of_range"         // a date, time or number outside its sane bounds
	CodeUnknownType        = "unknown_type"         // CloudEvents type holdfast does not know
	CodeUnsupportedType    = "unsupported_type"     // a known Microsoft Graph type holdfast does not handle (groups, lifecycle)
	CodeWrongQueue         = "wrong_queue"          // a valid type on the other queue
	CodeWrongTenant        = "wrong_tenant"         // Graph/holdfast event for another tenant than Options.TenantID
	CodeClientStateInvalid = "client_state_invalid" // Graph clientState differs from Options.ClientState
)

// Rejection is the error for bad input: it says why, in words an admin
// understands, and names the field. Reason never contains raw control
// characters (quoted values are escaped and shortened), so it is safe to log,
// store and show in alerts.
type Rejection struct {
	Reason string // what is wrong and, where possible, how to fix it
	Field  string // JSON path of the offending field ("data.upn", "type"); empty for whole-body problems
	Code   string // one of the Code* constants

	// EventID and EventType are filled when the envelope's id and type were
	// readable and well-formed, so the rejected-events table can show them.
	EventID   string
	EventType string
}

func (r *Rejection) Error() string {
	var b strings.Builder
	b.WriteString("event rejected: ")
	b.WriteString(r.Code)
	if r.Field != "" {
		b.WriteString(" (")
		b.WriteString(r.Field)
		b.WriteString(")")
	}
	b.WriteString(": ")
	b.WriteString(r.Reason)
	return b.String()
}

// Is makes errors.Is(err, ErrRejected) true for every Rejection.
func (r *Rejection) Is(target error) bool { return target == ErrRejected }

func reject(code, field, format string, args ...any) *Rejection {
	return &Rejection{Code: code, Field: field, Reason: fmt.Sprintf(format, args...)}
}

// quote renders an untrusted value for a Reason: escaped to ASCII (%+q), so
// newlines and control characters cannot forge log lines and look-alike
// letters (Cyrillic "а" for "a") show as \u0430, and shortened, so a hostile
// 60 KiB string does not end up in every alert.
func quote(s string) string {
	const max = 48
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return fmt.Sprintf("%+q…", s[:cut])
	}
	return fmt.Sprintf("%+q", s)
}

// safeName returns a key as is when it is short printable ASCII, else quoted,
// for use in Rejection.Field.
func safeName(k string) string {
	if len(k) > maxIDLen {
		return quote(k)
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < ' ' || c > '~' {
			return quote(k)
		}
	}
	return k
}

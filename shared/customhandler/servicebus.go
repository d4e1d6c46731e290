package customhandler

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
)

// BodyEncoding says how the trigger binding delivers a Service Bus body;
// it must match function.json.
type BodyEncoding int

const (
	// BodyString: no dataType. The host UTF-8-decodes the body and sends it
	// as a double-encoded JSON string.
	BodyString BodyEncoding = iota
	// BodyBinary: "dataType": "binary". The host sends the raw bytes as
	// base64. holdfast uses this: no UTF-8 mangling, no double decoding.
	BodyBinary
)

func (e BodyEncoding) String() string {
	switch e {
	case BodyString:
		return "string"
	case BodyBinary:
		return "binary"
	}
	return fmt.Sprintf("BodyEncoding(%d)", int(e))
}

// ServiceBusMessage is a Service Bus trigger value with its metadata.
type ServiceBusMessage struct {
	Body []byte
	// MessageID is empty when absent or shadowed by the body; use StableID
	// for an identity that survives that.
	MessageID string
	// DeliveryCount starts at 1 on the wire; 0 means unknown (absent or
	// shadowed).
	DeliveryCount  int
	SequenceNumber int64
	// EnqueuedTime is UTC. EnqueuedTimeUtc has no zone on the wire.
	EnqueuedTime  time.Time
	ContentType   string
	CorrelationID string
	Subject       string // Subject, or its older alias Label
	// ApplicationProperties (or the older alias UserProperties); numbers
	// are json.Number.
	ApplicationProperties map[string]any

	LockToken string
	SessionID string
	// ExpiresAt is UTC; the host sends 9999-12-31T23:59:59 for no TTL.
	ExpiresAt time.Time

	// ShadowedKeys lists system metadata keys (canonical spelling, sorted)
	// that the message body may have overwritten, and whose metadata values
	// were therefore ignored. Callers should log it. See shadowedKeys.
	ShadowedKeys []string
}

// StableID returns MessageID, or, when that is empty (absent or shadowed),
// "sha256:" and the hex SHA-256 of the body. Redeliveries carry the same
// body, so the fallback still deduplicates them; two distinct messages with
// equal bodies collapse into one, which for idempotent events is harmless.
func (m ServiceBusMessage) StableID() string {
	if m.MessageID != "" {
		return m.MessageID
	}
	sum := sha256.Sum256(m.Body)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Shadowed reports whether key (canonical spelling) is in ShadowedKeys.
func (m ServiceBusMessage) Shadowed(key string) bool {
	return slices.Contains(m.ShadowedKeys, key)
}

// serviceBusSystemKeys are the Metadata keys the Service Bus extension 5.x
// writes (ServiceBusTriggerBindingStrategy.AddBindingData), plus the host's
// sys. It is a lookup table, never modified.
var serviceBusSystemKeys = [...]string{
	"ApplicationProperties", "Client", "ContentType", "CorrelationId",
	"DeadLetterSource", "DeliveryCount", "EnqueuedTime", "EnqueuedTimeUtc",
	"ExpiresAt", "ExpiresAtUtc", "Label", "LockToken", "MessageActions",
	"MessageId", "MessageReceiver", "MessageSession", "PartitionKey",
	"ReceiveActions", "ReplyTo", "ReplyToSessionId", "SequenceNumber",
	"SessionActions", "SessionId", "Subject", "To",
	"TransactionPartitionKey", "UserProperties", "sys",
}

// shadowedKeys returns the system keys a body may have overwritten.
//
// The host merges the top-level properties of a JSON-object body into the
// binding data that becomes Metadata (Utility.ApplyBindingData, which does
// bindingData[key] = value, so a body key overwrites a system key). Whether
// the dictionary ignores case is unconfirmed, and so is whether binary
// (dataType binary) bodies escape the merge, so the worst case is assumed
// for both encodings: any top-level property whose name equals a system key
// ignoring case makes that key untrusted. Array-valued properties are not
// merged by the host but are counted anyway; being wrong there only costs a
// metadata value, never trusts a forged one.
//
// The host parses with Newtonsoft (JObject.Parse), which accepts what
// encoding/json rejects (single quotes, comments, unquoted names, trailing
// commas). A body that looks like an object but does not parse here is
// therefore scanned textually: every system key appearing as a whole word
// is untrusted, and if the body contains a \u escape (which could spell a
// key) every system key is.
func shadowedKeys(body []byte) []string {
	trimmed := bytes.TrimLeftFunc(body, func(r rune) bool { return isDotNetSpace(r) || r == '\ufeff' })
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil
	}
	var out []string
	var obj map[string]json.RawMessage
	if json.Unmarshal(trimmed, &obj) == nil {
		for _, sys := range serviceBusSystemKeys {
			for k := range obj {
				if strings.EqualFold(k, sys) {
					out = append(out, sys)
					break
				}
			}
		}
		return out
	}
	if bytes.Contains(trimmed, []byte(`\u`)) {
		return slices.Clone(serviceBusSystemKeys[:])
	}
	folded := bytes.Map(foldRune, trimmed)
	for _, sys := range serviceBusSystemKeys {
		if containsWord(folded, bytes.Map(foldRune, []byte(sys))) {
			out = append(out, sys)
		}
	}
	return out
}

// foldRune maps r to the smallest rune of its case-folding orbit, so that
// texts equal under strings.EqualFold (and .NET's OrdinalIgnoreCase, e.g.
// 'ſ' and 's') map to the same bytes.
func foldRune(r rune) rune {
	m := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		m = min(m, f)
	}
	return m
}

// containsWord reports whether word occurs in s not adjacent to an
// identifier character.
func containsWord(s, word []byte) bool {
	for i := 0; ; {
		j := bytes.Index(s[i:], word)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(word)
		if (start == 0 || !isIdent(s[start-1])) && (end == len(s) || !isIdent(s[end])) {
			return true
		}
		i = start + 1
	}
}

// isDotNetSpace approximates char.IsWhiteSpace, which .NET's string.Trim
// uses before the host checks for a leading '{'.
func isDotNetSpace(r rune) bool { return unicode.IsSpace(r) }

func isIdent(c byte) bool {
	return c == '_' || c == '$' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c >= 0x80
}

// ServiceBusMessage decodes the trigger value of binding and the message
// metadata. enc must match the binding's dataType in function.json.
//
// Body errors are fatal. A malformed metadata value is reported as an error
// (joined, wrapping ErrMalformed) with the rest of the message still
// filled in, since it means the wire format changed. Metadata keys the
// body may have shadowed are not read at all (see ShadowedKeys); where an
// alias exists (EnqueuedTime, Label, UserProperties, ExpiresAt) the
// unshadowed one is used instead.
func (inv *Invocation) ServiceBusMessage(binding string, enc BodyEncoding) (ServiceBusMessage, error) {
	raw, err := inv.binding(binding)
	if err != nil {
		return ServiceBusMessage{}, err
	}
	body, err := decodeServiceBusBody(raw, enc)
	if err != nil {
		return ServiceBusMessage{}, fmt.Errorf("binding %q: %w", binding, err)
	}
	m := ServiceBusMessage{Body: body, ShadowedKeys: shadowedKeys(body)}

	// get returns the first of keys that is present and not shadowed.
	get := func(keys ...string) (string, json.RawMessage, bool) {
		for _, k := range keys {
			if m.Shadowed(k) {
				continue
			}
			if v, ok := lookup(inv.Metadata, k); ok && !isNull(v) {
				return k, v, true
			}
		}
		return "", nil, false
	}
	var errs []error
	str := func(dst *string, keys ...string) {
		if k, v, ok := get(keys...); ok {
			s, _, err := stringValue(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("metadata %s: %w", k, err))
			}
			*dst = s
		}
	}
	tm := func(dst *time.Time, keys ...string) {
		if k, v, ok := get(keys...); ok {
			t, _, err := timeValue(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("metadata %s: %w", k, err))
			}
			*dst = t
		}
	}
	str(&m.MessageID, "MessageId")
	str(&m.ContentType, "ContentType")
	str(&m.CorrelationID, "CorrelationId")
	str(&m.Subject, "Subject", "Label")
	str(&m.LockToken, "LockToken")
	str(&m.SessionID, "SessionId")
	tm(&m.EnqueuedTime, "EnqueuedTimeUtc", "EnqueuedTime")
	tm(&m.ExpiresAt, "ExpiresAtUtc", "ExpiresAt")
	if k, v, ok := get("DeliveryCount"); ok {
		n, _, err := intValue(v)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("metadata %s: %w", k, err))
		case n < 0 || n > 1<<31-1:
			errs = append(errs, fmt.Errorf("metadata %s: %w", k, malformed("out of range: %d", n)))
		default:
			m.DeliveryCount = int(n)
		}
	}
	if k, v, ok := get("SequenceNumber"); ok {
		n, _, err := intValue(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("metadata %s: %w", k, err))
		}
		m.SequenceNumber = n
	}
	if k, v, ok := get("ApplicationProperties", "UserProperties"); ok {
		props, err := applicationProperties(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("metadata %s: %w", k, err))
		}
		m.ApplicationProperties = props
	}
	return m, errors.Join(errs...)
}

func applicationProperties(raw json.RawMessage) (map[string]any, error) {
	obj, ok, err := objectValue(raw)
	if err != nil || !ok {
		return nil, err
	}
	props := make(map[string]any, len(obj))
	for k, v := range obj {
		if props[k], err = anyValue(v); err != nil {
			return nil, err
		}
	}
	return props, nil
}

func decodeServiceBusBody(raw json.RawMessage, enc BodyEncoding) ([]byte, error) {
	raw = json.RawMessage(bytes.TrimSpace(raw))
	switch enc {
	case BodyBinary:
		if len(raw) == 0 || raw[0] != '"' {
			return nil, malformed("binary body is %s, not a base64 string", kind(raw))
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, malformed("binary body: %v", err)
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err == nil {
			return b, nil
		}
		// Tolerate base64 that was string-encoded once more.
		var inner string
		if json.Unmarshal([]byte(s), &inner) == nil {
			if b, err2 := base64.StdEncoding.DecodeString(inner); err2 == nil {
				return b, nil
			}
		}
		return nil, malformed("binary body is not base64 (is \"dataType\": \"binary\" set in function.json?): %v", err)
	case BodyString:
		if len(raw) > 0 && (raw[0] == '{' || raw[0] == '[') {
			// Some paths hand over a parsed JSON body; keep its text.
			if !json.Valid(raw) {
				return nil, malformed("body: invalid JSON")
			}
			return slices.Clone(raw), nil
		}
		s, ok, err := stringValue(raw)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, nil
		}
		return []byte(s), nil
	}
	return nil, fmt.Errorf("customhandler: unknown body encoding %v", enc)
}

package customhandler

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Headers the host sets on every invocation request.
const (
	HeaderInvocationID = "X-Azure-Functions-InvocationId"
	HeaderHostVersion  = "X-Azure-Functions-HostVersion"
	HeaderTraceParent  = "traceparent"
)

// DefaultMaxBody bounds an envelope when no limit is configured. A
// Standard-tier Service Bus message is at most 256 KB and the envelope
// roughly doubles a string body, so this leaves ample room while keeping a
// runaway request from exhausting memory.
const DefaultMaxBody int64 = 64 << 20

// Invocation is one decoded POST /{FunctionName}.
type Invocation struct {
	Function     string // from the URL path, case as written
	InvocationID string // X-Azure-Functions-InvocationId
	TraceParent  string // traceparent header (W3C), may be empty
	Data         map[string]json.RawMessage
	Metadata     map[string]json.RawMessage
}

// DecodeInvocation reads the envelope the host POSTs to /{FunctionName}.
// maxBody <= 0 means DefaultMaxBody; a larger body gives ErrBodyTooLarge.
// The host sends chunked bodies without Content-Length, so the limit is
// enforced while reading.
func DecodeInvocation(r *http.Request, maxBody int64) (*Invocation, error) {
	if maxBody <= 0 {
		maxBody = DefaultMaxBody
	}
	if r.ContentLength > maxBody {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrBodyTooLarge, r.ContentLength, maxBody)
	}
	var body []byte
	if r.Body != nil {
		var err error
		body, err = io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil {
			return nil, fmt.Errorf("customhandler: reading body: %w", err)
		}
	}
	if int64(len(body)) > maxBody {
		return nil, fmt.Errorf("%w: limit %d", ErrBodyTooLarge, maxBody)
	}
	inv, err := DecodeEnvelope(strings.TrimPrefix(r.URL.Path, "/"), body)
	if err != nil {
		return nil, err
	}
	inv.InvocationID = r.Header.Get(HeaderInvocationID)
	inv.TraceParent = r.Header.Get(HeaderTraceParent)
	return inv, nil
}

// DecodeEnvelope parses an envelope body for function. It is
// DecodeInvocation without the HTTP request, for tests and tools that hold
// a captured envelope.
func DecodeEnvelope(function string, body []byte) (*Invocation, error) {
	if function == "" {
		return nil, malformed("no function name in path")
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, malformed("envelope is not a JSON object")
	}
	var env struct {
		Data     json.RawMessage
		Metadata json.RawMessage
	}
	if err := json.Unmarshal(trimmed, &env); err != nil {
		return nil, malformed("envelope: %v", err)
	}
	inv := &Invocation{Function: function}
	var err error
	if inv.Data, err = envelopeObject("Data", env.Data); err != nil {
		return nil, err
	}
	if inv.Metadata, err = envelopeObject("Metadata", env.Metadata); err != nil {
		return nil, err
	}
	return inv, nil
}

func envelopeObject(name string, raw json.RawMessage) (map[string]json.RawMessage, error) {
	m := map[string]json.RawMessage{}
	if isNull(raw) {
		return m, nil
	}
	if bytes.TrimSpace(raw)[0] != '{' {
		return nil, malformed("%s is %s, not an object", name, kind(bytes.TrimSpace(raw)))
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, malformed("%s: %v", name, err)
	}
	return m, nil
}

// binding returns Data[name], tolerating a case difference.
func (inv *Invocation) binding(name string) (json.RawMessage, error) {
	raw, ok := lookup(inv.Data, name)
	if !ok {
		return nil, fmt.Errorf("%w: %q (function %s)", ErrNoBinding, name, inv.Function)
	}
	return raw, nil
}

// MetadataString reads a string metadata value (double-encoded on the
// wire). ok is false when the key is absent or null.
func (inv *Invocation) MetadataString(key string) (s string, ok bool, err error) {
	raw, found := lookup(inv.Metadata, key)
	if !found {
		return "", false, nil
	}
	return stringValue(raw)
}

package customhandler

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// DefaultHostVersion is the host version the Client claims.
const DefaultHostVersion = "4.1037.0.0"

// maxResponse bounds what the Client reads back from a handler.
const maxResponse = 64 << 20

// Client posts invocation envelopes to a custom handler the way the host
// does, and reads the answer with the host's rules.
type Client struct {
	BaseURL string       // e.g. http://127.0.0.1:7071
	HTTP    *http.Client // nil means http.DefaultClient
	// HostVersion for X-Azure-Functions-HostVersion and User-Agent; empty
	// means DefaultHostVersion.
	HostVersion string
}

// InvocationError is a non-2xx answer. The host treats it as a failed
// invocation: Outputs and Logs are discarded and a Service Bus message is
// abandoned.
type InvocationError struct {
	Status int
	Body   string
}

func (e *InvocationError) Error() string {
	body := e.Body
	if len(body) > 300 {
		body = body[:300] + "…"
	}
	return fmt.Sprintf("customhandler: invocation failed with HTTP %d: %s", e.Status, body)
}

// ErrBadResponse: a 2xx answer the host would reject (not application/json,
// or not valid JSON), which also fails the invocation.
var ErrBadResponse = errors.New("customhandler: handler response unusable")

// InvokeOptions sets the per-invocation headers; empty fields are
// generated.
type InvokeOptions struct {
	InvocationID string
	TraceParent  string
}

// Invoke posts envelope to /{function} with fresh invocation headers.
func (c *Client) Invoke(ctx context.Context, function string, envelope []byte) (Response, error) {
	return c.InvokeWith(ctx, function, envelope, InvokeOptions{})
}

// InvokeWith posts envelope to /{function}. Like the host it sends
// X-Azure-Functions-InvocationId, X-Azure-Functions-HostVersion,
// User-Agent Azure-Functions-Host/<version>, traceparent and
// application/json; charset=utf-8, with a chunked body (no
// Content-Length). Non-2xx gives *InvocationError; a 2xx answer that is
// not JSON gives an error wrapping ErrBadResponse.
func (c *Client) InvokeWith(ctx context.Context, function string, envelope []byte, o InvokeOptions) (Response, error) {
	if o.InvocationID == "" {
		o.InvocationID = randomGUID()
	}
	if o.TraceParent == "" {
		o.TraceParent = "00-" + randomHex(16) + "-" + randomHex(8) + "-00"
	}
	version := c.HostVersion
	if version == "" {
		version = DefaultHostVersion
	}
	u := strings.TrimSuffix(c.BaseURL, "/") + "/" + url.PathEscape(function)
	// A reader without a known length makes net/http send chunked, as the
	// host does.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, io.NopCloser(bytes.NewReader(envelope)))
	if err != nil {
		return Response{}, fmt.Errorf("customhandler: %w", err)
	}
	req.ContentLength = -1
	req.Header.Set(HeaderInvocationID, o.InvocationID)
	req.Header.Set(HeaderHostVersion, version)
	req.Header.Set("User-Agent", "Azure-Functions-Host/"+version)
	req.Header.Set(HeaderTraceParent, o.TraceParent)
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Response{}, fmt.Errorf("customhandler: invoking %s: %w", function, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return Response{}, fmt.Errorf("customhandler: reading %s response: %w", function, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return Response{}, &InvocationError{Status: resp.StatusCode, Body: string(body)}
	}
	return DecodeResponse(resp.Header.Get("Content-Type"), body)
}

// DecodeResponse applies the host's rules to a 2xx answer: the media type
// must be application/json and the body valid JSON. Property names match
// case-insensitively, as with Newtonsoft; numbers stay json.Number.
func DecodeResponse(contentType string, body []byte) (Response, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/json" {
		return Response{}, fmt.Errorf("%w: media type %q", ErrBadResponse, contentType)
	}
	var r Response
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&r); err != nil {
		return Response{}, fmt.Errorf("%w: %v", ErrBadResponse, err)
	}
	if _, err := d.Token(); err != io.EOF {
		return Response{}, fmt.Errorf("%w: trailing data after JSON", ErrBadResponse)
	}
	return r, nil
}

// ErrNoReturnValue: the response carried no ReturnValue.
var ErrNoReturnValue = errors.New("customhandler: the response has no ReturnValue")

// DecodeReturnValue reads the response's ReturnValue into v (a JSON
// round trip of the decoded value; numbers keep their precision).
func (r Response) DecodeReturnValue(v any) error {
	if r.ReturnValue == nil {
		return ErrNoReturnValue
	}
	b, err := json.Marshal(r.ReturnValue)
	if err != nil {
		return fmt.Errorf("customhandler: ReturnValue: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("customhandler: ReturnValue: %w", err)
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

func randomGUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

package customhandler

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"
)

// HTTPRequest is an HTTP trigger value in envelope (non-forwarded) mode.
type HTTPRequest struct {
	URL     string
	Method  string
	Query   map[string]string
	Headers http.Header // keys canonicalised, so Get works
	Params  map[string]string
	Body    []byte
	// Identities are the ClaimsIdentity objects the host attaches, e.g.
	// {"AuthenticationType":"WebJobsAuthLevel","IsAuthenticated":true,...}.
	Identities []json.RawMessage
}

// HTTPOutput is the value of an HTTP output binding in Response.Outputs.
type HTTPOutput struct {
	StatusCode int               `json:"statusCode"`
	Body       string            `json:"body"`
	Headers    map[string]string `json:"headers"`
}

// binaryContentType reports whether the host sends a body of this type as
// base64 rather than as text (HttpRequestExtensions.GetRequestAsJObject).
func binaryContentType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(strings.SplitN(ct, ";", 2)[0]))
	}
	return mt == "application/octet-stream" || strings.HasPrefix(mt, "multipart/")
}

// HTTPRequest decodes the HTTP trigger value of binding. It accepts Query
// as an object or as the pre-#6606 string form ("{}"), header values as
// arrays or single strings, and a Body that is text, base64 (for
// octet-stream and multipart Content-Types), or a parsed JSON value.
func (inv *Invocation) HTTPRequest(binding string) (HTTPRequest, error) {
	raw, err := inv.binding(binding)
	if err != nil {
		return HTTPRequest{}, err
	}
	obj, ok, err := objectValue(raw)
	if err != nil {
		return HTTPRequest{}, fmt.Errorf("binding %q: %w", binding, err)
	}
	if !ok {
		return HTTPRequest{}, fmt.Errorf("binding %q: %w", binding, malformed("request is null"))
	}
	field := func(k string) json.RawMessage { v, _ := lookup(obj, k); return v }
	var req HTTPRequest
	if req.URL, err = plainString(field("Url")); err != nil {
		return HTTPRequest{}, fmt.Errorf("Url: %w", err)
	}
	if req.Method, err = plainString(field("Method")); err != nil {
		return HTTPRequest{}, fmt.Errorf("Method: %w", err)
	}
	if req.Query, err = stringMap(field("Query")); err != nil {
		return HTTPRequest{}, fmt.Errorf("Query: %w", err)
	}
	if req.Params, err = stringMap(field("Params")); err != nil {
		return HTTPRequest{}, fmt.Errorf("Params: %w", err)
	}
	if req.Headers, err = headers(field("Headers")); err != nil {
		return HTTPRequest{}, fmt.Errorf("Headers: %w", err)
	}
	if ids := field("Identities"); !isNull(ids) {
		if err := json.Unmarshal(ids, &req.Identities); err != nil {
			return HTTPRequest{}, fmt.Errorf("Identities: %w", malformed("%v", err))
		}
	}
	if req.Body, err = httpBody(field("Body"), req.Headers.Get("Content-Type")); err != nil {
		return HTTPRequest{}, fmt.Errorf("Body: %w", err)
	}
	return req, nil
}

// stringMap reads an object of strings; the old host sent it as a string
// holding the JSON object. Non-string values keep their literal text.
func stringMap(raw json.RawMessage) (map[string]string, error) {
	obj, ok, err := objectValue(raw)
	if err != nil || !ok {
		return map[string]string{}, err
	}
	out := make(map[string]string, len(obj))
	for k, v := range obj {
		if out[k], err = plainString(v); err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
	}
	return out, nil
}

func headers(raw json.RawMessage) (http.Header, error) {
	obj, ok, err := objectValue(raw)
	h := http.Header{}
	if err != nil || !ok {
		return h, err
	}
	for k, v := range obj {
		name := http.CanonicalHeaderKey(k)
		v = bytes.TrimSpace(v)
		if len(v) > 0 && v[0] == '[' {
			var vals []json.RawMessage
			if err := json.Unmarshal(v, &vals); err != nil {
				return nil, malformed("%s: %v", k, err)
			}
			for _, e := range vals {
				s, err := plainString(e)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", k, err)
				}
				h[name] = append(h[name], s)
			}
			continue
		}
		s, err := plainString(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		h[name] = append(h[name], s)
	}
	return h, nil
}

func httpBody(raw json.RawMessage, contentType string) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if isNull(raw) {
		return nil, nil
	}
	if raw[0] != '"' {
		// Some hosts hand over a JSON body already parsed.
		if !json.Valid(raw) {
			return nil, malformed("invalid JSON")
		}
		return bytes.Clone(raw), nil
	}
	s, err := plainString(raw)
	if err != nil {
		return nil, err
	}
	if binaryContentType(contentType) {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, malformed("%s body is not base64: %v", contentType, err)
		}
		return b, nil
	}
	return []byte(s), nil
}

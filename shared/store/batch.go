package store

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
)

// innerResponse is one operation's answer inside a transaction response.
type innerResponse struct {
	status int
	etag   string
	code   string // odata.error code of a failed operation
	index  int    // failing operation's index from the error message, or -1
}

// parseBatchResponse reads the multipart/mixed body of an entity-group
// transaction: a batch part holding a changeset whose parts are HTTP
// responses, one per operation on success, one for the failing operation
// on failure. A failure's message starts with the operation's index
// ("1:The specified entity already exists."), on Azure and Azurite alike.
func parseBatchResponse(body []byte) ([]innerResponse, error) {
	first, _, _ := bytes.Cut(body, []byte("\n"))
	first = bytes.TrimRight(first, "\r")
	if !bytes.HasPrefix(first, []byte("--")) {
		return nil, errors.New("store: transaction response is not multipart")
	}
	outer, err := multipart.NewReader(bytes.NewReader(body), string(first[2:])).NextPart()
	if err != nil {
		return nil, fmt.Errorf("store: transaction response: %w", err)
	}
	_, params, err := mime.ParseMediaType(outer.Header.Get("Content-Type"))
	if err != nil || params["boundary"] == "" {
		return nil, fmt.Errorf("store: transaction response changeset: no boundary (%v)", err)
	}
	changeset, err := io.ReadAll(outer)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("store: transaction response changeset: %w", err)
	}
	mr := multipart.NewReader(bytes.NewReader(changeset), params["boundary"])
	var out []innerResponse
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("store: transaction response part: %w", err)
		}
		raw, err := io.ReadAll(p)
		if err != nil {
			return out, fmt.Errorf("store: transaction response part: %w", err)
		}
		// A successful operation's answer is a status line and headers
		// (the ETag is all the store reads from it): read those in place
		// instead of building an http.Response per operation.
		if status, etag, ok := successHead(raw); ok {
			out = append(out, innerResponse{status: status, etag: etag, index: -1})
			continue
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
		if err != nil {
			return out, fmt.Errorf("store: transaction inner response: %w", err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		ir := innerResponse{status: resp.StatusCode, etag: resp.Header.Get("ETag"), index: -1}
		if resp.StatusCode >= 400 {
			ir.code, ir.index = odataError(b)
		}
		out = append(out, ir)
	}
}

// successHead reads the status and ETag of an inner response whose status
// line says 1xx–3xx. ok is false for anything else (a failure, whose body
// the caller needs, or a head it cannot read), which then goes through
// http.ReadResponse.
func successHead(raw []byte) (status int, etag string, ok bool) {
	line, rest, _ := bytes.Cut(raw, []byte("\n"))
	proto, code, _ := bytes.Cut(bytes.TrimRight(line, "\r"), []byte(" "))
	if !bytes.HasPrefix(proto, []byte("HTTP/1.")) || len(code) < 3 {
		return 0, "", false
	}
	status, err := strconv.Atoi(string(code[:3]))
	if err != nil || status < 100 || status >= 400 {
		return 0, "", false
	}
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 {
			return status, etag, true // end of the headers
		}
		name, value, found := bytes.Cut(line, []byte(":"))
		if !found {
			return 0, "", false
		}
		if etag == "" && strings.EqualFold(string(bytes.TrimSpace(name)), "ETag") {
			etag = string(bytes.TrimSpace(value))
		}
	}
	return status, etag, true
}

// odataError extracts the code and the "<index>:" prefix of the message.
func odataError(b []byte) (string, int) {
	var e struct {
		Err struct {
			Code    string `json:"code"`
			Message struct {
				Value string `json:"value"`
			} `json:"message"`
		} `json:"odata.error"`
	}
	if json.Unmarshal(b, &e) != nil {
		return "", -1
	}
	idx := -1
	if head, _, ok := strings.Cut(e.Err.Message.Value, ":"); ok {
		if n, err := strconv.Atoi(head); err == nil && n >= 0 {
			idx = n
		}
	}
	return e.Err.Code, idx
}

package graph

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	abs "github.com/microsoft/kiota-abstractions-go"
)

// RawAnswer is a Graph answer as it arrived: what `holdfast probe` compares
// with the contract shapes, before any SDK model hides a renamed field or
// a changed type.
type RawAnswer struct {
	Status int
	Header http.Header
	Body   []byte
}

// ReadRaw sends GET {base}/{path}?{query} through the same adapter,
// credential and retry pipeline as every other call and returns the answer
// untouched (any status). It only ever sends GET, so it cannot change the
// tenant. path is relative to the base URL, e.g. "users" or
// "directory/deletedItems/microsoft.graph.user"; an absolute nextLink of
// the same host is accepted too.
//
// The paths holdfast probe reads:
//
// Graph: GET /users
// Graph: GET /users/{id}
// Graph: GET /users/{id}/licenseDetails
// Graph: GET /directory/deletedItems/microsoft.graph.user
// Graph: GET /directory/deletedItems/{id}/microsoft.graph.user
// Graph: GET /subscribedSkus
// Graph: GET /subscriptions
// Graph: GET /users/delta
func (c *Client) ReadRaw(ctx context.Context, path string, query url.Values) (RawAnswer, error) {
	u, err := c.rawURL(path, query)
	if err != nil {
		return RawAnswer{}, err
	}
	ri := abs.NewRequestInformation()
	ri.Method = abs.GET
	ri.SetUri(*u)
	ri.Headers.TryAdd("Accept", "application/json")
	var out RawAnswer
	var readErr error
	opt := abs.NewRequestHandlerOption()
	opt.SetResponseHandler(func(resp any, _ abs.ErrorMappings) (any, error) {
		r, ok := resp.(*http.Response)
		if !ok || r == nil {
			return nil, errors.New("no HTTP response")
		}
		defer r.Body.Close()
		out.Status, out.Header = r.StatusCode, r.Header.Clone()
		out.Body, readErr = io.ReadAll(io.LimitReader(r.Body, 16<<20))
		return nil, nil
	})
	ri.AddRequestOptions([]abs.RequestOption{opt})
	if _, err := c.adapter.SendPrimitive(ctx, ri, "[]byte", nil); err != nil {
		return RawAnswer{}, fmt.Errorf("graph: GET %s: %w", u.Path, err)
	}
	if readErr != nil {
		return RawAnswer{}, fmt.Errorf("graph: GET %s: reading the answer: %w", u.Path, readErr)
	}
	return out, nil
}

func (c *Client) rawURL(path string, query url.Values) (*url.URL, error) {
	if strings.HasPrefix(path, "https://") || strings.HasPrefix(path, "http://") {
		u, err := url.Parse(path)
		if err != nil || !strings.EqualFold(u.Host, c.baseURL.Host) {
			return nil, fmt.Errorf("graph: refusing a link to another host: %q", path)
		}
		return u, nil
	}
	u := *c.baseURL
	u.Path = strings.TrimRight(u.Path, "/") + "/" + strings.TrimLeft(path, "/")
	u.RawQuery = query.Encode()
	return &u, nil
}

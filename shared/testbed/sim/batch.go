package sim

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Area batch: Graph JSON batching (POST /v1.0/$batch): up to 20 inner
// requests, each routed, throttled and answered like a top-level one.

const maxBatch = 20

func (s *Sim) gBatch(ctx context.Context, c *gctx) gresp {
	var body struct {
		Requests []struct {
			ID        string            `json:"id"`
			Method    string            `json:"method"`
			URL       string            `json:"url"`
			Headers   map[string]string `json:"headers"`
			Body      json.RawMessage   `json:"body"`
			DependsOn []string          `json:"dependsOn"`
		} `json:"requests"`
	}
	if err := json.Unmarshal(c.body, &body); err != nil || body.Requests == nil {
		return graphErr(400, "BadRequest", "Invalid batch payload format.")
	}
	if len(body.Requests) > maxBatch {
		return graphErr(400, "BadRequest", "Number of requests in batch is limited to 20.")
	}
	seen := map[string]int{}
	for _, r := range body.Requests {
		if r.ID == "" || r.Method == "" || r.URL == "" {
			return graphErr(400, "BadRequest", "Invalid batch payload format.")
		}
		if _, dup := seen[r.ID]; dup {
			return graphErr(400, "BadRequest", "Batch request contains duplicate id '"+r.ID+"'.")
		}
		seen[r.ID] = 0
		for _, d := range r.DependsOn {
			if _, ok := seen[d]; !ok {
				return graphErr(400, "BadRequest", "Request '"+r.ID+"' depends on an unknown or later request '"+d+"'.")
			}
		}
	}
	status := map[string]int{}
	var out []any
	for _, r := range body.Requests {
		failedDep := ""
		for _, d := range r.DependsOn {
			if status[d] >= 400 {
				failedDep = d
			}
		}
		var res gresp
		switch {
		case failedDep != "":
			res = graphErr(424, "BadRequest", "Failed dependency: request '"+failedDep+"' failed.")
		case strings.Contains(r.URL, "://"):
			res = graphErr(400, "BadRequest", "Batch request URLs must be relative.")
		default:
			u, err := url.Parse("/" + strings.TrimPrefix(r.URL, "/"))
			if err != nil {
				res = graphErr(400, "BadRequest", "Invalid request URL.")
				break
			}
			h := http.Header{}
			for k, v := range r.Headers {
				h.Set(k, v)
			}
			if len(r.Body) > 0 && h.Get("Content-Type") == "" {
				res = graphErr(400, "BadRequest", "Content-Type header is required when a body is present.")
				break
			}
			inner := &gctx{method: strings.ToUpper(r.Method), query: u.Query(), header: h, body: r.Body, base: c.base, path: u.EscapedPath()}
			if inner.path == "/$batch" {
				res = graphErr(400, "BadRequest", "Nested batch requests are not supported.")
				break
			}
			res = s.graphDispatch(ctx, inner)
		}
		status[r.ID] = res.status
		item := map[string]any{"id": r.ID, "status": res.status}
		hdr := map[string]string{}
		if res.retryAfter > 0 {
			hdr["Retry-After"] = strconv.Itoa(res.retryAfter)
		}
		if res.body != nil {
			s.mu.Lock()
			rid := s.newGUID()
			s.mu.Unlock()
			addInnerError(res.body, rid, rid, s.now())
			hdr["Content-Type"] = "application/json"
			item["body"] = res.body
		}
		item["headers"] = hdr
		out = append(out, item)
	}
	return gresp{status: 200, body: map[string]any{"responses": out}}
}

package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Area wire (Graph): routing, $select, paging and the Graph error shape.

// maxBody bounds request bodies; Graph and Exchange requests are small.
const maxBody = 4 << 20

// gctx is one Graph request, possibly an inner $batch request.
type gctx struct {
	method string
	segs   []string
	query  url.Values
	header http.Header
	body   []byte
	base   string // scheme://host/v1.0
	path   string // below /v1.0, escaped
}

// gresp is a Graph answer.
type gresp struct {
	status     int
	body       any // nil: no body
	retryAfter int
}

func graphErr(status int, code, msg string) gresp {
	return gresp{status: status, body: map[string]any{"error": map[string]any{"code": code, "message": msg}}}
}

func notFound(id string) gresp {
	return graphErr(404, "Request_ResourceNotFound",
		fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", id))
}

func badRequest(msg string) gresp { return graphErr(400, "Request_BadRequest", msg) }

type graphHandler func(*Sim, *gctx) gresp

// routeGraph maps a request to its operation name and handler.
func routeGraph(method string, segs []string) (string, graphHandler, gresp) {
	isCast := func(s string) bool { return s == "microsoft.graph.user" || s == "graph.user" }
	type route struct {
		op string
		h  graphHandler
	}
	var routes map[string]route
	isDelta := func(s string) bool { return s == "delta" || s == "delta()" || s == "microsoft.graph.delta()" }
	switch {
	case len(segs) == 2 && segs[0] == "users" && isDelta(segs[1]):
		routes = map[string]route{"GET": {"usersDelta", (*Sim).gUsersDelta}}
	case len(segs) == 1 && segs[0] == "subscriptions":
		routes = map[string]route{"GET": {"listSubscriptions", (*Sim).gListSubscriptions}, "POST": {"createSubscription", (*Sim).gCreateSubscription}}
	case len(segs) == 2 && segs[0] == "subscriptions":
		routes = map[string]route{"GET": {"getSubscription", (*Sim).gGetSubscription}, "PATCH": {"renewSubscription", (*Sim).gPatchSubscription},
			"DELETE": {"deleteSubscription", (*Sim).gDeleteSubscription}}
	case len(segs) == 3 && segs[0] == "subscriptions" && segs[2] == "reauthorize":
		routes = map[string]route{"POST": {"reauthorizeSubscription", (*Sim).gReauthorizeSubscription}}
	case len(segs) == 1 && segs[0] == "users":
		routes = map[string]route{"GET": {"listUsers", (*Sim).gListUsers}}
	case len(segs) == 2 && segs[0] == "users":
		routes = map[string]route{"GET": {"getUser", (*Sim).gGetUser}, "PATCH": {"patchUser", (*Sim).gPatchUser}, "DELETE": {"deleteUser", (*Sim).gDeleteUser}}
	case len(segs) == 3 && segs[0] == "users" && segs[2] == "assignLicense":
		routes = map[string]route{"POST": {"assignLicense", (*Sim).gAssignLicense}}
	case len(segs) == 3 && segs[0] == "users" && segs[2] == "licenseDetails":
		routes = map[string]route{"GET": {"licenseDetails", (*Sim).gLicenseDetails}}
	case len(segs) == 3 && segs[0] == "users" && segs[2] == "sendMail":
		routes = map[string]route{"POST": {"sendMail", (*Sim).gSendMail}}
	case len(segs) == 3 && segs[0] == "directory" && segs[1] == "deletedItems" && isCast(segs[2]):
		routes = map[string]route{"GET": {"listDeletedUsers", (*Sim).gListDeleted}}
	case len(segs) == 3 && segs[0] == "directory" && segs[1] == "deletedItems":
		routes = map[string]route{"GET": {"getDeletedUser", (*Sim).gGetDeleted}, "DELETE": {"purgeDeletedUser", (*Sim).gPurgeDeleted}}
	case len(segs) == 4 && segs[0] == "directory" && segs[1] == "deletedItems" && isCast(segs[3]):
		routes = map[string]route{"GET": {"getDeletedUser", (*Sim).gGetDeleted}}
	case len(segs) == 4 && segs[0] == "directory" && segs[1] == "deletedItems" && segs[3] == "restore":
		routes = map[string]route{"POST": {"restoreDeletedUser", (*Sim).gRestoreDeleted}}
	case len(segs) == 1 && segs[0] == "subscribedSkus":
		routes = map[string]route{"GET": {"subscribedSkus", (*Sim).gSubscribedSKUs}}
	case len(segs) == 1 && segs[0] == "$batch":
		routes = map[string]route{"POST": {"batch", nil}}
	default:
		seg := ""
		if len(segs) > 0 {
			seg = segs[len(segs)-1]
		}
		return "", nil, graphErr(400, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", seg))
	}
	rt, ok := routes[method]
	if !ok {
		return "", nil, graphErr(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
	}
	return rt.op, rt.h, gresp{}
}

func splitPath(escaped string) ([]string, error) {
	var segs []string
	for _, p := range strings.Split(strings.Trim(escaped, "/"), "/") {
		if p == "" {
			continue
		}
		u, err := url.PathUnescape(p)
		if err != nil {
			return nil, err
		}
		segs = append(segs, u)
	}
	return segs, nil
}

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Sim) serveGraph(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c := &gctx{method: r.Method, query: r.URL.Query(), header: r.Header, body: body,
		base: baseURL(r) + "/v1.0", path: strings.TrimPrefix(r.URL.EscapedPath(), "/v1.0")}
	res := s.graphDispatch(r.Context(), c)
	s.writeGraph(w, r.Header.Get("client-request-id"), res)
}

// graphDispatch routes, applies faults and runs one Graph request.
func (s *Sim) graphDispatch(ctx context.Context, c *gctx) gresp {
	segs, err := splitPath(c.path)
	if err != nil {
		return badRequest("Invalid request path.")
	}
	c.segs = segs
	op, h, bad := routeGraph(c.method, segs)
	if op == "" {
		s.countError("graph", "unrouted")
		return bad
	}
	s.notify(RequestInfo{API: "graph", Op: op, Method: c.method, Path: "/v1.0" + c.path,
		ClientRequestID: c.header.Get("client-request-id")})
	v := s.decide("graph", op)
	if v.latency > 0 {
		t := time.NewTimer(v.latency)
		select {
		case <-ctx.Done():
			t.Stop()
			return graphErr(503, "serviceNotAvailable", "The request was cancelled.")
		case <-t.C:
		}
	}
	switch v.status {
	case 429:
		res := graphErr(429, "TooManyRequests", "Too many requests. Please retry after the time in the Retry-After header.")
		res.retryAfter = v.retryAfter
		return res
	case 503:
		return graphErr(503, "serviceNotAvailable", "The service is temporarily unavailable. Please retry.")
	}
	if op == "batch" {
		return s.gBatch(ctx, c)
	}
	s.mu.Lock()
	s.advanceLocked()
	res := h(s, c)
	s.mu.Unlock()
	if res.status >= 400 {
		s.countError("graph", op)
	}
	return res
}

func (s *Sim) writeGraph(w http.ResponseWriter, clientReqID string, res gresp) {
	s.mu.Lock()
	reqID := s.newGUID()
	if clientReqID == "" {
		clientReqID = reqID
	}
	s.mu.Unlock()
	h := w.Header()
	h.Set("request-id", reqID)
	h.Set("client-request-id", clientReqID)
	if res.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(res.retryAfter))
	}
	if res.body == nil {
		w.WriteHeader(res.status)
		return
	}
	addInnerError(res.body, reqID, clientReqID, s.now())
	b, _ := json.Marshal(res.body)
	h.Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	w.WriteHeader(res.status)
	_, _ = w.Write(b)
}

// addInnerError completes a Graph error body with innerError.
func addInnerError(body any, reqID, clientReqID string, now time.Time) {
	m, ok := body.(map[string]any)
	if !ok {
		return
	}
	e, ok := m["error"].(map[string]any)
	if !ok {
		return
	}
	e["innerError"] = map[string]any{"date": now.UTC().Format("2006-01-02T15:04:05"), "request-id": reqID, "client-request-id": clientReqID}
}

func parseSelect(q url.Values) ([]string, *gresp) {
	raw := q.Get("$select")
	if raw == "" {
		return nil, nil
	}
	var out []string
	for _, p := range strings.Split(raw, ",") {
		p = strings.TrimSpace(p)
		i := slices.IndexFunc(knownUserProps, func(k string) bool { return strings.EqualFold(k, p) })
		if i < 0 {
			r := badRequest(fmt.Sprintf("Could not find a property named '%s' on type 'microsoft.graph.user'.", p))
			return nil, &r
		}
		if !slices.Contains(out, knownUserProps[i]) {
			out = append(out, knownUserProps[i])
		}
	}
	return out, nil
}

func contextURL(base, entitySet string, sel []string, entity bool) string {
	s := base + "/$metadata#" + entitySet
	if len(sel) > 0 {
		s += "(" + strings.Join(sel, ",") + ")"
	}
	if entity {
		s += "/$entity"
	}
	return s
}

// page applies $top and $skiptoken to n items: it returns the slice bounds
// and the next link, if any.
func page(c *gctx, n, def int) (int, int, string, *gresp) {
	top := def
	if t := c.query.Get("$top"); t != "" {
		v, err := strconv.Atoi(t)
		if err != nil || v < 1 || v > 999 {
			r := graphErr(400, "Request_UnsupportedQuery", fmt.Sprintf("Invalid page size specified: '%s'. Must be between 1 and 999 inclusive.", t))
			return 0, 0, "", &r
		}
		top = v
	}
	from := 0
	if tok := c.query.Get("$skiptoken"); tok != "" {
		v, err := strconv.Atoi(strings.TrimPrefix(tok, "RFNwdAIAAQ"))
		if err != nil || v < 0 || !strings.HasPrefix(tok, "RFNwdAIAAQ") {
			r := badRequest("Invalid skiptoken.")
			return 0, 0, "", &r
		}
		from = min(v, n)
	}
	to := min(from+top, n)
	next := ""
	if to < n {
		q := url.Values{}
		for k, v := range c.query {
			q[k] = v
		}
		q.Set("$skiptoken", "RFNwdAIAAQ"+strconv.Itoa(to))
		q.Set("$top", strconv.Itoa(top))
		next = c.base + c.path + "?" + q.Encode()
	}
	return from, to, next, nil
}

func decodeObject(b []byte) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if len(bytes.TrimSpace(b)) == 0 {
		return map[string]json.RawMessage{}, nil
	}
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("not an object")
	}
	return m, nil
}

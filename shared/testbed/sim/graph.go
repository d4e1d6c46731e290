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
	s.notify(RequestInfo{API: "graph", Op: op, Method: c.method, Path: "/v1.0" + c.path})
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

// --- users ---

var defaultUserProps = []string{"businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
	"officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id"}

// knownUserProps: everything $select may name (the rest of the user
// resource is answered as null).
var knownUserProps = []string{"id", "userPrincipalName", "displayName", "mail", "accountEnabled", "assignedLicenses",
	"deletedDateTime", "employeeId", "department", "usageLocation", "onPremisesSyncEnabled", "businessPhones",
	"givenName", "surname", "jobTitle", "mobilePhone", "officeLocation", "preferredLanguage", "createdDateTime",
	"employeeLeaveDateTime", "employeeType", "companyName", "proxyAddresses", "otherMails", "userType",
	"onPremisesImmutableId", "mailNickname", "assignedPlans", "accountEnabled"}

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

func (s *Sim) userProps(u *user) map[string]any {
	lic := make([]any, 0, len(u.Licenses))
	for _, a := range u.Licenses {
		lic = append(lic, map[string]any{"disabledPlans": a.DisabledPlans, "skuId": a.SKU.ID})
	}
	upn := u.UPN
	var deleted any
	if u.state == userDeleted {
		upn = u.deletedUPN()
		deleted = u.deletedAt.UTC().Format(time.RFC3339)
	}
	var sync any
	if u.Synced {
		sync = true
	}
	str := func(v string) any {
		if v == "" {
			return nil
		}
		return v
	}
	alias, _, _ := strings.Cut(u.UPN, "@")
	return map[string]any{
		"id": u.ID, "userPrincipalName": upn, "displayName": u.DisplayName, "mail": str(u.Mail),
		"accountEnabled": u.AccountEnabled, "assignedLicenses": lic, "deletedDateTime": deleted,
		"employeeId": str(u.EmployeeID), "department": str(u.Department), "usageLocation": str(u.UsageLocation),
		"onPremisesSyncEnabled": sync, "businessPhones": []any{}, "createdDateTime": u.created.UTC().Format(time.RFC3339),
		"mailNickname": alias, "userType": "Member", "proxyAddresses": []any{"SMTP:" + u.UPN}, "otherMails": []any{},
		"assignedPlans": []any{},
	}
}

// userJSON renders u with the selected properties (Graph's default set
// when sel is empty).
func (s *Sim) userJSON(u *user, sel []string, extra ...string) map[string]any {
	all := s.userProps(u)
	keys := sel
	if len(keys) == 0 {
		keys = append(append([]string(nil), defaultUserProps...), extra...)
	}
	out := make(map[string]any, len(keys)+1)
	for _, k := range keys {
		out[k] = all[k] // unknown-but-valid properties are null
	}
	return out
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

// findUser resolves an id or UPN among active users.
func (s *Sim) findUser(key string) *user {
	for _, u := range s.users {
		if u.state == userActive && (strings.EqualFold(u.ID, key) || strings.EqualFold(u.UPN, key)) {
			return u
		}
	}
	return nil
}

func (s *Sim) findDeleted(id string) *user {
	for _, u := range s.users {
		if u.state == userDeleted && strings.EqualFold(u.ID, id) {
			return u
		}
	}
	return nil
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

func (s *Sim) gListUsers(c *gctx) gresp {
	sel, bad := parseSelect(c.query)
	if bad != nil {
		return *bad
	}
	var f *userFilter
	if raw := c.query.Get("$filter"); raw != "" {
		uf, err := parseUserFilter(raw)
		switch {
		case errors.Is(err, errFilterUnsupported):
			return graphErr(400, "Request_UnsupportedQuery", "Unsupported Query.")
		case err != nil:
			return graphErr(400, "BadRequest", "Invalid filter clause: syntax error in '"+raw+"'.")
		}
		f = &uf
	}
	var list []*user
	for _, u := range s.users {
		if u.state == userActive && (f == nil || f.match(u)) {
			list = append(list, u)
		}
	}
	from, to, next, bad := page(c, len(list), 100)
	if bad != nil {
		return *bad
	}
	vals := make([]any, 0, to-from)
	for _, u := range list[from:to] {
		vals = append(vals, s.userJSON(u, sel))
	}
	out := map[string]any{"@odata.context": contextURL(c.base, "users", sel, false), "value": vals}
	if next != "" {
		out["@odata.nextLink"] = next
	}
	return gresp{status: 200, body: out}
}

func (s *Sim) gGetUser(c *gctx) gresp {
	sel, bad := parseSelect(c.query)
	if bad != nil {
		return *bad
	}
	u := s.findUser(c.segs[1])
	if u == nil {
		return notFound(c.segs[1])
	}
	out := s.userJSON(u, sel)
	out["@odata.context"] = contextURL(c.base, "users", sel, true)
	return gresp{status: 200, body: out}
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

func (s *Sim) gPatchUser(c *gctx) gresp {
	u := s.findUser(c.segs[1])
	if u == nil {
		return notFound(c.segs[1])
	}
	body, err := decodeObject(c.body)
	if err != nil {
		return graphErr(400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
	}
	invalid := func(p string) gresp {
		return badRequest(fmt.Sprintf("Invalid value specified for property '%s' of resource 'User'.", p))
	}
	// validate everything before changing anything
	type setter func()
	var sets []setter
	for _, k := range sortedKeys(body) {
		raw := body[k]
		switch k {
		case "accountEnabled":
			var v bool
			if json.Unmarshal(raw, &v) != nil {
				return invalid(k)
			}
			sets = append(sets, func() { u.AccountEnabled = v })
		case "usageLocation", "department", "displayName", "employeeId":
			var v *string
			if json.Unmarshal(raw, &v) != nil {
				return invalid(k)
			}
			val := ""
			if v != nil {
				val = *v
			}
			if k == "usageLocation" && val != "" && len(val) != 2 {
				return invalid(k)
			}
			if k == "displayName" && val == "" {
				return invalid(k)
			}
			sets = append(sets, func() {
				switch k {
				case "usageLocation":
					u.UsageLocation = strings.ToUpper(val)
				case "department":
					u.Department = val
				case "displayName":
					u.DisplayName = val
				case "employeeId":
					u.EmployeeID = val
				}
			})
		case "employeeLeaveDateTime":
			var v *time.Time
			if json.Unmarshal(raw, &v) != nil {
				return invalid(k)
			}
		case "@odata.type":
		default:
			return badRequest(fmt.Sprintf("Property '%s' does not exist on type 'microsoft.graph.user' or is not supported by the simulator.", k))
		}
	}
	for _, f := range sets {
		f()
	}
	s.emit(u, "updated", s.now())
	return gresp{status: 204}
}

func (s *Sim) gDeleteUser(c *gctx) gresp {
	u := s.findUser(c.segs[1])
	if u == nil {
		return notFound(c.segs[1])
	}
	now := s.now()
	s.deleteUser(u, now, false)
	s.emit(u, "updated", now) // a soft delete is reported as updated
	return gresp{status: 204}
}

func (s *Sim) gListDeleted(c *gctx) gresp {
	sel, bad := parseSelect(c.query)
	if bad != nil {
		return *bad
	}
	if c.query.Get("$orderby") != "" && !strings.EqualFold(c.header.Get("ConsistencyLevel"), "eventual") {
		return graphErr(400, "Request_UnsupportedQuery", "Sorting not supported for current query.")
	}
	if c.query.Get("$filter") != "" {
		return graphErr(400, "Request_UnsupportedQuery", "Unsupported Query.")
	}
	var list []*user
	for _, u := range s.users {
		if u.state == userDeleted {
			list = append(list, u)
		}
	}
	from, to, next, bad := page(c, len(list), 100)
	if bad != nil {
		return *bad
	}
	vals := make([]any, 0, to-from)
	for _, u := range list[from:to] {
		j := s.userJSON(u, sel, "deletedDateTime")
		j["@odata.type"] = "#microsoft.graph.user"
		vals = append(vals, j)
	}
	out := map[string]any{"@odata.context": contextURL(c.base, "directoryObjects/microsoft.graph.user", sel, false), "value": vals}
	if next != "" {
		out["@odata.nextLink"] = next
	}
	return gresp{status: 200, body: out}
}

func (s *Sim) gGetDeleted(c *gctx) gresp {
	sel, bad := parseSelect(c.query)
	if bad != nil {
		return *bad
	}
	u := s.findDeleted(c.segs[2])
	if u == nil {
		return notFound(c.segs[2])
	}
	out := s.userJSON(u, sel, "deletedDateTime")
	out["@odata.type"] = "#microsoft.graph.user"
	out["@odata.context"] = contextURL(c.base, "directoryObjects/microsoft.graph.user", sel, true)
	return gresp{status: 200, body: out}
}

func (s *Sim) gRestoreDeleted(c *gctx) gresp {
	body, err := decodeObject(c.body)
	if err != nil {
		return graphErr(400, "BadRequest", "Unable to read JSON request payload.")
	}
	for k, raw := range body {
		var b bool
		if k != "autoReconcileProxyConflict" || json.Unmarshal(raw, &b) != nil {
			return badRequest(fmt.Sprintf("The parameter '%s' in the request payload is not a valid parameter for the operation 'restore'.", k))
		}
	}
	u := s.findDeleted(c.segs[2])
	if u == nil {
		return notFound(c.segs[2])
	}
	if err := s.restoreUserFromEntra(u, s.now()); err != nil {
		return badRequest(err.Error())
	}
	out := s.userJSON(u, nil)
	out["@odata.type"] = "#microsoft.graph.user"
	out["@odata.context"] = c.base + "/$metadata#directoryObjects/$entity"
	return gresp{status: 200, body: out}
}

func (s *Sim) gPurgeDeleted(c *gctx) gresp {
	u := s.findDeleted(c.segs[2])
	if u == nil {
		return notFound(c.segs[2])
	}
	s.hardDeleteUser(u, s.now(), false)
	return gresp{status: 204}
}

// --- licences ---

func (s *Sim) gAssignLicense(c *gctx) gresp {
	u := s.findUser(c.segs[1])
	if u == nil {
		return notFound(c.segs[1])
	}
	var body struct {
		AddLicenses *[]struct {
			SkuID         string   `json:"skuId"`
			DisabledPlans []string `json:"disabledPlans"`
		} `json:"addLicenses"`
		RemoveLicenses *[]string `json:"removeLicenses"`
	}
	if err := json.Unmarshal(c.body, &body); err != nil {
		return graphErr(400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
	}
	if body.AddLicenses == nil {
		return badRequest("Invalid value specified for property 'addLicenses' of resource 'User'.")
	}
	if body.RemoveLicenses == nil {
		return badRequest("Invalid value specified for property 'removeLicenses' of resource 'User'.")
	}
	var rm []*sku
	for _, id := range *body.RemoveLicenses {
		k := s.skuByID(id)
		has := false
		for _, a := range u.Licenses {
			has = has || a.SKU == k
		}
		if k == nil || !has {
			return badRequest("User does not have a corresponding license.")
		}
		rm = append(rm, k)
	}
	var add []assigned
	for _, a := range *body.AddLicenses {
		k := s.skuByID(a.SkuID)
		if k == nil {
			return badRequest(fmt.Sprintf("Subscription with SKU %s does not exist in this tenant.", a.SkuID))
		}
		if u.UsageLocation == "" {
			return badRequest("License assignment cannot be done for user with invalid usage location.")
		}
		already := slices.ContainsFunc(u.Licenses, func(x assigned) bool { return x.SKU == k })
		if !already && !slices.Contains(rm, k) && s.consumed(k) >= k.Units {
			return badRequest(fmt.Sprintf("Subscription with SKU %s does not have any available licenses.", k.ID))
		}
		dp := a.DisabledPlans
		if dp == nil {
			dp = []string{}
		}
		add = append(add, assigned{SKU: k, DisabledPlans: dp})
	}
	now := s.now()
	if len(rm) > 0 {
		s.removeLicences(u, rm, now)
	}
	if len(add) > 0 {
		s.addLicences(u, add, now)
	}
	s.emit(u, "updated", now)
	out := s.userJSON(u, nil)
	out["@odata.context"] = contextURL(c.base, "users", nil, true)
	return gresp{status: 200, body: out}
}

func (s *Sim) gLicenseDetails(c *gctx) gresp {
	u := s.findUser(c.segs[1])
	if u == nil {
		return notFound(c.segs[1])
	}
	vals := []any{}
	for _, a := range u.Licenses {
		vals = append(vals, map[string]any{
			"id":    strings.ReplaceAll(a.SKU.ID, "-", "") + strings.ReplaceAll(u.ID, "-", "")[:8],
			"skuId": a.SKU.ID, "skuPartNumber": a.SKU.PartNumber, "servicePlans": plansJSON(a.SKU),
		})
	}
	return gresp{status: 200, body: map[string]any{
		"@odata.context": c.base + "/$metadata#users('" + u.ID + "')/licenseDetails", "value": vals}}
}

func plansJSON(k *sku) []any {
	out := []any{}
	for _, p := range k.Plans {
		out = append(out, map[string]any{"servicePlanId": p.ID, "servicePlanName": p.Name,
			"provisioningStatus": "Success", "appliesTo": "User"})
	}
	return out
}

func (s *Sim) gSubscribedSKUs(c *gctx) gresp {
	vals := []any{}
	for _, k := range s.skus {
		vals = append(vals, map[string]any{
			"accountId": s.opts.TenantID, "accountName": s.opts.Domain, "appliesTo": "User",
			"capabilityStatus": "Enabled", "consumedUnits": s.consumed(k),
			"id":           s.opts.TenantID + "_" + k.ID,
			"prepaidUnits": map[string]any{"enabled": k.Units, "suspended": 0, "warning": 0, "lockedOut": 0},
			"servicePlans": plansJSON(k), "skuId": k.ID, "skuPartNumber": k.PartNumber, "subscriptionIds": []any{},
		})
	}
	return gresp{status: 200, body: map[string]any{"@odata.context": c.base + "/$metadata#subscribedSkus", "value": vals}}
}

// --- mail ---

func (s *Sim) gSendMail(c *gctx) gresp {
	var body struct {
		Message *struct {
			Subject string `json:"subject"`
			Body    struct {
				ContentType string `json:"contentType"`
				Content     string `json:"content"`
			} `json:"body"`
			ToRecipients []struct {
				EmailAddress struct {
					Address string `json:"address"`
				} `json:"emailAddress"`
			} `json:"toRecipients"`
		} `json:"message"`
		SaveToSentItems *bool `json:"saveToSentItems"`
	}
	if err := json.Unmarshal(c.body, &body); err != nil || body.Message == nil {
		return graphErr(400, "ErrorInvalidRequest", "Cannot read the request body.")
	}
	u := s.findUser(c.segs[1])
	if u == nil {
		return graphErr(404, "ErrorInvalidUser", fmt.Sprintf("The requested user '%s' is invalid.", c.segs[1]))
	}
	if u.mailbox == nil || u.mailbox.state != mbActive || !u.hasExchange() {
		return graphErr(404, "MailboxNotEnabledForRESTAPI", "The mailbox is either inactive, soft-deleted, or is hosted on-premise.")
	}
	var to []string
	for _, r := range body.Message.ToRecipients {
		if !strings.Contains(r.EmailAddress.Address, "@") {
			return graphErr(400, "ErrorInvalidRecipients", "At least one recipient isn't valid.")
		}
		to = append(to, r.EmailAddress.Address)
	}
	if len(to) == 0 {
		return graphErr(400, "ErrorInvalidRecipients", "At least one recipient isn't valid., A message can't be sent because it contains no recipients.")
	}
	s.mail = append(s.mail, CapturedMail{At: s.now(), From: u.UPN, Subject: body.Message.Subject,
		Body: body.Message.Body.Content, To: to, Raw: append(json.RawMessage(nil), c.body...)})
	return gresp{status: 202}
}

// --- $batch ---

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

// Package probe is `holdfast probe`: a read-only survey of a tenant before
// holdfast runs there. It calls every read holdfast depends on, compares
// each answer's shape (field names and JSON types, and the values of the
// few fields holdfast acts on) with the contract rows in docs/contracts.md,
// notes the throttling headers it sees and the permissions that are
// missing, and writes a report that holds shapes only: no value leaves the
// tenant except the known status values, and the ids of the objects read
// are replaced by keyed hashes that only correlate within one report.
//
// The probe reaches the tenant only through Reader, which has two read
// methods: a Graph GET and an Exchange Get- cmdlet. It imports no package
// with a tenant write (a test checks its imports), so none is reachable.
package probe

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Answer is one HTTP answer as received.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// Reader is all the probe may ask of a tenant. GraphGet sends a GET to a
// path relative to the Graph base URL; ExchangeGet runs one Get- cmdlet
// and returns its first page. Neither can change anything.
type Reader interface {
	GraphGet(ctx context.Context, path string, query url.Values) (Answer, error)
	ExchangeGet(ctx context.Context, cmdlet string, params map[string]any, sel []string) (Answer, error)
}

// Row statuses in the report.
const (
	StatusMatches   = "matches"   // seen, and every item has the contract's shape
	StatusDiffers   = "differs"   // seen, and some field is missing, of another type, or has an unknown value
	StatusEmpty     = "empty"     // answered, but nothing to compare (no deleted users, no restore requests, ...)
	StatusForbidden = "forbidden" // 401/403: a permission is missing
	StatusFailed    = "failed"    // any other failure
)

// Difference is one way an answer departs from its contract row.
type Difference struct {
	Field string `json:"field"`
	Kind  string `json:"kind"` // missing, type, value
	Want  string `json:"want"`
	Got   string `json:"got,omitempty"`
}

// RowResult is the probe's finding for one contract row.
type RowResult struct {
	ID         string `json:"id"`
	Contract   string `json:"contract"`
	API        API    `json:"api"`
	Status     string `json:"status"`
	Seen       bool   `json:"seen"`
	Items      int    `json:"items"`
	HTTPStatus int    `json:"httpStatus,omitempty"`
	// Subject is the keyed hash of the object the read named, if any.
	Subject     string       `json:"subject,omitempty"`
	Differences []Difference `json:"differences,omitempty"`
	// Extra lists fields the answer carried that the row does not name
	// (name: types); informational, not a difference.
	Extra []string `json:"extra,omitempty"`
	// Shape is every field seen with its JSON types.
	Shape map[string]string `json:"shape,omitempty"`
	Note  string            `json:"note,omitempty"`
}

// HeaderSeen is a throttling or rate-limit header, by name and value type.
type HeaderSeen struct {
	API       API    `json:"api"`
	Name      string `json:"name"`
	ValueType string `json:"valueType"` // integer, date, text
	Count     int    `json:"count"`
}

// Report is what the probe writes.
type Report struct {
	Tool               string         `json:"tool"`
	At                 time.Time      `json:"at"`
	Rows               []RowResult    `json:"rows"`
	MissingPermissions []string       `json:"missingPermissions,omitempty"`
	Throttling         []HeaderSeen   `json:"throttlingHeaders"`
	Summary            map[string]int `json:"summary"`
}

// Options adjust a run.
type Options struct {
	Now func() time.Time
	// Key keys the hashes of ids; random when empty, so hashes from two
	// reports cannot be joined.
	Key []byte
}

type run struct {
	r       Reader
	key     []byte
	rows    map[string]Row
	results map[string]*RowResult
	headers map[string]*HeaderSeen
}

// Run probes the tenant behind r and returns the report. It never fails:
// what could not be read is a row status.
func Run(ctx context.Context, r Reader, o Options) Report {
	if o.Now == nil {
		o.Now = time.Now
	}
	if len(o.Key) == 0 {
		o.Key = make([]byte, 32)
		_, _ = rand.Read(o.Key)
	}
	p := &run{r: r, key: o.Key, rows: map[string]Row{}, results: map[string]*RowResult{}, headers: map[string]*HeaderSeen{}}
	for _, row := range Rows() {
		p.rows[row.ID] = row
	}

	userQuery := url.Values{"$select": {strings.Join(userFields, ",")}, "$top": {"5"}}
	users := p.graph(ctx, "graph.users.list", "users", userQuery, "")
	var userID, licensedID string
	for _, u := range users {
		id, _ := u["id"].(string)
		if userID == "" {
			userID = id
		}
		if l, _ := u["assignedLicenses"].([]any); len(l) > 0 && licensedID == "" {
			licensedID = id
		}
	}
	sel := url.Values{"$select": {strings.Join(userFields, ",")}}
	p.dependent(ctx, "graph.users.get", userID, "no user to read", func(id string) {
		p.graph(ctx, "graph.users.get", "users/"+url.PathEscape(id), sel, id)
	})
	p.dependent(ctx, "graph.users.licenseDetails", licensedID, "no licensed user to read", func(id string) {
		p.graph(ctx, "graph.users.licenseDetails", "users/"+url.PathEscape(id)+"/licenseDetails", nil, id)
	})
	delSel := url.Values{"$select": {strings.Join(append(append([]string(nil), userFields...), "deletedDateTime"), ",")}}
	delList := url.Values{"$select": delSel["$select"], "$top": {"5"}}
	deleted := p.graph(ctx, "graph.deletedUsers.list", "directory/deletedItems/microsoft.graph.user", delList, "")
	var deletedID string
	if len(deleted) > 0 {
		deletedID, _ = deleted[0]["id"].(string)
	}
	p.dependent(ctx, "graph.deletedUsers.get", deletedID, "no deleted user in the recycle bin", func(id string) {
		p.graph(ctx, "graph.deletedUsers.get", "directory/deletedItems/"+url.PathEscape(id)+"/microsoft.graph.user", delSel, id)
	})
	p.graph(ctx, "graph.subscribedSkus", "subscribedSkus", nil, "")
	p.graph(ctx, "graph.subscriptions", "subscriptions", nil, "")
	p.graph(ctx, "graph.users.delta", "users/delta", url.Values{"$select": {"id,userPrincipalName"}}, "")

	p.exchange(ctx, "exo.mailbox.active", "Get-Mailbox", map[string]any{"ResultSize": 5}, mailboxFields, "")
	p.exchange(ctx, "exo.mailbox.softDeleted", "Get-Mailbox", map[string]any{"SoftDeletedMailbox": true, "ResultSize": 5}, mailboxFields, "")
	p.exchange(ctx, "exo.mailbox.inactive", "Get-Mailbox", map[string]any{"InactiveMailboxOnly": true, "ResultSize": 5}, mailboxFields, "")
	p.exchange(ctx, "exo.mailbox.includeInactive", "Get-Mailbox", map[string]any{"IncludeInactiveMailbox": true, "ResultSize": 5}, mailboxFields, "")
	reqs := p.exchange(ctx, "exo.restoreRequests", "Get-MailboxRestoreRequest", map[string]any{"ResultSize": 5}, nil, "")
	var reqID string
	if len(reqs) > 0 {
		reqID, _ = reqs[0]["RequestGuid"].(string)
	}
	p.dependent(ctx, "exo.restoreStatistics", reqID, "no restore request in the tenant", func(id string) {
		p.exchange(ctx, "exo.restoreStatistics", "Get-MailboxRestoreRequestStatistics", map[string]any{"Identity": id}, nil, id)
	})
	return p.report(o.Now())
}

func (p *run) dependent(_ context.Context, id, subject, why string, fn func(string)) {
	if subject == "" {
		p.results[id] = &RowResult{Status: StatusEmpty, Note: "not read: " + why}
		return
	}
	fn(subject)
}

func (p *run) graph(ctx context.Context, id, path string, q url.Values, subject string) []map[string]any {
	a, err := p.r.GraphGet(ctx, path, q)
	items, res := p.judge(id, a, err, subject, id != "graph.users.get" && id != "graph.deletedUsers.get")
	if id == "graph.users.delta" && res.Status != StatusFailed && res.Status != StatusForbidden {
		var env map[string]any
		if json.Unmarshal(a.Body, &env) == nil {
			_, next := env["@odata.nextLink"].(string)
			_, delta := env["@odata.deltaLink"].(string)
			if !next && !delta {
				res.Differences = append(res.Differences, Difference{Field: "@odata.nextLink|@odata.deltaLink", Kind: "missing", Want: tString})
				res.Status = StatusDiffers
			}
		}
	}
	return items
}

func (p *run) exchange(ctx context.Context, id, cmdlet string, params map[string]any, sel []string, subject string) []map[string]any {
	a, err := p.r.ExchangeGet(ctx, cmdlet, params, sel)
	items, _ := p.judge(id, a, err, subject, true)
	return items
}

// judge turns one answer into the row's result and returns its items.
func (p *run) judge(id string, a Answer, err error, subject string, collection bool) ([]map[string]any, *RowResult) {
	row := p.rows[id]
	res := &RowResult{HTTPStatus: a.Status}
	p.results[id] = res
	if subject != "" {
		res.Subject = p.hash(subject)
	}
	if err != nil {
		res.Status, res.Note = StatusFailed, "request failed: "+scrub(err.Error(), p.hash)
		return nil, res
	}
	p.noteHeaders(row.API, a.Header)
	switch {
	case a.Status == http.StatusUnauthorized || a.Status == http.StatusForbidden:
		res.Status, res.Note = StatusForbidden, "missing: "+row.Permission
		return nil, res
	case a.Status < 200 || a.Status > 299:
		res.Status, res.Note = StatusFailed, fmt.Sprintf("HTTP %d", a.Status)
		return nil, res
	}
	var items []map[string]any
	if collection {
		var env struct {
			Value []json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(a.Body, &env); err != nil || env.Value == nil {
			res.Status = StatusDiffers
			res.Differences = append(res.Differences, Difference{Field: "value", Kind: "missing", Want: tArray})
			return nil, res
		}
		for _, raw := range env.Value {
			var m map[string]any
			if json.Unmarshal(raw, &m) != nil {
				res.Differences = append(res.Differences, Difference{Field: "value[]", Kind: "type", Want: tObject, Got: jsonType(raw)})
				continue
			}
			items = append(items, m)
		}
	} else {
		var m map[string]any
		if err := json.Unmarshal(a.Body, &m); err != nil {
			res.Status = StatusDiffers
			res.Differences = append(res.Differences, Difference{Field: "(body)", Kind: "type", Want: tObject, Got: jsonType(a.Body)})
			return nil, res
		}
		items = []map[string]any{m}
	}
	res.Items = len(items)
	if len(items) == 0 && len(res.Differences) == 0 {
		res.Status, res.Note = StatusEmpty, "answered with no items: nothing to compare"
		return nil, res
	}
	res.Seen = true
	compare(row, items, res)
	return items, res
}

// compare checks items against row and fills res.
func compare(row Row, items []map[string]any, res *RowResult) {
	seen := map[string]map[string]bool{}
	values := map[string]map[string]bool{}
	for _, it := range items {
		flatten("", it, seen)
		for f := range row.Enums {
			if s, ok := it[f].(string); ok {
				if values[f] == nil {
					values[f] = map[string]bool{}
				}
				values[f][s] = true
			}
		}
	}
	res.Shape = map[string]string{}
	for f, ts := range seen {
		res.Shape[f] = joinSet(ts)
	}
	for _, f := range sortedKeys(row.Fields) {
		want := row.Fields[f]
		got, ok := seen[f]
		if !ok {
			if strings.Contains("|"+want+"|", "|"+tAbsent+"|") || !elementsSeen(f, seen) {
				// Optional, or inside arrays that were all empty: nothing
				// to compare.
				continue
			}
			res.Differences = append(res.Differences, Difference{Field: f, Kind: "missing", Want: want})
			continue
		}
		allowed := map[string]bool{}
		for _, t := range strings.Split(want, "|") {
			allowed[t] = true
		}
		for t := range got {
			if !allowed[t] {
				res.Differences = append(res.Differences, Difference{Field: f, Kind: "type", Want: want, Got: joinSet(got)})
				break
			}
		}
	}
	for _, f := range sortedKeys(row.Enums) {
		known := map[string]bool{}
		for _, v := range row.Enums[f] {
			known[v] = true
		}
		var unknown []string
		for v := range values[f] {
			if !known[v] {
				unknown = append(unknown, safeValue(v))
			}
		}
		if len(unknown) > 0 {
			sort.Strings(unknown)
			res.Differences = append(res.Differences, Difference{Field: f, Kind: "value", Want: "one of " + strings.Join(row.Enums[f], ","), Got: strings.Join(unknown, ",")})
		}
	}
	for _, f := range sortedKeys(seen) {
		if _, ok := row.Fields[f]; ok || covered(row.Fields, f) {
			continue
		}
		res.Extra = append(res.Extra, f+": "+joinSet(seen[f]))
	}
	res.Status = StatusMatches
	if len(res.Differences) > 0 {
		res.Status = StatusDiffers
	}
}

// elementsSeen reports whether the arrays a field path lies in ("a[].b")
// had at least one object element in the answer.
func elementsSeen(f string, seen map[string]map[string]bool) bool {
	i := strings.LastIndex(f, "[].")
	if i < 0 {
		return true
	}
	prefix := f[:i+3]
	for k := range seen {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// covered reports whether f lies under a field the row names without
// naming its children (e.g. the items of InPlaceHolds).
func covered(fields map[string]string, f string) bool {
	for k, t := range fields {
		if (t == tArray || t == tObject) && (strings.HasPrefix(f, k+".") || strings.HasPrefix(f, k+"[]")) {
			hasChild := false
			for k2 := range fields {
				if strings.HasPrefix(k2, k+".") || strings.HasPrefix(k2, k+"[]") {
					hasChild = true
				}
			}
			if !hasChild {
				return true
			}
		}
	}
	return false
}

// flatten records the JSON type of every field path under prefix.
// Annotations (names with "@", e.g. "ExchangeGuid@odata.type") are
// metadata, not fields.
func flatten(prefix string, m map[string]any, seen map[string]map[string]bool) {
	for k, v := range m {
		if strings.Contains(k, "@") {
			continue
		}
		path := prefix + k
		add(seen, path, typeOf(v))
		switch x := v.(type) {
		case map[string]any:
			flatten(path+".", x, seen)
		case []any:
			for _, e := range x {
				if em, ok := e.(map[string]any); ok {
					flatten(path+"[].", em, seen)
				}
			}
		}
	}
}

func add(seen map[string]map[string]bool, path, t string) {
	if seen[path] == nil {
		seen[path] = map[string]bool{}
	}
	seen[path][t] = true
}

func typeOf(v any) string {
	switch v.(type) {
	case nil:
		return tNull
	case string:
		return tString
	case float64, json.Number:
		return tNumber
	case bool:
		return tBool
	case []any:
		return tArray
	case map[string]any:
		return tObject
	}
	return "unknown"
}

func jsonType(raw []byte) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return "not JSON"
	}
	return typeOf(v)
}

func joinSet(s map[string]bool) string {
	return strings.Join(sortedKeys(s), "|")
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

var (
	wordRE  = regexp.MustCompile(`^[A-Za-z]{1,40}$`)
	guidRE  = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)
	emailRE = regexp.MustCompile(`[^\s/'"@]+@[^\s/'"@]+\.[A-Za-z]{2,}`)
)

// safeValue keeps a status-like word verbatim and hashes anything else.
func safeValue(v string) string {
	if wordRE.MatchString(v) {
		return v
	}
	return "(not a status word; " + fmt.Sprint(len(v)) + " characters)"
}

// scrub replaces GUIDs and addresses in a message with their hashes.
func scrub(s string, hash func(string) string) string {
	s = guidRE.ReplaceAllStringFunc(s, hash)
	return emailRE.ReplaceAllStringFunc(s, hash)
}

func (p *run) hash(v string) string {
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte(strings.ToLower(v)))
	return "h:" + hex.EncodeToString(m.Sum(nil))[:16]
}

// throttleHeader matches the rate-limit and throttling headers Graph and
// Exchange send (Retry-After, RateLimit-*, Rate-Limit-*, x-ms-throttle-*,
// x-ms-resource-unit).
var throttleHeader = regexp.MustCompile(`(?i)^(retry-after|rate-?limit-.*|x-ratelimit-.*|x-ms-throttle.*|x-ms-resource-unit.*)$`)

var intRE = regexp.MustCompile(`^\d+$`)

func (p *run) noteHeaders(api API, h http.Header) {
	for name, vs := range h {
		if !throttleHeader.MatchString(name) {
			continue
		}
		kind := "text"
		if len(vs) > 0 {
			v := strings.TrimSpace(vs[0])
			if intRE.MatchString(v) {
				kind = "integer"
			} else if _, err := time.Parse(time.RFC3339, v); err == nil {
				kind = "date"
			} else if _, err := http.ParseTime(v); err == nil {
				kind = "date"
			}
		}
		key := string(api) + "|" + http.CanonicalHeaderKey(name) + "|" + kind
		if p.headers[key] == nil {
			p.headers[key] = &HeaderSeen{API: api, Name: http.CanonicalHeaderKey(name), ValueType: kind}
		}
		p.headers[key].Count++
	}
}

func (p *run) report(at time.Time) Report {
	rep := Report{Tool: "holdfast probe", At: at.UTC(), Summary: map[string]int{}, Throttling: []HeaderSeen{}}
	missing := map[string]bool{}
	for _, row := range Rows() {
		res := p.results[row.ID]
		if res == nil {
			res = &RowResult{Status: StatusFailed, Note: "not probed"}
		}
		res.ID, res.Contract, res.API = row.ID, row.Contract, row.API
		if res.Status == StatusForbidden {
			missing[row.Permission] = true
		}
		rep.Summary[res.Status]++
		rep.Rows = append(rep.Rows, *res)
	}
	rep.MissingPermissions = sortedKeys(missing)
	for _, k := range sortedKeys(p.headers) {
		rep.Throttling = append(rep.Throttling, *p.headers[k])
	}
	return rep
}

// Differing returns the ids of the rows whose status is differs.
func (r Report) Differing() []string {
	var ids []string
	for _, row := range r.Rows {
		if row.Status == StatusDiffers {
			ids = append(ids, row.ID)
		}
	}
	return ids
}

// Text renders the report for a person.
func (r Report) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "holdfast probe report, %s\n", r.At.Format(time.RFC3339))
	fmt.Fprintf(&b, "shapes only: values are replaced by their JSON types, ids by keyed hashes\n\n")
	for _, row := range r.Rows {
		fmt.Fprintf(&b, "%-10s %-30s %s", row.Status, row.ID, row.Contract)
		if row.Seen {
			fmt.Fprintf(&b, "  (%d item(s))", row.Items)
		}
		b.WriteString("\n")
		for _, d := range row.Differences {
			switch d.Kind {
			case "missing":
				fmt.Fprintf(&b, "           - %s: missing (want %s)\n", d.Field, d.Want)
			case "type":
				fmt.Fprintf(&b, "           - %s: got %s, want %s\n", d.Field, d.Got, d.Want)
			default:
				fmt.Fprintf(&b, "           - %s: unknown value %s (want %s)\n", d.Field, d.Got, d.Want)
			}
		}
		for _, e := range row.Extra {
			fmt.Fprintf(&b, "           + extra field %s\n", e)
		}
		if row.Note != "" {
			fmt.Fprintf(&b, "           %s\n", row.Note)
		}
	}
	if len(r.MissingPermissions) > 0 {
		b.WriteString("\nmissing permissions:\n")
		for _, m := range r.MissingPermissions {
			fmt.Fprintf(&b, "  - %s\n", m)
		}
	}
	b.WriteString("\nthrottling headers seen:\n")
	if len(r.Throttling) == 0 {
		b.WriteString("  none\n")
	}
	for _, h := range r.Throttling {
		fmt.Fprintf(&b, "  %-8s %-28s %-8s x%d\n", h.API, h.Name, h.ValueType, h.Count)
	}
	fmt.Fprintf(&b, "\nsummary: ")
	for i, k := range sortedKeys(r.Summary) {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d %s", r.Summary[k], k)
	}
	b.WriteString("\n")
	return b.String()
}

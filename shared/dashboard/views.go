package dashboard

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/holdfast/holdfast/shared/alert"
	"github.com/holdfast/holdfast/shared/auditchain"
	"github.com/holdfast/holdfast/shared/customhandler"
	"github.com/holdfast/holdfast/shared/ledger"
	"github.com/holdfast/holdfast/shared/retention"
	"github.com/holdfast/holdfast/shared/tenant"
)

// Group is how the calendar colours and filters a state.
type Group string

// The calendar's state groups.
const (
	GroupProtected Group = "protected"
	GroupNotSafe   Group = "not-yet-safe"
	GroupAtRisk    Group = "at-risk"
	GroupRescuing  Group = "rescuing"
	GroupBlocked   Group = "blocked"
	GroupReleased  Group = "released"
	GroupTracking  Group = "tracking"
	GroupClosed    Group = "closed"
	GroupOther     Group = "other"
)

// groups in display order, with their labels.
var groups = []struct {
	G     Group
	Label string
}{
	{GroupAtRisk, "At risk"}, {GroupRescuing, "Rescuing"}, {GroupBlocked, "Blocked"},
	{GroupNotSafe, "Not yet safe to delete"}, {GroupProtected, "Protected"}, {GroupReleased, "Released"},
	{GroupTracking, "Tracking"}, {GroupOther, "Other"}, {GroupClosed, "Closed"},
}

// GroupOf maps a case state to its calendar group. A state this build
// does not know (added by a newer engine) is shown as "other" with its
// own name, never hidden.
func GroupOf(s string) Group {
	switch retention.State(s) {
	case retention.StateProtected, retention.StateInactive, retention.StateRestored:
		return GroupProtected
	case retention.StateProtecting:
		return GroupNotSafe
	case retention.StateAtRisk, retention.StateFailing, retention.StateUnconfirmed:
		// (Unconfirmed: Exchange does not show the mailbox where the
		// directory says yet; its clock runs and its rescue is armed.)
		return GroupAtRisk
	case retention.StateRescuing:
		return GroupRescuing
	case retention.StateBlocked:
		return GroupBlocked
	case retention.StateReleased:
		return GroupReleased
	case retention.StateTracking:
		return GroupTracking
	case retention.StatePurged, retention.StateCancelled:
		return GroupClosed
	}
	return GroupOther
}

func groupLabel(g Group) string {
	for _, x := range groups {
		if x.G == g {
			return x.Label
		}
	}
	return string(g)
}

// stored is the part of the engine's case document the pages show.
type stored struct {
	Case   retention.Case `json:"case"`
	Outbox []alert.Alert  `json:"outbox,omitempty"`
}

func decode(rec ledger.CaseRecord) stored {
	var s stored
	_ = json.Unmarshal(rec.Data, &s) // an undecodable document still lists by its row fields
	if s.Case.Key == "" {
		s.Case.Key = rec.Key
	}
	if s.Case.UPN == "" {
		s.Case.UPN = rec.UPN
	}
	return s
}

// Row is one case on the calendar.
type Row struct {
	Key, UPN, Department, State, Reason, DeadlineKind string
	Group                                             Group
	GroupLabel                                        string
	Deadline                                          time.Time
	DaysLeft                                          float64
	Urgency                                           string // CSS class by days left
}

// Week is the calendar's rows whose deadline falls in one week.
type Week struct {
	Label string
	Rows  []Row
}

// Count is one tally at the top of the calendar.
type Count struct {
	Group  Group
	Label  string
	N      int
	Active bool
}

func urgency(days float64) string {
	switch {
	case days < 0:
		return "overdue"
	case days <= 3:
		return "urgent"
	case days <= 7:
		return "soon"
	case days <= 14:
		return "later"
	}
	return "far"
}

// weekStart is the Monday 00:00 UTC of t's week.
func weekStart(t time.Time) time.Time {
	t = t.UTC()
	wd := (int(t.Weekday()) + 6) % 7
	return time.Date(t.Year(), t.Month(), t.Day()-wd, 0, 0, 0, 0, time.UTC)
}

// Calendar is the calendar page's data.
type Calendar struct {
	Weeks       []Week
	NoDeadline  []Row
	Closed      []Row // purged or cancelled: listed after the calendar
	Counts      []Count
	Total       int // open cases
	Shown       int // open cases the filters let through
	State, Dept string
	Depts       []string
}

// BuildCalendar sorts open cases by deadline into weeks, counting every
// group before the filters apply; closed cases are listed apart.
func BuildCalendar(recs []ledger.CaseRecord, now time.Time, state, dept string) Calendar {
	c := Calendar{State: state, Dept: dept}
	counts := map[Group]int{}
	depts := map[string]bool{}
	var rows []Row
	for _, rec := range recs {
		s := decode(rec)
		row := Row{Key: rec.Key, UPN: s.Case.UPN, Department: s.Case.Department, State: rec.State, Reason: s.Case.Reason,
			DeadlineKind: s.Case.DeadlineKind, Group: GroupOf(rec.State)}
		row.GroupLabel = groupLabel(row.Group)
		if !rec.Deadline.IsZero() {
			row.Deadline = rec.Deadline.UTC()
			row.DaysLeft = rec.Deadline.Sub(now).Hours() / 24
			row.Urgency = urgency(row.DaysLeft)
		}
		counts[row.Group]++
		if row.Group != GroupClosed {
			c.Total++
		}
		if row.Department != "" {
			depts[row.Department] = true
		}
		if (state != "" && string(row.Group) != state) || (dept != "" && row.Department != dept) {
			continue
		}
		rows = append(rows, row)
	}
	for _, g := range groups {
		if counts[g.G] > 0 || string(g.G) == state {
			c.Counts = append(c.Counts, Count{g.G, g.Label, counts[g.G], string(g.G) == state})
		}
	}
	for d := range depts {
		c.Depts = append(c.Depts, d)
	}
	sort.Strings(c.Depts)
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.Deadline.IsZero() != b.Deadline.IsZero() {
			return !a.Deadline.IsZero()
		}
		if !a.Deadline.Equal(b.Deadline) {
			return a.Deadline.Before(b.Deadline)
		}
		return a.UPN < b.UPN
	})
	for _, r := range rows {
		if r.Group == GroupClosed {
			c.Closed = append(c.Closed, r)
			continue
		}
		c.Shown++
		if r.Deadline.IsZero() {
			c.NoDeadline = append(c.NoDeadline, r)
			continue
		}
		label := "Week of " + weekStart(r.Deadline).Format("Mon 2 Jan 2006")
		if r.DaysLeft < 0 {
			label = "Past deadline"
		}
		if n := len(c.Weeks); n == 0 || c.Weeks[n-1].Label != label {
			c.Weeks = append(c.Weeks, Week{Label: label})
		}
		c.Weeks[len(c.Weeks)-1].Rows = append(c.Weeks[len(c.Weeks)-1].Rows, r)
	}
	return c
}

func (db *Dashboard) calendar(r *request) customhandler.HTTPOutput {
	var recs []ledger.CaseRecord
	if err := db.d.Reader.ListCases(r.ctx, func(c ledger.CaseRecord) error { recs = append(recs, c); return nil }); err != nil {
		return db.errorPage(r, http.StatusServiceUnavailable, "Storage did not answer: "+err.Error())
	}
	q := r.req.Query
	return db.render(r, http.StatusOK, "calendar", BuildCalendar(recs, db.d.Clock.Now(), q["state"], q["dept"]))
}

// Entry is one timeline row.
type Entry struct {
	ledger.AuditRecord
	Kind string // fact, decision, tenant, alert, admin, other
}

// kindOf sorts an audit action into the timeline's kinds.
func kindOf(a ledger.AuditRecord) string {
	if strings.HasPrefix(a.Actor, "admin:") {
		return "admin"
	}
	switch a.Action {
	case "observe", "clock", "exchangeGuidConflict", "checkDeadline":
		return "fact"
	case "decide", "transition", "cancel", "release", "block", "rehire", "sweep":
		return "decision"
	case "placeHold", "verifyHold", "confirmHold", "restoreRequest", "restoreStatus", "restoreUser", "undoSoftDelete",
		"assignLicence", "disableAccount", "recoverMailbox", "placeTargetHold", "verifyTargetHold", "rescue", "rescueFound", "restoreTo", "recover":
		return "tenant"
	case "warn", "alertsDelivered":
		return "alert"
	}
	return "other"
}

// CaseView is the case page's data.
type CaseView struct {
	Key        string
	Case       retention.Case
	Group      Group
	GroupLabel string
	DaysLeft   float64
	Urgency    string
	Timeline   []Entry
	Pending    []alert.Alert
	Delivered  []string // alert ids without the case key prefix
	Chain      ChainStatus
	Planned    []PlannedAction
	HasPlans   bool
	Done       string
	Flash      string
}

// ChainStatus is the audit chain's verification on the case page.
type ChainStatus struct {
	OK       bool
	Verified int
	Legacy   int
	Head     string
	Problem  string
}

func (db *Dashboard) loadCase(r *request, key string) (ledger.CaseRecord, []ledger.AuditRecord, error) {
	rec, err := db.d.Reader.LoadCase(r.ctx, key)
	if err != nil {
		return rec, nil, err
	}
	var audit []ledger.AuditRecord
	err = db.d.Reader.ListAudit(r.ctx, key, func(a ledger.AuditRecord) error { audit = append(audit, a); return nil })
	return rec, audit, err
}

func (db *Dashboard) notFound(r *request, err error, key string) customhandler.HTTPOutput {
	if errors.Is(err, ledger.ErrNotFound) || errors.Is(err, ledger.ErrInvalidKey) {
		return db.errorPage(r, http.StatusNotFound, "There is no case "+key+".")
	}
	return db.errorPage(r, http.StatusServiceUnavailable, "Storage did not answer: "+err.Error())
}

// chainRows puts the audit in chain order.
func chainRows(rec ledger.CaseRecord, audit []ledger.AuditRecord) []auditchain.Row {
	rows := make([]auditchain.Row, len(audit))
	for i, a := range audit {
		rows[i] = a.Row()
	}
	return auditchain.ChainOrder(rows, rec.AuditHead)
}

func (db *Dashboard) casePage(r *request, key string) customhandler.HTTPOutput {
	rec, audit, err := db.loadCase(r, key)
	if err != nil {
		return db.notFound(r, err, key)
	}
	s := decode(rec)
	now := db.d.Clock.Now()
	v := CaseView{Key: key, Case: s.Case, Group: GroupOf(rec.State), Pending: s.Outbox, Done: r.req.Query["done"]}
	v.Case.State = retention.State(rec.State)
	v.GroupLabel = groupLabel(v.Group)
	if !rec.Deadline.IsZero() {
		v.DaysLeft = rec.Deadline.Sub(now).Hours() / 24
		v.Urgency = urgency(v.DaysLeft)
	}
	for _, a := range audit {
		v.Timeline = append(v.Timeline, Entry{a, kindOf(a)})
	}
	for _, id := range s.Case.AlertsSent {
		v.Delivered = append(v.Delivered, strings.TrimPrefix(id, key+":"))
	}
	res, verr := auditchain.Verify(chainRows(rec, audit), rec.AuditHead)
	v.Chain = ChainStatus{OK: verr == nil, Verified: res.Verified, Legacy: res.Legacy, Head: rec.AuditHead}
	if verr != nil {
		v.Chain.Problem = verr.Error()
	}
	if db.d.Plans != nil {
		v.HasPlans = true
		if v.Planned, err = db.d.Plans.Planned(r.ctx, key); err != nil {
			v.Flash = "Planned actions unavailable: " + err.Error()
		}
	}
	return db.render(r, http.StatusOK, "case", v)
}

func (db *Dashboard) evidence(r *request, key, format string) customhandler.HTTPOutput {
	rec, audit, err := db.loadCase(r, key)
	if err != nil {
		return db.notFound(r, err, key)
	}
	rows := chainRows(rec, audit)
	var b bytes.Buffer
	ct := "application/json"
	if format == "csv" {
		ct = "text/csv; charset=utf-8"
		err = auditchain.WriteCSV(&b, rows)
	} else {
		err = auditchain.WriteJSON(&b, auditchain.Export{CaseKey: key, UPN: rec.UPN, Head: rec.AuditHead, ExportedAt: db.d.Clock.Now().UTC(), Rows: rows})
	}
	if err != nil {
		return db.errorPage(r, http.StatusInternalServerError, err.Error())
	}
	o := out(http.StatusOK, ct, b.String())
	o.Headers["Content-Disposition"] = fmt.Sprintf("attachment; filename=\"holdfast-audit-%s.%s\"", key, format)
	return o
}

// Op is an admin operation as the confirm page shows it.
type Op struct {
	Name, Title, Effect, Param, ParamLabel, Value string
}

var ops = map[string]Op{
	"release": {Name: "release", Title: "Release", Param: "reason", ParamLabel: "Reason (goes to the audit)",
		Effect: "holdfast stops protecting this mailbox: no rescue, the purge clock is still watched and warned."},
	"restore": {Name: "restore", Title: "Restore to a target", Param: "to", ParamLabel: "Target mailbox UPN (put on Litigation Hold first)",
		Effect: "copies the soft-deleted or inactive mailbox into the target with New-MailboxRestoreRequest."},
	"recover": {Name: "recover", Title: "Recover", Param: "upn", ParamLabel: "UPN of the new account (empty: the leaver's)",
		Effect: "restores the user, or recovers the inactive mailbox into a new account (rehire path)."},
}

// maxActor bounds the name an admin types for the audit.
const maxActor = 64

func cleanActor(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	if len([]rune(s)) > maxActor {
		s = string([]rune(s)[:maxActor])
	}
	return s
}

// confirm shows what an operation will do and asks again, with a token
// binding the exact parameters.
func (db *Dashboard) confirm(r *request, key string) customhandler.HTTPOutput {
	op, ok := ops[r.form.Get("op")]
	if !ok {
		return db.errorPage(r, http.StatusBadRequest, "Unknown operation.")
	}
	rec, err := db.d.Reader.LoadCase(r.ctx, key)
	if err != nil {
		return db.notFound(r, err, key)
	}
	op.Value = strings.TrimSpace(r.form.Get(op.Param))
	actor := cleanActor(r.form.Get("actor"))
	var problems []string
	if actor == "" {
		problems = append(problems, "Say who you are: your name goes to the audit.")
	}
	if op.Name == "release" && op.Value == "" {
		problems = append(problems, "A release needs a reason.")
	}
	if op.Name == "restore" && op.Value == "" {
		problems = append(problems, "A restore needs a target mailbox.")
	}
	exp := db.d.Clock.Now().Add(tokenTTL)
	if wall := time.Now().Add(tokenTTL); wall.After(exp) {
		exp = wall // a virtual clock may stand still or lag: never expire early
	}
	return db.render(r, http.StatusOK, "confirm", map[string]any{
		"Key": key, "UPN": rec.UPN, "State": rec.State, "Op": op, "Actor": actor, "Problems": problems,
		"Token": db.token(exp, key, op.Name, op.Value, actor),
	})
}

// run executes a confirmed operation through the engine (audited as
// "admin:dashboard:<name>") and redirects to the case page.
func (db *Dashboard) run(r *request, key string) customhandler.HTTPOutput {
	op, ok := ops[r.form.Get("op")]
	if !ok {
		return db.errorPage(r, http.StatusBadRequest, "Unknown operation.")
	}
	value := strings.TrimSpace(r.form.Get(op.Param))
	actor := cleanActor(r.form.Get("actor"))
	if err := db.checkToken(r.form.Get("token"), time.Now(), key, op.Name, value, actor); err != nil {
		return db.errorPage(r, http.StatusForbidden, err.Error())
	}
	if actor == "" {
		return db.errorPage(r, http.StatusBadRequest, "Say who you are.")
	}
	who := "dashboard:" + actor
	var err error
	switch op.Name {
	case "release":
		_, err = db.d.Admin.Release(r.ctx, key, value, who)
	case "restore":
		_, err = db.d.Admin.RestoreTo(r.ctx, key, value, who)
	case "recover":
		_, err = db.d.Admin.Recover(r.ctx, key, value, who)
	}
	if err != nil {
		status := http.StatusBadGateway
		if errors.Is(err, tenant.ErrNotFound) {
			status = http.StatusNotFound
		} else if isBadRequest(err) {
			status = http.StatusBadRequest
		}
		return db.errorPage(r, status, op.Title+" failed: "+err.Error())
	}
	o := out(http.StatusSeeOther, "text/plain; charset=utf-8", "done")
	o.Headers["Location"] = r.Link("ui/case/"+key, "done", op.Name)
	return o
}

// isBadRequest reports whether err says the operation was refused as
// asked (the engine's ErrBadRequest), not failed.
func isBadRequest(err error) bool {
	var br interface{ BadRequest() bool }
	return errors.As(err, &br) && br.BadRequest()
}

// RejectedRow is one rejected event on its page.
type RejectedRow struct {
	ledger.RejectedEvent
	Text string
}

func (db *Dashboard) rejected(r *request) customhandler.HTTPOutput {
	var rows []RejectedRow
	err := db.d.Reader.ListRejected(r.ctx, 200, func(e ledger.RejectedEvent) error {
		rows = append(rows, RejectedRow{e, string(e.Body)})
		return nil
	})
	if err != nil {
		return db.errorPage(r, http.StatusServiceUnavailable, "Storage did not answer: "+err.Error())
	}
	return db.render(r, http.StatusOK, "rejected", rows)
}

// Check is one line of the health page.
type Check struct {
	Name, Status, Detail string
	OK                   bool
	Known                bool
}

func (db *Dashboard) health(r *request) customhandler.HTTPOutput {
	var checks []Check
	t0 := time.Now()
	run, err := db.d.Reader.LastRun(r.ctx, "sweep")
	storageOK := err == nil || errors.Is(err, ledger.ErrNotFound)
	st := Check{Name: "Storage", Known: true, OK: storageOK, Status: "answering", Detail: fmt.Sprintf("Table Storage answered in %d ms", time.Since(t0).Milliseconds())}
	if !storageOK {
		st.Status, st.Detail = "not answering", err.Error()
	}
	checks = append(checks, st)
	sub := Check{Name: "Graph subscription", Status: "not configured", Detail: "holdfast manages no Graph change-notification subscription (HOLDFAST_GRAPH_NOTIFICATION_URL is not set)"}
	if db.d.Subscriptions != nil {
		s, err := db.d.Subscriptions.Subscription(r.ctx)
		sub.Known = true
		if err != nil {
			sub.Status, sub.Detail = "unknown", err.Error()
		} else {
			sub.OK, sub.Status, sub.Detail = s.Healthy, s.State, s.Detail
			if !s.ExpiresAt.IsZero() {
				sub.Detail = strings.TrimSpace(sub.Detail + " (" + s.Resource + ", expires " + s.ExpiresAt.UTC().Format(time.RFC3339) + ")")
			}
		}
	}
	checks = append(checks, sub)
	for _, n := range []struct{ name, label string }{{"sweep", "Last sweep"}, {"reconcile", "Last reconcile"}} {
		c := Check{Name: n.label, Known: true}
		if n.name != "sweep" || storageOK {
			run, err = db.d.Reader.LastRun(r.ctx, n.name)
		}
		switch {
		case errors.Is(err, ledger.ErrNotFound):
			c.Status, c.Detail = "never", "no run recorded yet"
		case err != nil:
			c.Status, c.Detail = "unknown", err.Error()
		default:
			c.OK = run.OK
			c.Status = run.At.UTC().Format("2006-01-02 15:04 MST") + " (" + ago(db.d.Clock.Now().Sub(run.At)) + ")"
			if !run.OK {
				c.Status += ", failed"
			}
			c.Detail = run.Summary
		}
		checks = append(checks, c)
	}
	return db.render(r, http.StatusOK, "health", map[string]any{"Checks": checks, "Mode": db.d.Mode})
}

// ago says how long ago, in the largest units that matter.
func ago(d time.Duration) string {
	switch {
	case d < 0:
		return "in the future"
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h %d min ago", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%d days %d h ago", int(d.Hours())/24, int(d.Hours())%24)
}

var funcs = template.FuncMap{
	"date": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("Mon 2 Jan 2006 15:04 MST")
	},
	"datep": func(t *time.Time) string {
		if t == nil || t.IsZero() {
			return "—"
		}
		return t.UTC().Format("Mon 2 Jan 2006 15:04 MST")
	},
	"iso":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"stamp": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
	"same":  strings.EqualFold,
	"days": func(d float64) string {
		switch {
		case d < 0:
			return fmt.Sprintf("%.1f days overdue", -d)
		case d < 1:
			return fmt.Sprintf("%.0f hours left", d*24)
		}
		return fmt.Sprintf("%.1f days left", d)
	},
	"short": func(s string) string {
		if len(s) > 12 {
			return s[:12] + "…"
		}
		return s
	},
	"dict":   func(r *request, rows []Row) map[string]any { return map[string]any{"R": r, "Rows": rows} },
	"deref":  func(t *time.Time) time.Time { return *t },
	"lower":  strings.ToLower,
	"opList": func() []Op { return []Op{ops["restore"], ops["recover"], ops["release"]} },
	"groups": func() []Count {
		var out []Count
		for _, g := range groups {
			out = append(out, Count{Group: g.G, Label: g.Label})
		}
		return out
	},
}

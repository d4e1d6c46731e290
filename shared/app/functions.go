// Package app binds holdfast's functions to the custom-handler server: one
// handler per function folder, and the Api routes. It also wires the
// production dependencies from configuration (wire.go).
package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/config"
	"github.com/holdfast/holdfast/shared/customhandler"
	"github.com/holdfast/holdfast/shared/dashboard"
	"github.com/holdfast/holdfast/shared/engine"
	"github.com/holdfast/holdfast/shared/events"
	"github.com/holdfast/holdfast/shared/ledger"
	"github.com/holdfast/holdfast/shared/redelivery"
	"github.com/holdfast/holdfast/shared/retention"
	"github.com/holdfast/holdfast/shared/subscription"
	"github.com/holdfast/holdfast/shared/tenant"
)

// Function names: the folder names under functions/, case as written.
const (
	FnOnOffboarding    = "OnOffboarding"
	FnOnDirectoryEvent = "OnDirectoryEvent"
	FnExpirySweep      = "ExpirySweep"
	FnReconcile        = "Reconcile"
	FnSubscription     = "SubscriptionRenewal"
	FnApi              = "Api"
)

// Queues, as bound in function.json.
const (
	QueueHR        = "hr-offboarding"
	QueueDirectory = "directory-events"
)

// Reader is what the Api reads.
type Reader interface {
	LoadCase(ctx context.Context, key string) (ledger.CaseRecord, error)
	ListCases(ctx context.Context, fn func(ledger.CaseRecord) error) error
	ListAudit(ctx context.Context, key string, fn func(ledger.AuditRecord) error) error
	ListRejected(ctx context.Context, max int, fn func(ledger.RejectedEvent) error) error
}

// Functions holds what the function handlers need.
type Functions struct {
	Engine *engine.Engine
	Reader Reader
	Mode   config.Mode
	Clock  interface{ Now() time.Time }
	// Subscription owns holdfast's Graph subscription; its Reconcile wraps
	// the engine's with health records and the notification-gap alert.
	Subscription *subscription.Manager
	// Dashboard serves the admin pages under the Api route (nil: none).
	Dashboard *dashboard.Dashboard
	// Runs records the last sweep and reconcile for the health page (nil:
	// not recorded).
	Runs RunRecorder
}

// RunRecorder keeps the last run of a scheduled function.
type RunRecorder interface {
	RecordRun(ctx context.Context, r ledger.Run) error
}

// recordRun notes a timer function's run; a failure to note it is logged,
// never the function's failure.
func (f *Functions) recordRun(ctx context.Context, name string, ok bool, summary string) {
	if f.Runs == nil {
		return
	}
	if err := f.Runs.RecordRun(ctx, ledger.Run{Name: name, At: f.Clock.Now(), OK: ok, Summary: summary}); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Str("run", name).Msg("could not record the run for the health page")
	}
}

// Handlers maps each function folder name to its handler.
func (f *Functions) Handlers() map[string]customhandler.HandlerFunc {
	return map[string]customhandler.HandlerFunc{
		FnOnOffboarding:    f.queue(QueueHR),
		FnOnDirectoryEvent: f.queue(QueueDirectory),
		FnExpirySweep:      f.sweep,
		FnReconcile:        f.reconcile,
		FnSubscription:     f.subscription,
		FnApi:              f.api,
	}
}

// Register adds every function to the server.
func (f *Functions) Register(s *customhandler.Server) {
	for name, h := range f.Handlers() {
		s.Handle(name, h)
	}
}

// FunctionNames lists the functions in a stable order.
func FunctionNames() []string {
	return []string{FnOnOffboarding, FnOnDirectoryEvent, FnExpirySweep, FnReconcile, FnSubscription, FnApi}
}

func (f *Functions) queue(q string) customhandler.HandlerFunc {
	return func(ctx context.Context, inv *customhandler.Invocation) (customhandler.Response, error) {
		msg, err := inv.ServiceBusMessage("msg", customhandler.BodyBinary)
		if err != nil {
			// The envelope itself is unreadable: keep what arrived as a
			// rejected event so nothing vanishes, and complete.
			raw, _ := json.Marshal(inv.Data)
			out, kerr := f.Engine.Reject(ctx, engine.Message{Queue: events.Queue(q), Body: raw, MessageID: "envelope-" + inv.InvocationID}, "bad_envelope", err.Error())
			if kerr != nil {
				return customhandler.Response{}, kerr
			}
			return customhandler.Response{Logs: []string{"rejected: " + out.Reason},
				ReturnValue: MessageResult{Queue: q, MessageID: "envelope-" + inv.InvocationID, Result: out.Result, Reason: out.Reason}}, nil
		}
		if len(msg.ShadowedKeys) > 0 {
			zerolog.Ctx(ctx).Warn().Strs("shadowedKeys", msg.ShadowedKeys).Msg("message body shadows system metadata; those keys are not trusted")
		}
		// A scheduled retry copy has its own id and delivery count; the
		// engine sees the original's, with the deliveries of every copy.
		rs, _ := redelivery.Read(msg.ApplicationProperties, msg.StableID(), msg.DeliveryCount)
		out, err := f.Engine.HandleMessage(ctx, engine.Message{
			Queue: events.Queue(q), Body: msg.Body, MessageID: rs.OriginalID, DeliveryCount: rs.Deliveries(),
		})
		if err != nil {
			return customhandler.Response{}, fmt.Errorf("message %s (delivery %d): %w", msg.StableID(), msg.DeliveryCount, err)
		}
		line := fmt.Sprintf("%s message %s: %s", q, msg.StableID(), out.Result)
		if out.CaseKey != "" {
			line += " case " + out.CaseKey + " state " + out.State
		}
		if out.Reason != "" {
			line += " (" + out.Reason + ")"
		}
		return customhandler.Response{Logs: []string{line}, ReturnValue: MessageResult{
			Queue: q, MessageID: msg.StableID(), Result: out.Result, CaseKey: out.CaseKey, State: out.State, Reason: out.Reason,
		}}, nil
	}
}

// MessageResult is a queue function's return value (the response's
// ReturnValue, which the host ignores without a $return binding): what
// became of one delivery. The test bed reads outcomes from it, never from
// the log lines. Its first four names are those engine.Outcome had when it
// was the return value, so a reader of those keeps working.
type MessageResult struct {
	Result  string // one of the Result* values
	CaseKey string `json:",omitempty"`
	State   string `json:",omitempty"`
	Reason  string `json:",omitempty"`
	Queue   string
	// MessageID is the delivered message's id (a retry copy's own id).
	MessageID string
}

// MessageResult.Result values: the engine's outcomes, and
// ResultRetryScheduled, a transient failure answered by scheduling a retry
// copy (the delivery completes).
const (
	ResultApplied        = "applied"
	ResultDuplicate      = "duplicate"
	ResultRejected       = "rejected"
	ResultIgnored        = "ignored"
	ResultRetryScheduled = "retryScheduled"
)

func (f *Functions) sweep(ctx context.Context, inv *customhandler.Invocation) (customhandler.Response, error) {
	if _, err := inv.Timer("timer"); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("timer payload unreadable; sweeping anyway")
	}
	res, err := f.Engine.Sweep(ctx)
	if err != nil {
		f.recordRun(ctx, "sweep", false, err.Error())
		// Timers are not retried by the host; the next run picks up.
		return customhandler.Response{}, err
	}
	line := fmt.Sprintf("sweep: %d due, %d processed, %d skipped, %d failed", res.Due, res.Processed, res.Skipped, res.Failed)
	f.recordRun(ctx, "sweep", res.Failed == 0, line)
	return customhandler.Response{Logs: []string{line}, ReturnValue: res}, nil
}

func (f *Functions) reconcile(ctx context.Context, inv *customhandler.Invocation) (customhandler.Response, error) {
	if _, err := inv.Timer("timer"); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("timer payload unreadable; reconciling anyway")
	}
	var res engine.ReconcileResult
	var err error
	if f.Subscription != nil {
		res, err = f.Subscription.Reconcile(ctx, "timer")
	} else {
		res, err = f.Engine.Reconcile(ctx, nil)
	}
	if err != nil {
		f.recordRun(ctx, "reconcile", false, err.Error())
		return customhandler.Response{}, err
	}
	f.recordRun(ctx, "reconcile", true, res.String())
	return customhandler.Response{Logs: []string{res.String()}, ReturnValue: res}, nil
}

func (f *Functions) subscription(ctx context.Context, inv *customhandler.Invocation) (customhandler.Response, error) {
	if _, err := inv.Timer("timer"); err != nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("timer payload unreadable; checking the subscription anyway")
	}
	if f.Subscription == nil {
		return customhandler.Response{Logs: []string{"subscription: not wired"}}, nil
	}
	rep, err := f.Subscription.Ensure(ctx)
	if err != nil {
		// Alerted and recorded; the next run retries.
		f.recordRun(ctx, "subscription", false, err.Error())
		return customhandler.Response{}, err
	}
	f.recordRun(ctx, "subscription", true, rep.String())
	return customhandler.Response{Logs: []string{rep.String()}, ReturnValue: rep}, nil
}

// authLevelClaim is the claim the Functions host puts on a request it let
// through with a function or admin key.
const authLevelClaim = "http://schemas.microsoft.com/2017/07/functions/claims/authlevel"

// authorized checks, in Azure, that the host authenticated the caller with
// a key (authLevel function). The host enforces it already; this refuses a
// request that reached the handler some other way.
func authorized(mode config.Mode, req customhandler.HTTPRequest) bool {
	if mode == config.ModeLocal {
		return true
	}
	for _, raw := range req.Identities {
		var id struct {
			AuthenticationType string
			IsAuthenticated    bool
			Claims             []struct{ Type, Value string }
		}
		if json.Unmarshal(raw, &id) != nil || !id.IsAuthenticated || id.AuthenticationType != "WebJobsAuthLevel" {
			continue
		}
		for _, c := range id.Claims {
			if c.Type == authLevelClaim && (c.Value == "Function" || c.Value == "Admin") {
				return true
			}
		}
	}
	return false
}

func httpOut(status int, v any) customhandler.Response {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding response"}`)
	}
	return customhandler.Response{Outputs: map[string]any{"res": customhandler.HTTPOutput{
		StatusCode: status, Body: string(b), Headers: map[string]string{"Content-Type": "application/json"},
	}}}
}

func (f *Functions) api(ctx context.Context, inv *customhandler.Invocation) (customhandler.Response, error) {
	req, err := inv.HTTPRequest("req")
	if err != nil {
		return httpOut(http.StatusBadRequest, map[string]string{"error": "unreadable request: " + err.Error()}), nil
	}
	if !authorized(f.Mode, req) {
		return httpOut(http.StatusUnauthorized, map[string]string{"error": "a function key is required"}), nil
	}
	path := strings.Trim(req.Params["path"], "/")
	if f.Dashboard != nil && dashboard.Handles(path, req) {
		return customhandler.Response{Outputs: map[string]any{"res": f.Dashboard.Serve(ctx, req, path)}}, nil
	}
	parts := strings.Split(path, "/")
	switch {
	case path == "" || path == "health":
		return f.health(ctx), nil
	case path == "cases":
		return f.apiCases(ctx, req)
	case len(parts) == 2 && parts[0] == "cases":
		return f.apiCase(ctx, parts[1], true)
	case len(parts) == 3 && parts[0] == "cases" && parts[2] == "audit":
		return f.apiCase(ctx, parts[1], false)
	case path == "rejected":
		return f.apiRejected(ctx, req)
	case len(parts) == 3 && parts[0] == "cases" && strings.EqualFold(req.Method, "POST"):
		return f.apiAdmin(ctx, req, parts[1], parts[2])
	}
	return httpOut(http.StatusNotFound, map[string]string{"error": "no route " + path}), nil
}

// healthProbe bounds the storage read behind GET health.
const healthProbe = 5 * time.Second

// health reads one row of the storage: 503 with the reason when it does
// not answer, so a monitor sees an outage the handler is riding out.
func (f *Functions) health(ctx context.Context) customhandler.Response {
	pctx, cancel := context.WithTimeout(ctx, healthProbe)
	defer cancel()
	if err := f.Reader.ListRejected(pctx, 1, func(ledger.RejectedEvent) error { return nil }); err != nil {
		return httpOut(http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "reason": "table storage: " + err.Error(), "time": f.Clock.Now()})
	}
	out := map[string]any{"status": "ok", "time": f.Clock.Now()}
	if f.Subscription != nil {
		// The Graph subscription: state, expiry, the last notification
		// received and the last reconcile. Missing, failing or expiring
		// makes the status "degraded", still 200: holdfast works without
		// notifications, through Reconcile.
		st, err := f.Subscription.Status(pctx)
		if err != nil {
			return httpOut(http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "reason": "table storage: " + err.Error(), "time": f.Clock.Now()})
		}
		out["subscription"] = st
		switch st.State {
		case "missing", "failing", "expiring":
			out["status"] = "degraded"
		}
	}
	return httpOut(http.StatusOK, out)
}

// CaseSummary is one row of GET cases.
type CaseSummary struct {
	Key      string     `json:"key"`
	UPN      string     `json:"upn"`
	State    string     `json:"state"`
	Deadline *time.Time `json:"deadline,omitempty"`
	DaysLeft *float64   `json:"daysLeft,omitempty"`
	// Planned lists the pending tenant writes observe-only mode decided
	// and did not perform ("step: op").
	Planned []string `json:"planned,omitempty"`
}

func (f *Functions) apiCases(ctx context.Context, req customhandler.HTTPRequest) (customhandler.Response, error) {
	all, plannedOnly := req.Query["all"] == "true", req.Query["planned"] == "true"
	var out []CaseSummary
	now := f.Clock.Now()
	err := f.Reader.ListCases(ctx, func(r ledger.CaseRecord) error {
		s := CaseSummary{Key: r.Key, UPN: r.UPN, State: r.State}
		if !r.Deadline.IsZero() {
			d := r.Deadline
			left := d.Sub(now).Hours() / 24
			s.Deadline, s.DaysLeft = &d, &left
		}
		if pl, err := engine.PlannedActions(r.Data); err == nil {
			for _, p := range pl {
				if p.Status == engine.PlannedPending {
					s.Planned = append(s.Planned, p.Step+": "+p.Op)
				}
			}
		}
		if plannedOnly {
			if len(s.Planned) > 0 {
				out = append(out, s)
			}
			return nil
		}
		if all || s.Deadline != nil || len(s.Planned) > 0 || r.State == "blocked" || r.State == "failing" || r.State == "protecting" {
			out = append(out, s)
		}
		return nil
	})
	if err != nil {
		return customhandler.Response{}, err
	}
	// At risk first, soonest deadline first.
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Deadline, out[j].Deadline
		switch {
		case a != nil && b != nil:
			return a.Before(*b)
		case a != nil:
			return true
		case b != nil:
			return false
		}
		return out[i].Key < out[j].Key
	})
	return httpOut(http.StatusOK, map[string]any{"cases": out, "count": len(out)}), nil
}

func (f *Functions) apiCase(ctx context.Context, key string, withCase bool) (customhandler.Response, error) {
	rec, err := f.Reader.LoadCase(ctx, key)
	if errors.Is(err, ledger.ErrNotFound) || errors.Is(err, ledger.ErrInvalidKey) {
		return httpOut(http.StatusNotFound, map[string]string{"error": "no case " + key}), nil
	}
	if err != nil {
		return customhandler.Response{}, err
	}
	var audit []ledger.AuditRecord
	if err := f.Reader.ListAudit(ctx, key, func(a ledger.AuditRecord) error { audit = append(audit, a); return nil }); err != nil {
		return customhandler.Response{}, err
	}
	if !withCase {
		return httpOut(http.StatusOK, map[string]any{"key": key, "audit": audit}), nil
	}
	var data json.RawMessage = rec.Data
	planned, _ := engine.PlannedActions(rec.Data)
	return httpOut(http.StatusOK, map[string]any{"key": key, "state": rec.State, "record": data, "planned": planned, "timeline": audit}), nil
}

func (f *Functions) apiRejected(ctx context.Context, req customhandler.HTTPRequest) (customhandler.Response, error) {
	max := 100
	if n, err := strconv.Atoi(req.Query["max"]); err == nil && n > 0 && n <= 1000 {
		max = n
	}
	type row struct {
		Queue, Code, Reason, Field, MessageID string
		ReceivedAt                            time.Time
		Body                                  string
	}
	var out []row
	err := f.Reader.ListRejected(ctx, max, func(r ledger.RejectedEvent) error {
		out = append(out, row{r.Queue, r.Code, r.Reason, r.Field, r.MessageID, r.ReceivedAt, string(r.Body)})
		return nil
	})
	if err != nil {
		return customhandler.Response{}, err
	}
	return httpOut(http.StatusOK, map[string]any{"rejected": out, "count": len(out)}), nil
}

// apiAdmin runs an admin operation: POST cases/{UPN|key}/release
// {"reason": ...}, .../restore {"to": UPN}, .../recover {"upn": UPN}. The
// caller named in the body's "actor" (or "api") goes to the audit.
func (f *Functions) apiAdmin(ctx context.Context, req customhandler.HTTPRequest, ref, op string) (customhandler.Response, error) {
	var body struct {
		Reason string `json:"reason"`
		To     string `json:"to"`
		UPN    string `json:"upn"`
		Actor  string `json:"actor"`
	}
	if len(req.Body) > 0 {
		if err := json.Unmarshal(req.Body, &body); err != nil {
			return httpOut(http.StatusBadRequest, map[string]string{"error": "body: " + err.Error()}), nil
		}
	}
	actor := "api"
	if body.Actor != "" {
		actor = "api:" + body.Actor
	}
	var (
		c   retention.Case
		err error
	)
	switch op {
	case "release":
		c, err = f.Engine.Release(ctx, ref, body.Reason, actor)
	case "restore":
		c, err = f.Engine.RestoreTo(ctx, ref, body.To, actor)
	case "recover":
		c, err = f.Engine.Recover(ctx, ref, body.UPN, actor)
	default:
		return httpOut(http.StatusNotFound, map[string]string{"error": "no operation " + op}), nil
	}
	switch {
	case errors.Is(err, engine.ErrBadRequest):
		return httpOut(http.StatusBadRequest, map[string]string{"error": err.Error()}), nil
	case errors.Is(err, tenant.ErrNotFound):
		return httpOut(http.StatusNotFound, map[string]string{"error": err.Error()}), nil
	case err != nil:
		return httpOut(http.StatusBadGateway, map[string]string{"error": err.Error()}), nil
	}
	return httpOut(http.StatusOK, map[string]any{"key": c.Key, "upn": c.UPN, "state": c.State, "reason": c.Reason}), nil
}

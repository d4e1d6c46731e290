// Package events decodes and validates every event holdfast receives from
// Service Bus into a typed domain Event, and refuses bad input with a
// *Rejection that names the field and says why. It does no I/O.
//
// Events are CloudEvents 1.0 in structured JSON mode: holdfast's own
// io.holdfast.* types (HR system, directory systems that publish directly)
// and Microsoft Graph user change notifications delivered by Event Grid.
//
// The CloudEvents envelope is validated here rather than with
// github.com/cloudevents/sdk-go/v2/event. The SDK compiles quickly but adds
// json-iterator, modern-go/reflect2 (which reaches into the runtime with
// go:linkname), zap and multierr to a shared go.mod, and it would cover only
// the four required attributes and time parsing. Everything holdfast needs
// beyond that (size, UTF-8, depth and duplicate-key checks before parsing,
// exact-case keys, field-named admin-readable reasons) has to be done here
// anyway. See docs/events.md for the rules.
package events

import (
	"fmt"
	"maps"
	"mime"
	"slices"
	"strings"
	"time"
)

// Kind is what an event means to the retention engine.
type Kind string

// Event kinds.
const (
	KindOffboarding          Kind = "offboarding"
	KindOffboardingCancelled Kind = "offboardingCancelled"
	KindRehire               Kind = "rehire"
	KindLicenseRemoved       Kind = "licenseRemoved"
	KindUserDeleted          Kind = "userDeleted"
	KindUserRestored         Kind = "userRestored"
	KindUserChanged          Kind = "userChanged" // Graph UserUpdated: re-read the user (soft deletes arrive this way)
	KindUserPurged           Kind = "userPurged"  // Graph UserDeleted: permanently deleted
	// KindSubscriptionLifecycle: a Graph lifecycle notification about
	// holdfast's own subscription (Event.Lifecycle says which).
	KindSubscriptionLifecycle Kind = "subscriptionLifecycle"
)

// CloudEvents types holdfast accepts.
const (
	TypeOffboarding          = "io.holdfast.hr.offboarding"
	TypeOffboardingCancelled = "io.holdfast.hr.offboardingCancelled"
	TypeRehire               = "io.holdfast.hr.rehire"
	TypeLicenseRemoved       = "io.holdfast.directory.licenseRemoved"
	TypeUserDeleted          = "io.holdfast.directory.userDeleted"
	TypeUserRestored         = "io.holdfast.directory.userRestored"
	TypeGraphUserUpdated     = "Microsoft.Graph.UserUpdated"
	TypeGraphUserDeleted     = "Microsoft.Graph.UserDeleted"
	// Lifecycle notifications as Event Grid delivers them (Learn: "Receive
	// Microsoft Graph change notifications through Azure Event Grid").
	TypeGraphSubscriptionReauthorizationRequired = "Microsoft.Graph.SubscriptionReauthorizationRequired"
	TypeGraphSubscriptionRemoved                 = "Microsoft.Graph.SubscriptionRemoved"
)

// Queue is the Service Bus queue a message arrived on.
type Queue string

// Queues. HR types are accepted only on QueueHR, directory types (holdfast's
// own and Graph's) only on QueueDirectory.
const (
	QueueHR        Queue = "hr-offboarding"
	QueueDirectory Queue = "directory-events"
)

// UserRef identifies a user as the event did. ObjectID is lower-cased.
type UserRef struct {
	ObjectID, UPN, EmployeeID string
}

// HRDecision is what HR decided for a leaver.
type HRDecision struct {
	LastWorkingDay   string // YYYY-MM-DD; offboarding only
	Retention        string // "retain", "release" or a named policy; offboarding only
	HoldDurationDays *int   // nil = not given (policy default); 0 = unlimited
	ArchiveTarget    string // mailbox for copy-to-archive rescues; optional
	Ticket           string // HR ticket reference
	NewUPN           string // rehire only, optional
}

// Event is a validated inbound event.
type Event struct {
	ID     string    // CloudEvents id: the dedupe key
	Type   string    // CloudEvents type
	Kind   Kind      //
	Source string    // CloudEvents source
	Time   time.Time // CloudEvents time, UTC, or zero

	TenantID       string      // lower-case GUID: from the event, else Options.TenantID
	User           UserRef     //
	HR             *HRDecision // HR kinds only
	SKUIDs         []string    // licenseRemoved: lower-case skuId GUIDs, deduplicated
	OccurredAt     time.Time   // when it happened: removedAt/deletedAt/restoredAt, Graph eventTime, else Time
	DeletionSource string      // userDeleted: "entra" or "exchange"
	Sequence       int64       // Graph sequenceNumber when present
	Lifecycle      *Lifecycle  // KindSubscriptionLifecycle only
}

// Options tune Decode.
type Options struct {
	// TenantID is the tenant holdfast serves. Graph events (and holdfast
	// events that carry data.tenantId) for another tenant are rejected. Empty
	// accepts any tenant: local development only.
	TenantID string
	// MaxBytes is the body size limit; 0 means DefaultMaxBytes.
	MaxBytes int
	// Now anchors the date sanity checks; zero means time.Now(). The engine
	// passes its clock so the virtual clock of the local stack applies.
	Now time.Time
	// ClientState, when set, must equal the clientState of every Graph
	// notification: the secret given to Graph when the subscription was
	// created, proving the notification came from that subscription.
	ClientState string
}

type typeInfo struct {
	kind   Kind
	queue  Queue
	decode func(*decoder, object) *Rejection
}

// lookupType is a switch rather than a package-level map so the table cannot
// be mutated.
func lookupType(t string) (typeInfo, bool) {
	switch t {
	case TypeOffboarding:
		return typeInfo{KindOffboarding, QueueHR, (*decoder).offboarding}, true
	case TypeOffboardingCancelled:
		return typeInfo{KindOffboardingCancelled, QueueHR, (*decoder).offboardingCancelled}, true
	case TypeRehire:
		return typeInfo{KindRehire, QueueHR, (*decoder).rehire}, true
	case TypeLicenseRemoved:
		return typeInfo{KindLicenseRemoved, QueueDirectory, (*decoder).licenseRemoved}, true
	case TypeUserDeleted:
		return typeInfo{KindUserDeleted, QueueDirectory, (*decoder).userDeleted}, true
	case TypeUserRestored:
		return typeInfo{KindUserRestored, QueueDirectory, (*decoder).userRestored}, true
	case TypeGraphUserUpdated:
		return typeInfo{KindUserChanged, QueueDirectory, (*decoder).graphUser}, true
	case TypeGraphUserDeleted:
		return typeInfo{KindUserPurged, QueueDirectory, (*decoder).graphUser}, true
	case TypeGraphSubscriptionReauthorizationRequired, TypeGraphSubscriptionRemoved:
		return typeInfo{KindSubscriptionLifecycle, QueueDirectory, (*decoder).graphLifecycle}, true
	}
	return typeInfo{}, false
}

func knownTypes() []string {
	return []string{TypeOffboarding, TypeOffboardingCancelled, TypeRehire, TypeLicenseRemoved,
		TypeUserDeleted, TypeUserRestored, TypeGraphUserUpdated, TypeGraphUserDeleted,
		TypeGraphSubscriptionReauthorizationRequired, TypeGraphSubscriptionRemoved}
}

// decoder carries one Decode call's state.
type decoder struct {
	opts    Options
	now     time.Time
	subject string // CloudEvents subject, checked against the Graph resource
	ev      Event
}

// Decode validates body, a message from queue q, and returns the typed event.
// Bad input yields a *Rejection (errors.Is(err, ErrRejected)); an unknown q
// yields ErrUnknownQueue. Decode never panics on any input.
func Decode(q Queue, body []byte, opts Options) (Event, error) {
	if q != QueueHR && q != QueueDirectory {
		return Event{}, fmt.Errorf("%w %q", ErrUnknownQueue, string(q))
	}
	limit := opts.MaxBytes
	if limit <= 0 {
		limit = DefaultMaxBytes
	}
	if opts.TenantID != "" {
		if !isGUID(opts.TenantID) {
			return Event{}, fmt.Errorf("events: Options.TenantID %q is not a GUID", opts.TenantID)
		}
		opts.TenantID = strings.ToLower(opts.TenantID)
	}
	d := &decoder{opts: opts, now: opts.Now}
	if d.now.IsZero() {
		d.now = time.Now()
	}
	d.now = d.now.UTC()

	if rej := precheck(body, limit); rej != nil {
		return Event{}, rej
	}
	env, rej := parseObject("", body)
	if rej != nil {
		return Event{}, rej
	}
	if rej := d.decode(q, env); rej != nil {
		rej.EventID, rej.EventType = d.ev.ID, d.ev.Type
		return Event{}, rej
	}
	return d.ev, nil
}

func (d *decoder) decode(q Queue, env object) *Rejection {
	// Event Grid schema first: it lacks specversion, and "missing specversion"
	// would hide the real fix.
	if !env.has("specversion") && (env.has("eventType") || env.has("dataVersion")) {
		return reject(CodeEventGridSchema, "", "this is an Event Grid schema event (it has eventType/dataVersion); holdfast accepts CloudEvents 1.0 only: set the Event Grid subscription's event delivery schema to \"Cloud Event Schema v1.0\"")
	}
	// CloudEvents attribute names are lower-case letters and digits; this also
	// stops "Type" being read by one parser and "type" by another.
	// Sorted, so the same body always gets the same answer.
	for _, k := range slices.Sorted(maps.Keys(env.m)) {
		if k == "data" || k == "data_base64" {
			continue
		}
		if !isAttrName(k) {
			return reject(CodeInvalidField, safeName(k), "%s is not a valid CloudEvents attribute name (lower-case letters and digits only)", quote(k))
		}
	}

	sv, rej := env.reqStr("specversion")
	if rej != nil {
		return rej
	}
	if sv != "1.0" {
		return reject(CodeInvalidField, "specversion", "specversion %s is not supported; holdfast accepts CloudEvents \"1.0\"", quote(sv))
	}
	id, rej := env.reqStr("id")
	if rej != nil {
		return rej
	}
	if rej := checkEventID(id); rej != nil {
		return rej
	}
	d.ev.ID = id

	typ, rej := env.reqStr("type")
	if rej != nil {
		return rej
	}
	if len(typ) <= maxIDLen && safeName(typ) == typ {
		d.ev.Type = typ // shown with the rejection even when the type is unknown
	}
	info, ok := lookupType(typ)
	if !ok {
		return unknownType(typ)
	}
	d.ev.Kind = info.kind
	if info.queue != q {
		return reject(CodeWrongQueue, "type", "%s events belong on the %s queue, but this one arrived on %s; fix the publisher's queue", typ, info.queue, q)
	}

	src, rej := env.reqStr("source")
	if rej != nil {
		return rej
	}
	if rej := checkSource(src); rej != nil {
		return rej
	}
	d.ev.Source = src

	if s, ok, rej := env.str("time"); rej != nil {
		return rej
	} else if ok {
		t, rej := parseTime("time", s, d.now)
		if rej != nil {
			return rej
		}
		d.ev.Time = t
	}
	subject, _, rej := env.str("subject")
	if rej != nil {
		return rej
	}
	d.subject = subject
	if _, _, rej := env.str("dataschema"); rej != nil {
		return rej
	}
	if ct, ok, rej := env.str("datacontenttype"); rej != nil {
		return rej
	} else if ok && !isJSONMediaType(ct) {
		return reject(CodeInvalidField, "datacontenttype", "datacontenttype %s is not supported; data must be JSON (application/json)", quote(ct))
	}
	if _, ok := env.m["data_base64"]; ok {
		return reject(CodeInvalidField, "data_base64", "binary data (data_base64) is not accepted; send data as a JSON object in \"data\"")
	}
	data, ok, rej := env.sub("data")
	if rej != nil {
		return rej
	}
	if !ok {
		return env.missing("data")
	}
	if rej := info.decode(d, data); rej != nil {
		return rej
	}
	if d.ev.TenantID == "" {
		d.ev.TenantID = d.opts.TenantID
	}
	if d.ev.OccurredAt.IsZero() {
		d.ev.OccurredAt = d.ev.Time
	}
	return nil
}

func isAttrName(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

func isJSONMediaType(ct string) bool {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return false
	}
	return mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
}

func unknownType(typ string) *Rejection {
	for _, k := range knownTypes() {
		if strings.EqualFold(k, typ) {
			return reject(CodeUnknownType, "type", "event type %s is not known; did you mean %q? (types are case-sensitive)", quote(typ), k)
		}
	}
	if strings.HasPrefix(typ, "Microsoft.Graph.") {
		if strings.HasPrefix(typ, "Microsoft.Graph.Subscription") {
			return reject(CodeUnsupportedType, "type", "Microsoft Graph lifecycle event %s: holdfast acts on %s and %s only; check its subscription with holdfast status", quote(typ), TypeGraphSubscriptionReauthorizationRequired, TypeGraphSubscriptionRemoved)
		}
		return reject(CodeUnsupportedType, "type", "Microsoft Graph event type %s is not supported: holdfast handles user events only (%s, %s); remove other resources such as groups from the Graph subscription", quote(typ), TypeGraphUserUpdated, TypeGraphUserDeleted)
	}
	return reject(CodeUnknownType, "type", "event type %s is not one holdfast handles; see docs/events.md for the accepted types", quote(typ))
}

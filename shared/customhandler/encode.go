package customhandler

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Wire time layouts the host uses (section 2.2 of the reference).
const (
	// netDateTime: DateTime re-parsed and printed without zone or fraction.
	netDateTime = "2006-01-02T15:04:05"
	// netDateTimeOffset: DateTimeOffset, seconds only, offset with colon.
	netDateTimeOffset = "2006-01-02T15:04:05-07:00"
	// netRoundTrip: Newtonsoft's default for a DateTime inside an object.
	netRoundTrip = "2006-01-02T15:04:05.9999999-07:00"
	// utcNow: sys.UtcNow.
	utcNow = "2006-01-02T15:04:05.9999999Z"
)

// maxTime is what the host sends for a message without TTL.
var maxTime = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)

// LocalNamespace is the Service Bus namespace the encoder reports in
// Metadata.Client.
const LocalNamespace = "holdfast-local.servicebus.windows.net"

// object is a JSON object that keeps insertion order, so encoded envelopes
// read like the host's and are byte-for-byte reproducible. Setting an
// existing key replaces its value in place.
type object struct {
	keys []string
	vals map[string]json.RawMessage
}

func newObject() *object { return &object{vals: map[string]json.RawMessage{}} }

func (o *object) set(k string, v json.RawMessage) {
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

func (o *object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, err := marshal(k)
		if err != nil {
			return nil, err
		}
		b.Write(kb)
		b.WriteByte(':')
		b.Write(o.vals[k])
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// marshal is json.Marshal without HTML escaping, as Newtonsoft writes.
func marshal(v any) (json.RawMessage, error) {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func mustMarshal(v any) json.RawMessage {
	b, err := marshal(v)
	if err != nil {
		// Only called with strings, maps of strings and other values that
		// always marshal.
		panic(err)
	}
	return b
}

// doubleString is the host's encoding of a string: JSON of the JSON.
func doubleString(s string) json.RawMessage {
	return mustMarshal(string(mustMarshal(s)))
}

// intString is the host's encoding of an int or long: a JSON string.
func intString(n int64) json.RawMessage { return mustMarshal(strconv.FormatInt(n, 10)) }

func timeString(t time.Time, layout string) json.RawMessage {
	return mustMarshal(t.UTC().Format(layout))
}

// guid derives a GUID-shaped identifier from parts, so encoded envelopes
// are deterministic (the host's are random; nothing depends on that).
func guid(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	b := h.Sum(nil)[:16]
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func sysObject(function string, now time.Time, seed ...string) json.RawMessage {
	o := newObject()
	o.set("MethodName", mustMarshal(function))
	o.set("UtcNow", timeString(now, utcNow))
	o.set("RandGuid", mustMarshal(guid(append([]string{"sys", function, now.UTC().Format(time.RFC3339Nano)}, seed...)...)))
	return mustMarshal(o)
}

func envelope(data, metadata *object) ([]byte, error) {
	e := newObject()
	d, err := marshal(data)
	if err != nil {
		return nil, err
	}
	m, err := marshal(metadata)
	if err != nil {
		return nil, err
	}
	e.set("Data", d)
	e.set("Metadata", m)
	return marshal(e)
}

func checkNames(function, binding string) error {
	if function == "" || binding == "" {
		return errors.New("customhandler: function and binding names are required")
	}
	return nil
}

// EncodeServiceBus builds the envelope the host POSTs for a Service Bus
// trigger with cardinality one. Zero values mean: DeliveryCount 1,
// EnqueuedTime now, ExpiresAt never (9999-12-31T23:59:59), LockToken derived
// from the message. Empty strings are treated as null and omitted, as the
// host omits null metadata.
//
// If the body is a JSON object, its top-level non-array properties are
// merged into Metadata after the system keys and OVERWRITE them (see
// mergeBody). The host source does this for string trigger values
// (WorkerFunctionInvoker.TransformInput -> ApplyBindingData, which starts
// with `value as string`), so with dataType binary the real host probably
// does not merge; that is unconfirmed at runtime, so the encoder merges for
// both encodings, the worst case the decoder must withstand.
func EncodeServiceBus(function, binding string, msg ServiceBusMessage, enc BodyEncoding, now time.Time) ([]byte, error) {
	if err := checkNames(function, binding); err != nil {
		return nil, err
	}
	data := newObject()
	switch enc {
	case BodyString:
		// The host decodes the body as UTF-8; json.Marshal likewise
		// replaces invalid bytes with U+FFFD.
		data.set(binding, doubleString(string(msg.Body)))
	case BodyBinary:
		data.set(binding, mustMarshal(base64.StdEncoding.EncodeToString(msg.Body)))
	default:
		return nil, fmt.Errorf("customhandler: unknown body encoding %v", enc)
	}
	delivery := msg.DeliveryCount
	if delivery <= 0 {
		delivery = 1
	}
	enqueued := msg.EnqueuedTime
	if enqueued.IsZero() {
		enqueued = now
	}
	expires := msg.ExpiresAt
	if expires.IsZero() {
		expires = maxTime
	}
	lock := msg.LockToken
	if lock == "" {
		lock = guid("lock", msg.MessageID, strconv.FormatInt(msg.SequenceNumber, 10), strconv.Itoa(delivery))
	}
	props := msg.ApplicationProperties
	if props == nil {
		props = map[string]any{}
	}
	propsJSON, err := marshal(props)
	if err != nil {
		return nil, fmt.Errorf("customhandler: application properties: %w", err)
	}

	md := newObject()
	optional := func(k, v string) {
		if v != "" {
			md.set(k, doubleString(v))
		}
	}
	md.set("DeliveryCount", intString(int64(delivery)))
	md.set("LockToken", doubleString(lock))
	md.set("ExpiresAtUtc", timeString(expires, netDateTime))
	md.set("ExpiresAt", timeString(expires, netDateTimeOffset))
	md.set("EnqueuedTimeUtc", timeString(enqueued, netDateTime))
	md.set("EnqueuedTime", timeString(enqueued, netDateTimeOffset))
	optional("MessageId", msg.MessageID)
	optional("ContentType", msg.ContentType)
	optional("CorrelationId", msg.CorrelationID)
	optional("Subject", msg.Subject)
	optional("Label", msg.Subject)
	optional("SessionId", msg.SessionID)
	md.set("SequenceNumber", intString(msg.SequenceNumber))
	md.set("ApplicationProperties", propsJSON)
	md.set("UserProperties", propsJSON)
	md.set("MessageActions", json.RawMessage(`{}`))
	md.set("ReceiveActions", json.RawMessage(`{}`))
	client := newObject()
	client.set("FullyQualifiedNamespace", mustMarshal(LocalNamespace))
	client.set("IsClosed", json.RawMessage(`false`))
	client.set("TransportType", json.RawMessage(`0`))
	client.set("Identifier", mustMarshal(LocalNamespace+"-"+guid("client", function)))
	md.set("Client", mustMarshal(client))
	md.set("sys", sysObject(function, now, msg.MessageID, strconv.Itoa(delivery)))
	if err := mergeBody(md, msg.Body); err != nil {
		return nil, err
	}
	return envelope(data, md)
}

// mergeBody models the host's Utility.ApplyBindingData: if the body,
// trimmed, starts with '{' and ends with '}' and parses as an object, each
// top-level non-array property is written into the binding data with
// bindingData[key] = value, overwriting system keys. Objects stay objects;
// every scalar goes through (string)JValue, so numbers and bools become
// strings ("42", "True") and are then double-encoded like any string; nulls
// are skipped. encoding/json stands in for Newtonsoft, which also accepts
// some invalid JSON; the decoder's textual scan covers that gap.
func mergeBody(md *object, body []byte) error {
	trimmed := bytes.TrimFunc(body, isDotNetSpace)
	if len(trimmed) < 2 || trimmed[0] != '{' || trimmed[len(trimmed)-1] != '}' {
		return nil
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(trimmed, &obj) != nil {
		return nil // JObject.Parse failing is swallowed by the host too
	}
	// Go maps are unordered; sort for reproducible output.
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := bytes.TrimSpace(obj[k])
		switch {
		case isNull(v) || v[0] == '[':
			continue
		case v[0] == '{':
			var c bytes.Buffer
			if err := json.Compact(&c, v); err != nil {
				return fmt.Errorf("customhandler: body property %q: %w", k, err)
			}
			md.set(k, c.Bytes())
		case v[0] == '"':
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return fmt.Errorf("customhandler: body property %q: %w", k, err)
			}
			md.set(k, doubleString(s))
		case string(v) == "true":
			md.set(k, doubleString("True"))
		case string(v) == "false":
			md.set(k, doubleString("False"))
		default:
			md.set(k, doubleString(string(v))) // number literal
		}
	}
	return nil
}

// EncodeTimer builds the envelope the host POSTs for a timer trigger:
// Data.<binding> is the TimerInfo object, Metadata holds only sys.
// ScheduleStatus is null when !t.HasStatus.
func EncodeTimer(function, binding string, t TimerInfo, now time.Time) ([]byte, error) {
	if err := checkNames(function, binding); err != nil {
		return nil, err
	}
	schedule := newObject()
	schedule.set("AdjustForDST", json.RawMessage(`true`))
	status := json.RawMessage(`null`)
	if t.HasStatus {
		s := newObject()
		s.set("Last", timeString(t.Last, netRoundTrip))
		s.set("Next", timeString(t.Next, netRoundTrip))
		s.set("LastUpdated", timeString(t.LastUpdated, netRoundTrip))
		status = mustMarshal(s)
	}
	timer := newObject()
	timer.set("Schedule", mustMarshal(schedule))
	timer.set("ScheduleStatus", status)
	timer.set("IsPastDue", mustMarshal(t.IsPastDue))
	data := newObject()
	data.set(binding, mustMarshal(timer))
	md := newObject()
	md.set("sys", sysObject(function, now))
	return envelope(data, md)
}

// EncodeHTTP builds the envelope the host POSTs for an HTTP trigger in
// non-forwarding mode: Query as an object, Headers as arrays, Params only
// when non-empty, Body omitted when empty, else text or (for octet-stream
// and multipart) base64. Metadata carries Headers (first values), Query,
// Params, each route parameter as a double-encoded string, and sys.
func EncodeHTTP(function, binding string, req HTTPRequest, now time.Time) ([]byte, error) {
	if err := checkNames(function, binding); err != nil {
		return nil, err
	}
	query := req.Query
	if query == nil {
		query = map[string]string{}
	}
	hdrs := req.Headers
	if hdrs == nil {
		hdrs = http.Header{}
	}
	identities := req.Identities
	if identities == nil {
		identities = []json.RawMessage{}
	}
	r := newObject()
	r.set("Url", mustMarshal(req.URL))
	r.set("Method", mustMarshal(req.Method))
	r.set("Query", mustMarshal(query))
	r.set("Headers", mustMarshal(map[string][]string(hdrs)))
	if len(req.Params) > 0 {
		r.set("Params", mustMarshal(req.Params))
	}
	ids, err := marshal(identities)
	if err != nil {
		return nil, fmt.Errorf("customhandler: identities: %w", err)
	}
	r.set("Identities", ids)
	if len(req.Body) > 0 {
		if binaryContentType(hdrs.Get("Content-Type")) {
			r.set("Body", mustMarshal(base64.StdEncoding.EncodeToString(req.Body)))
		} else {
			r.set("Body", mustMarshal(string(req.Body)))
		}
	}
	data := newObject()
	data.set(binding, mustMarshal(r))

	md := newObject()
	first := map[string]string{}
	for k, v := range hdrs {
		if len(v) > 0 {
			first[k] = v[0]
		}
	}
	params := req.Params
	if params == nil {
		params = map[string]string{}
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		md.set(k, doubleString(params[k]))
	}
	md.set("Headers", mustMarshal(first))
	md.set("Query", mustMarshal(query))
	md.set("Params", mustMarshal(params))
	md.set("sys", sysObject(function, now, req.Method, req.URL))
	return envelope(data, md)
}

// Package redelivery decides what happens to a queue message whose
// handling failed transiently: redeliver at once, schedule a copy for
// later, or give up and let Service Bus dead-letter it.
//
// Service Bus redelivers an abandoned message at once, so the ten
// deliveries of maxDeliveryCount last about a minute: too short for a
// storage, Graph or Exchange outage. A custom handler cannot delay or
// dead-letter the message it was given (the host holds the lock, and a
// Service Bus output binding cannot set ScheduledEnqueueTime or
// application properties), so holdfast schedules a copy itself with the
// azservicebus SDK and completes the original. The copy carries the retry
// state in application properties; the budget runs from the first failure.
// The decision is a pure function of that state, the delivery count and
// the time, so it is tested without a broker.
package redelivery

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"
)

// Application properties a scheduled copy carries.
const (
	// PropRetries counts the copies scheduled so far (1 on the first copy).
	PropRetries = "holdfast-retries"
	// PropFirstFailure is when the first delivery failed (RFC 3339, UTC):
	// the budget runs from there.
	PropFirstFailure = "holdfast-first-failure"
	// PropOriginalID is the MessageId of the message as published; copies
	// need their own id, or duplicate detection would drop them.
	PropOriginalID = "holdfast-original-message-id"
	// PropPriorDeliveries is the deliveries of all earlier copies, so the
	// engine sees a delivery count that only grows.
	PropPriorDeliveries = "holdfast-prior-deliveries"
	// PropReplayed marks a copy sent by `holdfast deadletters --replay`.
	PropReplayed = "holdfast-replayed"
)

// Action is what to do with a failed delivery.
type Action int

const (
	// Redeliver: answer with an error; Service Bus redelivers at once.
	Redeliver Action = iota
	// Schedule: send a copy scheduled for Decision.At, then complete.
	Schedule
	// GiveUp: the budget is spent. Answer with an error on every
	// remaining delivery; Service Bus dead-letters the message after
	// maxDeliveryCount (reason MaxDeliveryCountExceeded).
	GiveUp
)

func (a Action) String() string {
	switch a {
	case Redeliver:
		return "redeliver"
	case Schedule:
		return "schedule"
	case GiveUp:
		return "give-up"
	}
	return "Action(" + strconv.Itoa(int(a)) + ")"
}

// Policy is the retry schedule.
type Policy struct {
	// Budget is how long after the first failure copies are scheduled.
	Budget time.Duration
	// Immediate is the delivery count of one copy from which it is no
	// longer redelivered at once: deliveries 1..Immediate-1 ride out a
	// blip of seconds. Must stay below the queue's maxDeliveryCount (10).
	Immediate int
	// First and Max bound the delay before a copy: First, doubling per
	// copy, at most Max.
	First, Max time.Duration
}

// Defaults for the fields a Policy leaves zero.
const (
	DefaultImmediate = 3
	DefaultFirst     = 30 * time.Second
	DefaultMax       = 15 * time.Minute
)

// WithDefaults fills zero fields.
func (p Policy) WithDefaults() Policy {
	if p.Immediate <= 0 {
		p.Immediate = DefaultImmediate
	}
	if p.First <= 0 {
		p.First = DefaultFirst
	}
	if p.Max <= 0 {
		p.Max = DefaultMax
	}
	return p
}

// State is the retry state of one delivery.
type State struct {
	Retries         int
	FirstFailure    time.Time // zero: this is the first failure
	OriginalID      string
	PriorDeliveries int
	// DeliveryCount is this copy's delivery count (1 on the wire first).
	DeliveryCount int
}

// Deliveries is the delivery count across all copies.
func (s State) Deliveries() int { return s.PriorDeliveries + s.DeliveryCount }

// ErrBadProperty: a retry property is present but unreadable. The caller
// treats the message as a first failure; the budget then restarts, which
// costs retries but never loses the message.
var ErrBadProperty = errors.New("redelivery: unreadable retry property")

// Read takes the retry state from a message's application properties
// (numbers may arrive as json.Number, float64 or int). messageID is the
// message's own id, the original when the properties name none.
func Read(props map[string]any, messageID string, deliveryCount int) (State, error) {
	s := State{OriginalID: messageID, DeliveryCount: deliveryCount}
	var errs []error
	if v, ok := props[PropRetries]; ok {
		n, err := toInt(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %s: %v", ErrBadProperty, PropRetries, err))
		}
		s.Retries = n
	}
	if v, ok := props[PropPriorDeliveries]; ok {
		n, err := toInt(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %s: %v", ErrBadProperty, PropPriorDeliveries, err))
		}
		s.PriorDeliveries = n
	}
	if v, ok := props[PropFirstFailure].(string); ok {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %s: %v", ErrBadProperty, PropFirstFailure, err))
		}
		s.FirstFailure = t.UTC()
	}
	if v, ok := props[PropOriginalID].(string); ok && v != "" {
		s.OriginalID = v
	}
	return s, errors.Join(errs...)
}

func toInt(v any) (int, error) {
	var n int64
	var err error
	switch x := v.(type) {
	case json.Number:
		n, err = x.Int64()
	case float64:
		n = int64(x)
		if float64(n) != x {
			err = fmt.Errorf("not an integer: %v", x)
		}
	case int:
		n = int64(x)
	case int32:
		n = int64(x)
	case int64:
		n = x
	case string:
		n, err = strconv.ParseInt(x, 10, 64)
	default:
		err = fmt.Errorf("type %T", v)
	}
	if err == nil && (n < 0 || n > 1<<20) {
		err = fmt.Errorf("out of range: %d", n)
	}
	if err != nil {
		return 0, err
	}
	return int(n), nil
}

// Decision is what Decide chose.
type Decision struct {
	Action Action
	// At is when the copy becomes visible (Schedule).
	At time.Time
	// FirstFailure is the start of the budget (now for a first failure).
	FirstFailure time.Time
	// Spent is how much of the budget the failures have used.
	Spent time.Duration
}

// Decide chooses what to do with a delivery that failed at now.
func (p Policy) Decide(s State, now time.Time) Decision {
	p = p.WithDefaults()
	first := s.FirstFailure
	if first.IsZero() || first.After(now) {
		first = now
	}
	d := Decision{FirstFailure: first, Spent: now.Sub(first)}
	switch {
	case d.Spent >= p.Budget:
		d.Action = GiveUp
	case s.DeliveryCount < p.Immediate:
		d.Action = Redeliver
	default:
		d.Action = Schedule
		delay := p.Delay(s.Retries + 1)
		// The last copy lands at the end of the budget, not beyond it.
		if end := first.Add(p.Budget); now.Add(delay).After(end) {
			delay = max(end.Sub(now), time.Second)
		}
		d.At = now.Add(delay)
	}
	return d
}

// Delay is the wait before copy n (1-based): First, doubling, at most Max.
func (p Policy) Delay(n int) time.Duration {
	p = p.WithDefaults()
	d := p.First
	for i := 1; i < n && d < p.Max; i++ {
		d *= 2
	}
	return min(d, p.Max)
}

// Copy is the message to schedule: the same body and content type, a new
// id, the retry state in properties.
type Copy struct {
	MessageID   string
	Body        []byte
	ContentType string
	Properties  map[string]any
}

// maxMessageID is Service Bus's limit on MessageId.
const maxMessageID = 128

// NextCopy builds copy number s.Retries+1 of a message. props are the
// message's application properties, kept (a publisher's own properties
// survive) with the retry state overwritten.
func NextCopy(s State, d Decision, body []byte, contentType string, props map[string]any) Copy {
	n := s.Retries + 1
	out := maps.Clone(props)
	if out == nil {
		out = map[string]any{}
	}
	out[PropRetries] = int64(n)
	out[PropFirstFailure] = d.FirstFailure.UTC().Format(time.RFC3339Nano)
	out[PropOriginalID] = s.OriginalID
	out[PropPriorDeliveries] = int64(s.Deliveries())
	return Copy{MessageID: CopyID(s.OriginalID, "retry-"+strconv.Itoa(n)), Body: body, ContentType: contentType, Properties: out}
}

// CopyID is a message id for a copy of original: unique per suffix, so
// duplicate detection lets it through, and within Service Bus's 128
// characters.
func CopyID(original, suffix string) string {
	id := original + "/" + suffix
	if len(id) <= maxMessageID {
		return id
	}
	sum := sha256.Sum256([]byte(original))
	return "sha256:" + hex.EncodeToString(sum[:16]) + "/" + suffix
}

// Replay builds the copy `holdfast deadletters --replay` sends for a
// dead-lettered message in state s: a new budget (no retries, no first
// failure), the original id kept, the deliveries so far carried on.
func Replay(s State, body []byte, contentType string, props map[string]any, at time.Time) Copy {
	out := maps.Clone(props)
	if out == nil {
		out = map[string]any{}
	}
	delete(out, PropRetries)
	delete(out, PropFirstFailure)
	out[PropOriginalID] = s.OriginalID
	out[PropPriorDeliveries] = int64(s.Deliveries())
	out[PropReplayed] = at.UTC().Format(time.RFC3339Nano)
	return Copy{MessageID: CopyID(s.OriginalID, "replay-"+strconv.FormatInt(at.UnixNano(), 36)), Body: body, ContentType: contentType, Properties: out}
}

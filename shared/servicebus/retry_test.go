package servicebus

import (
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/holdfast/holdfast/shared/redelivery"
)

// A retry copy keeps the body and content type, carries the retry state,
// and has the copy's own id (the original's would be dropped by duplicate
// detection).
func TestCopyMessageAndLetterRoundTrip(t *testing.T) {
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	c := redelivery.NextCopy(redelivery.State{OriginalID: "evt-1", DeliveryCount: 3}, redelivery.Decision{FirstFailure: at},
		[]byte(`{"id":"evt-1"}`), ContentTypeCloudEvent, map[string]any{"origin": "hr"})
	m := copyMessage(c)
	if m.MessageID == nil || *m.MessageID != "evt-1/retry-1" || m.ContentType == nil || *m.ContentType != ContentTypeCloudEvent ||
		string(m.Body) != `{"id":"evt-1"}` || m.ApplicationProperties["origin"] != "hr" {
		t.Fatalf("message = %+v", m)
	}
	// As the dead-letter receiver would hand it back.
	seq, reason := int64(42), "MaxDeliveryCountExceeded"
	rm := &azservicebus.ReceivedMessage{MessageID: *m.MessageID, Body: m.Body, ContentType: m.ContentType,
		ApplicationProperties: m.ApplicationProperties, DeliveryCount: 10, SequenceNumber: &seq, DeadLetterReason: &reason}
	l := letterOf("hr-offboarding", rm)
	s := l.State()
	if s.OriginalID != "evt-1" || s.Retries != 1 || s.Deliveries() != 13 || l.Reason != reason || l.SequenceNumber != 42 {
		t.Errorf("letter %+v state %+v", l, s)
	}
}

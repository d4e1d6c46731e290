package servicebus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/alert"
	"github.com/holdfast/holdfast/shared/notify"
)

// The integration test talks to a real Service Bus (or the emulator). It
// needs HOLDFAST_TEST_SERVICEBUS_CONNECTION, a connection string with send
// and listen rights, and these entities (names overridable):
//
//	queue          HOLDFAST_TEST_SERVICEBUS_QUEUE         (default hr-offboarding)
//	topic          HOLDFAST_TEST_SERVICEBUS_TOPIC         (default alerts)
//	subscription   HOLDFAST_TEST_SERVICEBUS_SUBSCRIPTION  (default holdfast-test) on the topic
//
// Point it at a namespace no holdfast app is listening on: it consumes what
// it sends. Other messages it meets are abandoned, not deleted.
func TestServiceBusIntegration(t *testing.T) {
	conn := os.Getenv("HOLDFAST_TEST_SERVICEBUS_CONNECTION")
	if conn == "" {
		t.Skip("NOT TESTED: set HOLDFAST_TEST_SERVICEBUS_CONNECTION (and optionally HOLDFAST_TEST_SERVICEBUS_QUEUE/_TOPIC/_SUBSCRIPTION) to publish to and receive from a real Service Bus")
	}
	queue := envOr("HOLDFAST_TEST_SERVICEBUS_QUEUE", "hr-offboarding")
	topic := envOr("HOLDFAST_TEST_SERVICEBUS_TOPIC", "alerts")
	sub := envOr("HOLDFAST_TEST_SERVICEBUS_SUBSCRIPTION", "holdfast-test")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := NewClient(conn, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	run := randomHex(t)

	t.Run("publish to queue", func(t *testing.T) {
		eventID := "holdfast-it-" + run
		body := fmt.Sprintf(`{"specversion":"1.0","id":%q,"type":"io.holdfast.test.ping","source":"/holdfast/integration-test","data":{}}`, eventID)
		id, err := Publish(ctx, c, queue, []byte(body))
		if err != nil {
			t.Fatalf("Publish: %v", err)
		}
		if id != eventID {
			t.Errorf("Publish returned id %q, want the CloudEvent id %q", id, eventID)
		}
		r, err := c.NewReceiverForQueue(queue, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close(context.Background())
		m := receive(ctx, t, r, eventID)
		if string(m.Body) != body {
			t.Errorf("body %q, want %q", m.Body, body)
		}
		if m.ContentType == nil || *m.ContentType != ContentTypeCloudEvent {
			t.Errorf("content type %v", m.ContentType)
		}
	})

	t.Run("alert to topic", func(t *testing.T) {
		ts, err := NewTopicSender(c, topic)
		if err != nil {
			t.Fatal(err)
		}
		defer ts.Close(context.Background())
		a := alert.Alert{ID: "it-" + run + ":warn:7d", Kind: alert.KindWarning, Severity: alert.SeverityWarning,
			UPN: "ann@contoso.com", State: "deleted", Action: "integration test", At: time.Now().UTC().Truncate(time.Second)}
		d := notify.NewDispatcher(zerolog.Nop(), notify.NewTopic(ts))
		if err := d.Send(ctx, a); err != nil {
			t.Fatalf("Send: %v", err)
		}
		r, err := c.NewReceiverForSubscription(topic, sub, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close(context.Background())
		m := receive(ctx, t, r, a.ID)
		var back alert.Alert
		if err := json.Unmarshal(m.Body, &back); err != nil {
			t.Fatalf("alert body: %v", err)
		}
		if back.ID != a.ID || back.Kind != a.Kind || back.UPN != a.UPN || !back.At.Equal(a.At) {
			t.Errorf("received %+v, sent %+v", back, a)
		}
		for k, want := range map[string]any{"kind": a.Kind, "severity": a.Severity, "upn": a.UPN} {
			if got := m.ApplicationProperties[k]; got != want {
				t.Errorf("property %s = %v, want %v", k, got, want)
			}
		}
	})
}

// receive waits for the message with id, completing it; any other message
// is abandoned for its owner.
func receive(ctx context.Context, t *testing.T, r *azservicebus.Receiver, id string) *azservicebus.ReceivedMessage {
	t.Helper()
	for {
		msgs, err := r.ReceiveMessages(ctx, 10, nil)
		if err != nil {
			t.Fatalf("waiting for message %s: %v", id, err)
		}
		var found *azservicebus.ReceivedMessage
		for _, m := range msgs {
			if m.MessageID == id && found == nil {
				found = m
				if err := r.CompleteMessage(ctx, m, nil); err != nil {
					t.Errorf("complete: %v", err)
				}
				continue
			}
			_ = r.AbandonMessage(ctx, m, nil)
		}
		if found != nil {
			return found
		}
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func randomHex(t *testing.T) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// Package servicebus is holdfast's thin layer over azservicebus: connecting
// with a connection string or managed identity, the alerts topic sender
// (notify.MessageSender), and Publish for the `holdfast publish` command.
// Everything that can be decided without a broker (message ids, content
// types, properties) is done in plain functions and tested without one.
package servicebus

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
)

// NewClient connects with connString (the ServiceBusConnection setting;
// local emulator or integration tests) when set, otherwise with namespace
// (ServiceBusConnection__fullyQualifiedNamespace) and cred, the managed
// identity. Neither call touches the network: the first send does.
func NewClient(connString, namespace string, cred azcore.TokenCredential) (*azservicebus.Client, error) {
	if connString != "" {
		c, err := azservicebus.NewClientFromConnectionString(connString, nil)
		if err != nil {
			// The parse error may quote the string, key included.
			return nil, errors.New("service bus: invalid connection string (ServiceBusConnection)")
		}
		return c, nil
	}
	ns := normalizeNamespace(namespace)
	if ns == "" {
		return nil, errors.New("service bus: set ServiceBusConnection__fullyQualifiedNamespace or ServiceBusConnection")
	}
	if cred == nil {
		return nil, fmt.Errorf("service bus: namespace %s needs a credential", ns)
	}
	c, err := azservicebus.NewClient(ns, cred, nil)
	if err != nil {
		return nil, fmt.Errorf("service bus %s: %w", ns, err)
	}
	return c, nil
}

// normalizeNamespace accepts the forms people paste: a bare host,
// sb://host/ or https://host/.
func normalizeNamespace(ns string) string {
	ns = strings.TrimSpace(ns)
	for _, p := range []string{"sb://", "https://", "amqps://"} {
		if len(ns) >= len(p) && strings.EqualFold(ns[:len(p)], p) {
			ns = ns[len(p):]
		}
	}
	return strings.TrimRight(ns, "/")
}

// maxMessageID is Service Bus's limit on MessageId.
const maxMessageID = 128

// messageID returns id when Service Bus accepts it, else a stable digest of
// it, so a long alert or event id still deduplicates.
func messageID(id string) string {
	if id != "" && len(id) <= maxMessageID {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// TopicSender sends alerts to a topic. It implements notify.MessageSender.
type TopicSender struct {
	s *azservicebus.Sender
}

// NewTopicSender opens a sender for topic on c.
func NewTopicSender(c *azservicebus.Client, topic string) (*TopicSender, error) {
	if topic == "" {
		return nil, errors.New("service bus: no topic name (HOLDFAST_ALERTS_TOPIC)")
	}
	s, err := c.NewSender(topic, nil)
	if err != nil {
		return nil, fmt.Errorf("service bus: sender for topic %s: %w", topic, err)
	}
	return &TopicSender{s: s}, nil
}

// SendMessage implements notify.MessageSender. The azservicebus client
// retries transient failures itself; what it returns is final for this
// attempt.
func (t *TopicSender) SendMessage(ctx context.Context, id, contentType string, body []byte, props map[string]any) error {
	return t.s.SendMessage(ctx, newMessage(id, contentType, body, props), nil)
}

// Close releases the sender's link.
func (t *TopicSender) Close(ctx context.Context) error { return t.s.Close(ctx) }

func newMessage(id, contentType string, body []byte, props map[string]any) *azservicebus.Message {
	mid := messageID(id)
	m := &azservicebus.Message{MessageID: &mid, Body: body}
	if contentType != "" {
		m.ContentType = &contentType
	}
	if len(props) > 0 {
		m.ApplicationProperties = make(map[string]any, len(props))
		for k, v := range props {
			m.ApplicationProperties[k] = v
		}
	}
	return m
}

// Content types Publish sets.
const (
	ContentTypeCloudEvent = "application/cloudevents+json"
	ContentTypeJSON       = "application/json"
	ContentTypeOther      = "application/octet-stream"
)

// Publish sends body (an event file) as one message to queue and returns
// the message id it used. A CloudEvents JSON body gets its "id" as the
// MessageID (so Service Bus duplicate detection drops a re-publish) and the
// content type application/cloudevents+json. Anything else is sent as it
// is, with a digest of the body as the id, so holdfast can reject it with a
// reason an admin can read.
func Publish(ctx context.Context, c *azservicebus.Client, queue string, body []byte) (messageID string, err error) {
	m, err := publishMessage(body)
	if err != nil {
		return "", err
	}
	s, err := c.NewSender(queue, nil)
	if err != nil {
		return "", fmt.Errorf("service bus: sender for queue %s: %w", queue, err)
	}
	defer s.Close(context.WithoutCancel(ctx))
	if err := s.SendMessage(ctx, m, nil); err != nil {
		return "", fmt.Errorf("service bus: publish to %s: %w", queue, err)
	}
	return *m.MessageID, nil
}

// publishMessage builds the message Publish sends.
func publishMessage(body []byte) (*azservicebus.Message, error) {
	if len(body) == 0 {
		return nil, errors.New("publish: empty message body")
	}
	ct, id := ContentTypeOther, ""
	var ce struct {
		SpecVersion any `json:"specversion"`
		ID          any `json:"id"`
	}
	switch err := json.Unmarshal(body, &ce); {
	case err == nil && ce.SpecVersion != nil:
		ct = ContentTypeCloudEvent
		if s, ok := ce.ID.(string); ok {
			id = s
		}
	case err == nil || json.Valid(body):
		// A JSON array or another JSON value: not one CloudEvent.
		ct = ContentTypeJSON
	}
	if id == "" {
		sum := sha256.Sum256(body)
		id = "sha256:" + hex.EncodeToString(sum[:])
	}
	return newMessage(id, ct, body, nil), nil
}

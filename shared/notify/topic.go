package notify

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/holdfast/holdfast/shared/alert"
)

// MessageSender sends one message to the alerts topic. shared/servicebus's
// *TopicSender implements it over azservicebus.
type MessageSender interface {
	SendMessage(ctx context.Context, id string, contentType string, body []byte, props map[string]any) error
}

// Topic publishes alerts to the Service Bus alerts topic for other
// subscribers (ticketing, SIEM). The message id is the alert id, so the
// topic's duplicate detection drops a repeat within its window, and
// subscribers can dedupe on it beyond that.
type Topic struct {
	s MessageSender
}

// NewTopic returns a Topic channel sending through s.
func NewTopic(s MessageSender) *Topic { return &Topic{s: s} }

// Name implements Channel.
func (t *Topic) Name() string { return "topic" }

// TopicContentType is the content type of alert messages: the body is the
// alert.Alert as JSON.
const TopicContentType = "application/json"

// Send implements Channel.
func (t *Topic) Send(ctx context.Context, a alert.Alert) error {
	body, err := json.Marshal(a)
	if err != nil {
		return Permanent(fmt.Errorf("alerts topic: encode alert: %w", err))
	}
	// Application properties let subscriptions filter with SQL rules
	// (e.g. severity = 'critical') without reading the body.
	props := map[string]any{"kind": a.Kind, "severity": a.Severity, "upn": a.UPN}
	if err := t.s.SendMessage(ctx, a.ID, TopicContentType, body, props); err != nil {
		return fmt.Errorf("alerts topic: %w", err)
	}
	return nil
}

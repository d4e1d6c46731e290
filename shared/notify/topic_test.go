package notify

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/holdfast/holdfast/shared/alert"
)

type fakeSender struct {
	id, contentType string
	body            []byte
	props           map[string]any
	err             error
}

func (f *fakeSender) SendMessage(ctx context.Context, id, contentType string, body []byte, props map[string]any) error {
	f.id, f.contentType, f.body, f.props = id, contentType, body, props
	return f.err
}

func TestTopicMessage(t *testing.T) {
	fs := &fakeSender{}
	a := sampleAlert()
	if err := NewTopic(fs).Send(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if fs.id != a.ID {
		t.Errorf("message id %q, want the alert id %q", fs.id, a.ID)
	}
	if fs.contentType != "application/json" {
		t.Errorf("content type %q", fs.contentType)
	}
	want := map[string]any{"kind": "warning", "severity": "warning", "upn": "ann.lee@contoso.com"}
	if !reflect.DeepEqual(fs.props, want) {
		t.Errorf("properties %v, want %v", fs.props, want)
	}
	var back alert.Alert
	if err := json.Unmarshal(fs.body, &back); err != nil {
		t.Fatal(err)
	}
	if !back.Deadline.Equal(a.Deadline) || !back.At.Equal(a.At) {
		t.Errorf("times changed: %v %v", back.Deadline, back.At)
	}
	back.Deadline, back.At = a.Deadline, a.At // compared with Equal above
	if !reflect.DeepEqual(back, a) {
		t.Errorf("body decodes to %+v, want %+v", back, a)
	}
	var raw map[string]any
	_ = json.Unmarshal(fs.body, &raw)
	for _, k := range []string{"id", "kind", "severity", "caseKey", "upn", "state", "deadline", "action", "at", "details"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("body lacks %q: %s", k, fs.body)
		}
	}
}

func TestTopicOmitsZeroDeadline(t *testing.T) {
	fs := &fakeSender{}
	a := sampleAlert()
	a.Deadline = time.Time{}
	if err := NewTopic(fs).Send(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(fs.body, &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw["deadline"]; ok {
		t.Errorf("zero deadline written: %s", fs.body)
	}
}

func TestTopicSendError(t *testing.T) {
	boom := errors.New("amqp: link detached")
	err := NewTopic(&fakeSender{err: boom}).Send(context.Background(), sampleAlert())
	if !errors.Is(err, boom) {
		t.Fatalf("error %v does not wrap the sender's", err)
	}
	if IsPermanent(err) {
		t.Error("a broker failure must stay retryable")
	}
}

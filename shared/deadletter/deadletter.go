// Package deadletter lists and replays the messages Service Bus
// dead-lettered on holdfast's queues: what `holdfast deadletters` does. The
// broker is behind the Queue interface: azservicebus in Azure (and against
// the Service Bus emulator), the local stack's broker in tests.
package deadletter

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/holdfast/holdfast/shared/redelivery"
)

// Letter is one dead-lettered message.
type Letter struct {
	Queue          string
	SequenceNumber int64
	MessageID      string
	Body           []byte
	ContentType    string
	Properties     map[string]any
	// Reason and Description are Service Bus's DeadLetterReason and
	// DeadLetterErrorDescription (MaxDeliveryCountExceeded,
	// TTLExpiredException, ...).
	Reason, Description string
	DeliveryCount       int
	EnqueuedAt          time.Time
}

// State is the letter's retry state (original id, deliveries, retries).
func (l Letter) State() redelivery.State {
	s, _ := redelivery.Read(l.Properties, l.MessageID, l.DeliveryCount)
	return s
}

// Queue is a broker's dead-letter subqueues.
type Queue interface {
	// Peek returns up to max letters of queue without locking them.
	Peek(ctx context.Context, queue string, max int) ([]Letter, error)
	// Replay sends a copy built by redelivery.Replay of each letter pick
	// accepts back to queue and removes the letter (received with a lock,
	// completed after the send; letters not picked are abandoned). It
	// returns the copies sent.
	Replay(ctx context.Context, queue string, max int, pick func(Letter) bool, now time.Time) ([]redelivery.Copy, error)
}

// Options for Run.
type Options struct {
	Queues []string
	Max    int
	// Replay: "" lists; "all" replays every letter; anything else replays
	// the letters whose message id or original id is that value.
	Replay string
	JSON   bool
	Now    time.Time
}

// Summary is what Run did.
type Summary struct {
	Listed   int `json:"listed"`
	Replayed int `json:"replayed"`
}

// Run lists or replays dead letters and writes a report to out.
func Run(ctx context.Context, q Queue, o Options, out io.Writer) (Summary, error) {
	if o.Max <= 0 {
		o.Max = 100
	}
	var sum Summary
	var rows []row
	for _, queue := range o.Queues {
		if o.Replay == "" {
			letters, err := q.Peek(ctx, queue, o.Max)
			if err != nil {
				return sum, fmt.Errorf("dead letters of %s: %w", queue, err)
			}
			for _, l := range letters {
				rows = append(rows, rowOf(l))
			}
			sum.Listed += len(letters)
			continue
		}
		pick := func(l Letter) bool {
			return o.Replay == "all" || l.MessageID == o.Replay || l.State().OriginalID == o.Replay
		}
		copies, err := q.Replay(ctx, queue, o.Max, pick, o.Now)
		sum.Replayed += len(copies)
		for _, c := range copies {
			rows = append(rows, row{Queue: queue, MessageID: c.MessageID, Event: eventOf(c.Body), Action: "replayed"})
		}
		if err != nil {
			return sum, fmt.Errorf("replay %s: %w", queue, err)
		}
	}
	if o.JSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return sum, enc.Encode(map[string]any{"letters": rows, "summary": sum})
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "QUEUE\tMESSAGE\tEVENT\tDELIVERIES\tRETRIES\tREASON")
	for _, r := range rows {
		reason := r.Reason
		if r.Action != "" {
			reason = r.Action
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", r.Queue, r.MessageID, orDash(r.Event), r.Deliveries, r.Retries, orDash(reason))
	}
	if err := tw.Flush(); err != nil {
		return sum, err
	}
	if o.Replay == "" {
		fmt.Fprintf(out, "%d dead-lettered message(s)\n", sum.Listed)
	} else {
		fmt.Fprintf(out, "%d message(s) replayed with a new retry budget\n", sum.Replayed)
	}
	return sum, nil
}

type row struct {
	Queue       string    `json:"queue"`
	MessageID   string    `json:"messageId"`
	OriginalID  string    `json:"originalId,omitempty"`
	Event       string    `json:"event,omitempty"`
	Deliveries  int       `json:"deliveries,omitempty"`
	Retries     int       `json:"retries,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	Description string    `json:"description,omitempty"`
	EnqueuedAt  time.Time `json:"enqueuedAt,omitzero"`
	Action      string    `json:"action,omitempty"`
}

func rowOf(l Letter) row {
	s := l.State()
	return row{Queue: l.Queue, MessageID: l.MessageID, OriginalID: s.OriginalID, Event: eventOf(l.Body), Deliveries: s.Deliveries(),
		Retries: s.Retries, Reason: l.Reason, Description: l.Description, EnqueuedAt: l.EnqueuedAt}
}

// eventOf names a CloudEvent body by type and id; the body itself (which
// may hold personal data) is not printed.
func eventOf(body []byte) string {
	var ce struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	}
	if json.Unmarshal(body, &ce) != nil || ce.ID == "" {
		return ""
	}
	t := ce.Type
	if i := strings.LastIndex(t, "."); i >= 0 && i < len(t)-1 {
		t = t[i+1:]
	}
	return t + " " + ce.ID
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

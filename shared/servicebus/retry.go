package servicebus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/holdfast/holdfast/shared/deadletter"
	"github.com/holdfast/holdfast/shared/redelivery"
)

// Scheduler schedules retry copies on holdfast's queues
// (Sender.ScheduleMessages: the message stays invisible until the time).
// It needs Azure Service Bus Data Sender on the queues.
type Scheduler struct {
	c *azservicebus.Client

	mu      sync.Mutex
	senders map[string]*azservicebus.Sender
}

// NewScheduler returns a Scheduler on c; senders open on first use.
func NewScheduler(c *azservicebus.Client) *Scheduler {
	return &Scheduler{c: c, senders: map[string]*azservicebus.Sender{}}
}

func (s *Scheduler) sender(queue string) (*azservicebus.Sender, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if snd, ok := s.senders[queue]; ok {
		return snd, nil
	}
	snd, err := s.c.NewSender(queue, nil)
	if err != nil {
		return nil, fmt.Errorf("service bus: sender for queue %s: %w", queue, err)
	}
	s.senders[queue] = snd
	return snd, nil
}

// Schedule sends c to queue, visible at at.
func (s *Scheduler) Schedule(ctx context.Context, queue string, c redelivery.Copy, at time.Time) error {
	snd, err := s.sender(queue)
	if err != nil {
		return err
	}
	if _, err := snd.ScheduleMessages(ctx, []*azservicebus.Message{copyMessage(c)}, at, nil); err != nil {
		return fmt.Errorf("service bus: schedule on %s: %w", queue, err)
	}
	return nil
}

// Close releases the senders.
func (s *Scheduler) Close(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for q, snd := range s.senders {
		_ = snd.Close(ctx)
		delete(s.senders, q)
	}
}

// copyMessage keeps the copy's id as it is: redelivery.CopyID already
// bounds it.
func copyMessage(c redelivery.Copy) *azservicebus.Message {
	id := c.MessageID
	m := &azservicebus.Message{MessageID: &id, Body: c.Body, ApplicationProperties: c.Properties}
	if c.ContentType != "" {
		ct := c.ContentType
		m.ContentType = &ct
	}
	return m
}

// DeadLetters reads and replays the $DeadLetterQueue subqueue of a queue.
// It needs Data Receiver and Data Sender on the queue (an operator's role,
// not the app's: docs/operations.md).
type DeadLetters struct {
	C *azservicebus.Client
	// Wait bounds how long Replay waits for letters to arrive on the lock
	// link (default 5 s); an empty subqueue returns after it.
	Wait time.Duration
}

// Peek implements deadletter.Queue.
func (d DeadLetters) Peek(ctx context.Context, queue string, max int) ([]deadletter.Letter, error) {
	r, err := d.C.NewReceiverForQueue(queue, &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter})
	if err != nil {
		return nil, err
	}
	defer r.Close(context.WithoutCancel(ctx))
	var out []deadletter.Letter
	for len(out) < max {
		msgs, err := r.PeekMessages(ctx, min(max-len(out), 100), nil)
		if err != nil {
			return out, err
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			out = append(out, letterOf(queue, m))
		}
	}
	return out, nil
}

// Replay implements deadletter.Queue. The copy is sent before the letter
// is completed: a failure in between leaves both, and the engine
// deduplicates on the event id.
func (d DeadLetters) Replay(ctx context.Context, queue string, max int, pick func(deadletter.Letter) bool, now time.Time) ([]redelivery.Copy, error) {
	r, err := d.C.NewReceiverForQueue(queue, &azservicebus.ReceiverOptions{SubQueue: azservicebus.SubQueueDeadLetter})
	if err != nil {
		return nil, err
	}
	defer r.Close(context.WithoutCancel(ctx))
	snd, err := d.C.NewSender(queue, nil)
	if err != nil {
		return nil, err
	}
	defer snd.Close(context.WithoutCancel(ctx))
	wait := d.Wait
	if wait <= 0 {
		wait = 5 * time.Second
	}
	var sent []redelivery.Copy
	// An abandoned letter comes back at once: stop at the first one seen
	// twice, or the loop would never end when the pick is selective.
	seen := map[int64]bool{}
	for len(sent) < max {
		rctx, cancel := context.WithTimeout(ctx, wait)
		msgs, err := r.ReceiveMessages(rctx, min(max-len(sent), 50), nil)
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return sent, err
		}
		if len(msgs) == 0 {
			return sent, nil
		}
		fresh := false
		for _, m := range msgs {
			l := letterOf(queue, m)
			if seen[l.SequenceNumber] {
				_ = r.AbandonMessage(ctx, m, nil)
				continue
			}
			seen[l.SequenceNumber], fresh = true, true
			if !pick(l) {
				_ = r.AbandonMessage(ctx, m, nil)
				continue
			}
			c := redelivery.Replay(l.State(), l.Body, l.ContentType, l.Properties, now)
			if err := snd.SendMessage(ctx, copyMessage(c), nil); err != nil {
				_ = r.AbandonMessage(ctx, m, nil)
				return sent, fmt.Errorf("send replay of %s: %w", l.MessageID, err)
			}
			if err := r.CompleteMessage(ctx, m, nil); err != nil {
				return sent, fmt.Errorf("complete dead letter %s (its replay was sent): %w", l.MessageID, err)
			}
			sent = append(sent, c)
		}
		if !fresh {
			return sent, nil
		}
	}
	return sent, nil
}

func letterOf(queue string, m *azservicebus.ReceivedMessage) deadletter.Letter {
	l := deadletter.Letter{Queue: queue, MessageID: m.MessageID, Body: m.Body, Properties: m.ApplicationProperties, DeliveryCount: int(m.DeliveryCount)}
	if m.SequenceNumber != nil {
		l.SequenceNumber = *m.SequenceNumber
	}
	if m.ContentType != nil {
		l.ContentType = *m.ContentType
	}
	if m.DeadLetterReason != nil {
		l.Reason = *m.DeadLetterReason
	}
	if m.DeadLetterErrorDescription != nil {
		l.Description = *m.DeadLetterErrorDescription
	}
	if m.EnqueuedTime != nil {
		l.EnqueuedAt = m.EnqueuedTime.UTC()
	}
	return l
}

package host

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"sync"
	"time"

	"github.com/holdfast/holdfast/shared/deadletter"
	"github.com/holdfast/holdfast/shared/redelivery"
)

// Broker models the Service Bus queues as the Functions host uses them,
// on the virtual clock: a message is delivered with DeliveryCount 1, 2,
// ...; a failed invocation abandons it and it is redelivered at once;
// after the host's maximum delivery count (MaxDeliveryCount unless
// Options say otherwise) of failed deliveries it moves to the dead-letter
// subqueue with reason MaxDeliveryCountExceeded; a scheduled message stays
// invisible until its time; duplicate detection (1 day, as in infra/)
// drops a message whose id was enqueued within the window. It implements
// app.RetryScheduler and deadletter.Queue; Host.Pump delivers it.
type Broker struct {
	now func() time.Time

	mu     sync.Mutex
	seq    int64
	queues map[string]*brokerQueue
	seen   map[string]time.Time // queue+"\x00"+id -> enqueued at (duplicate detection)
	// Dropped counts messages duplicate detection dropped.
	Dropped int
}

type brokerQueue struct {
	active []*brokerMsg
	dead   []deadletter.Letter
}

type brokerMsg struct {
	id         string
	body       []byte
	ct         string
	props      map[string]any
	deliveries int
	visible    time.Time
	seq        int64
	enqueued   time.Time
}

// DuplicateWindow mirrors duplicateDetectionHistoryTimeWindow in infra/.
const DuplicateWindow = 24 * time.Hour

// NewBroker returns an empty broker on the clock now.
func NewBroker(now func() time.Time) *Broker {
	return &Broker{now: now, queues: map[string]*brokerQueue{}, seen: map[string]time.Time{}}
}

func (b *Broker) queue(name string) *brokerQueue {
	q, ok := b.queues[name]
	if !ok {
		q = &brokerQueue{}
		b.queues[name] = q
	}
	return q
}

// enqueue adds a message visible at at; it reports false when duplicate
// detection dropped it.
func (b *Broker) enqueue(queue, id string, body []byte, ct string, props map[string]any, at time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	key := queue + "\x00" + id
	if t, ok := b.seen[key]; ok && now.Sub(t) < DuplicateWindow {
		b.Dropped++
		return false
	}
	b.seen[key] = now
	b.seq++
	b.queue(queue).active = append(b.queue(queue).active, &brokerMsg{
		id: id, body: body, ct: ct, props: maps.Clone(props), visible: at, seq: b.seq, enqueued: now,
	})
	return true
}

// Send enqueues a message, visible now (a publisher's send).
func (b *Broker) Send(queue, id string, body []byte, contentType string) bool {
	return b.enqueue(queue, id, body, contentType, nil, b.now())
}

// Schedule implements app.RetryScheduler.
func (b *Broker) Schedule(ctx context.Context, queue string, c redelivery.Copy, at time.Time) error {
	b.enqueue(queue, c.MessageID, c.Body, c.ContentType, c.Properties, at)
	return nil
}

// Active is the number of messages on queue not yet completed or
// dead-lettered, scheduled ones included.
func (b *Broker) Active(queue string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue(queue).active)
}

// NextVisible is the earliest time a message on any queue becomes
// visible; false when every queue is empty.
func (b *Broker) NextVisible() (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var next time.Time
	for _, q := range b.queues {
		for _, m := range q.active {
			if next.IsZero() || m.visible.Before(next) {
				next = m.visible
			}
		}
	}
	return next, !next.IsZero()
}

// take locks the first visible message of queue (lowest sequence number)
// and counts the delivery.
func (b *Broker) take(queue string) (*brokerMsg, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	q := b.queue(queue)
	sort.SliceStable(q.active, func(i, j int) bool { return q.active[i].seq < q.active[j].seq })
	for _, m := range q.active {
		if !m.visible.After(now) {
			m.deliveries++
			m.visible = farFuture // locked until settled
			return m, true
		}
	}
	return nil, false
}

var farFuture = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// settle completes m (ok) or abandons it: redelivered at once, or
// dead-lettered once its deliveries reach max.
func (b *Broker) settle(queue string, m *brokerMsg, ok bool, cause error, max int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.queue(queue)
	if !ok && m.deliveries < max {
		m.visible = b.now()
		return
	}
	for i, x := range q.active {
		if x == m {
			q.active = append(q.active[:i], q.active[i+1:]...)
			break
		}
	}
	if !ok {
		desc := ""
		if cause != nil {
			desc = cause.Error()
		}
		q.dead = append(q.dead, deadletter.Letter{
			Queue: queue, SequenceNumber: m.seq, MessageID: m.id, Body: m.body, ContentType: m.ct, Properties: maps.Clone(m.props),
			Reason: "MaxDeliveryCountExceeded", Description: desc, DeliveryCount: m.deliveries, EnqueuedAt: m.enqueued,
		})
	}
}

// Peek implements deadletter.Queue.
func (b *Broker) Peek(ctx context.Context, queue string, max int) ([]deadletter.Letter, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	dead := b.queue(queue).dead
	return append([]deadletter.Letter(nil), dead[:min(max, len(dead))]...), nil
}

// Replay implements deadletter.Queue.
func (b *Broker) Replay(ctx context.Context, queue string, max int, pick func(deadletter.Letter) bool, now time.Time) ([]redelivery.Copy, error) {
	b.mu.Lock()
	var keep []deadletter.Letter
	var copies []redelivery.Copy
	for _, l := range b.queue(queue).dead {
		if len(copies) < max && pick(l) {
			copies = append(copies, redelivery.Replay(l.State(), l.Body, l.ContentType, l.Properties, now))
			continue
		}
		keep = append(keep, l)
	}
	b.queue(queue).dead = keep
	b.mu.Unlock()
	for _, c := range copies {
		if !b.enqueue(queue, c.MessageID, c.Body, c.ContentType, c.Properties, b.now()) {
			return copies, fmt.Errorf("replay of %s dropped by duplicate detection", c.MessageID)
		}
	}
	return copies, nil
}

// PumpStats counts what Pump did.
type PumpStats struct {
	Deliveries, Completed, Abandoned, DeadLettered int
}

// Pump delivers every visible message of b through the host protocol
// until none is visible at the current (virtual) time, the way the host's
// receivers would: failures are redelivered at once up to the maximum
// delivery count, then dead-lettered.
func (h *Host) Pump(ctx context.Context, b *Broker) (PumpStats, error) {
	var st PumpStats
	if len(h.o.Queues) == 0 {
		return st, errors.New("host: no queue bindings to pump (Options.Queues)")
	}
	for {
		progressed := false
		for _, q := range h.o.Queues {
			queue := q.Queue
			m, ok := b.take(queue)
			if !ok {
				continue
			}
			progressed = true
			st.Deliveries++
			_, err := h.DeliverOnce(ctx, q.Function, Message{ID: m.id, Body: m.body, ContentType: m.ct,
				SequenceNumber: m.seq, EnqueuedTime: m.enqueued, Properties: m.props, DeliveryCount: m.deliveries})
			if ctx.Err() != nil {
				return st, ctx.Err()
			}
			b.settle(queue, m, err == nil, err, h.o.MaxDeliveryCount)
			switch {
			case err == nil:
				st.Completed++
			case m.deliveries >= h.o.MaxDeliveryCount:
				st.DeadLettered++
			default:
				st.Abandoned++
			}
		}
		if !progressed {
			return st, nil
		}
	}
}

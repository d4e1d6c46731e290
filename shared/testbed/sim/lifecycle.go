package sim

import (
	"container/heap"
	"time"
)

// The lifecycle is a set of deadlines on users, mailboxes and restore
// requests. Every mutation calls touch(obj), which files the object's
// current deadline in a min-heap; advanceLocked pops what is due, checks
// that the deadline still holds (objects change after they are filed) and
// applies the transition at its own due time, so that transitions happen
// in time order whatever the clock jumped over.

type entry struct {
	at  time.Time
	seq int64
	obj any // *user, *mailbox, *restoreReq
}

type schedule struct {
	h   []entry
	seq int64
}

func (q *schedule) Len() int { return len(q.h) }

func (q *schedule) Less(i, j int) bool {
	if !q.h[i].at.Equal(q.h[j].at) {
		return q.h[i].at.Before(q.h[j].at)
	}
	return q.h[i].seq < q.h[j].seq
}

func (q *schedule) Swap(i, j int) { q.h[i], q.h[j] = q.h[j], q.h[i] }

func (q *schedule) Push(x any) { q.h = append(q.h, x.(entry)) }

func (q *schedule) Pop() any {
	e := q.h[len(q.h)-1]
	q.h = q.h[:len(q.h)-1]
	return e
}

// touch files obj's current deadline, if any.
func (s *Sim) touch(obj any) {
	if t, ok := s.due(obj); ok {
		s.sched.seq++
		heap.Push(&s.sched, entry{at: t, seq: s.sched.seq, obj: obj})
	}
}

func (s *Sim) due(obj any) (time.Time, bool) {
	switch o := obj.(type) {
	case *user:
		switch {
		case o.state == userDeleted:
			return o.deletedAt.Add(retentionWindow), true
		case o.state == userActive && o.disableAt != nil:
			return *o.disableAt, true
		}
	case *mailbox:
		switch {
		case o.state == mbSoftDeleted && o.purgeAt != nil:
			return *o.purgeAt, true
		case o.state == mbActive && o.unlicensedSince != nil && !o.graceKept:
			return o.unlicensedSince.Add(retentionWindow), true
		}
	case *restoreReq:
		switch o.status {
		case "Queued":
			return o.startAt, true
		case "InProgress":
			at := o.endAt
			if o.failAt != nil && o.failAt.Before(at) {
				at = *o.failAt
			}
			if o.troubleAt != nil && o.troubleAt.Before(at) {
				at = *o.troubleAt
			}
			return at, true
		case "Retrying", "Synced":
			if o.resumeAt != nil {
				return *o.resumeAt, true
			}
		case "CompletionInProgress":
			return o.doneAt, true
		}
	}
	return time.Time{}, false
}

// advanceLocked applies every transition due up to now, in time order.
func (s *Sim) advanceLocked() {
	now := s.now()
	for s.sched.Len() > 0 && !s.sched.h[0].at.After(now) {
		e := heap.Pop(&s.sched).(entry)
		t, ok := s.due(e.obj)
		if !ok || !t.Equal(e.at) {
			continue // stale: the object changed since it was filed
		}
		s.fire(e.obj, t)
		s.touch(e.obj)
	}
	s.subscriptionsDue(now)
}

func (s *Sim) fire(obj any, t time.Time) {
	switch o := obj.(type) {
	case *user:
		switch {
		case o.state == userDeleted:
			s.log.Debug().Str("upn", o.UPN).Msg("sim: recycle bin expiry, user hard-deleted")
			s.hardDeleteUser(o, t, true)
		case o.disableAt != nil:
			o.disableAt = nil
			if !o.hasExchange() && o.AccountEnabled {
				o.AccountEnabled = false
				s.emit(o, "updated", t)
			}
		}
	case *mailbox:
		switch o.state {
		case mbSoftDeleted:
			s.purgeMailbox(o, t, "soft-delete retention (30 days) expired")
		case mbActive:
			if s.holdEffective(o, t) {
				o.graceKept = true // held: the data outlives the licence
				return
			}
			s.purgeMailbox(o, t, "licence removed more than 30 days ago")
		}
	case *restoreReq:
		s.stepRestore(o, t)
	}
}

package sim

import (
	"container/heap"
	"errors"
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
func (q *schedule) Push(x any)    { q.h = append(q.h, x.(entry)) }
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

// holdEffective reports whether a hold protects m at t: a Litigation Hold
// set at least HoldPropagation before t, or any in-place hold.
func (s *Sim) holdEffective(m *mailbox, t time.Time) bool {
	if len(m.inPlaceHolds) > 0 {
		return true
	}
	return m.holdEnabled && !t.Before(m.holdSetAt.Add(s.opts.HoldPropagation))
}

// deleteUser soft-deletes u at t (Graph DELETE /users, or Remove-Mailbox).
func (s *Sim) deleteUser(u *user, t time.Time, byRemove bool) {
	u.state = userDeleted
	u.deletedAt = t
	u.licensesAtDelete = u.Licenses
	u.Licenses = nil // deleting the user frees its licences at once
	if m := u.mailbox; m != nil && m.state == mbActive {
		if !byRemove {
			// Deleted in Entra: Exchange learns it asynchronously.
			s.startLag(m, lagDelete, mbActive, true, t)
		}
		m.softDeletedAt = tp(t)
		m.byRemove, m.byDisable = byRemove, !byRemove
		if s.holdEffective(m, t) {
			m.state = mbInactive
			m.wasInactive = true
			m.purgeAt = nil
		} else {
			m.state = mbSoftDeleted
			end := t.Add(retentionWindow)
			if m.unlicensedSince != nil && !m.graceKept {
				// The licence grace keeps running: the earlier deadline wins.
				if g := m.unlicensedSince.Add(retentionWindow); g.Before(end) {
					end = g
				}
			}
			m.purgeAt = tp(end)
		}
		s.touch(m)
	}
	s.touch(u)
}

// hardDeleteUser removes u from the recycle bin at t: automatically when
// the 30 days ran out (expired), or by an admin.
func (s *Sim) hardDeleteUser(u *user, t time.Time, expired bool) {
	u.state = userPurged
	if m := u.mailbox; m != nil && m.user == u {
		m.userID = "" // ExternalDirectoryObjectId goes with the Entra object
		if m.state == mbSoftDeleted {
			licensed := false
			for _, a := range u.licensesAtDelete {
				licensed = licensed || a.SKU.Exchange
			}
			switch {
			case expired:
				s.purgeMailbox(m, t, "user hard-deleted after 30 days in the recycle bin")
			case licensed && m.unlicensedSince == nil:
				// Purged with its licence: the mailbox stays soft-deleted
				// for 30 days after the purge.
				m.purgeAt = tp(t.Add(retentionWindow))
				s.touch(m)
			default:
				s.purgeMailbox(m, t, "user purged from the recycle bin after its licence was removed")
			}
		}
	}
	s.emit(u, "deleted", t)
}

var errUPNTaken = errors.New("Another object with the same value for property userPrincipalName already exists.")

// restoreUser brings u back from the recycle bin with its licences and
// mailbox.
func (s *Sim) restoreUser(u *user, t time.Time) error {
	if s.activeUserByUPN(u.UPN) != nil {
		return errUPNTaken
	}
	u.state = userActive
	for _, a := range u.licensesAtDelete {
		if s.consumed(a.SKU) < a.SKU.Units {
			u.Licenses = append(u.Licenses, a)
		}
	}
	u.licensesAtDelete = nil
	if m := u.mailbox; m != nil && m.user == u && (m.state == mbSoftDeleted || m.state == mbInactive) {
		m.state = mbActive
		m.softDeletedAt, m.purgeAt = nil, nil
		m.byRemove, m.byDisable = false, false
		if !u.hasExchange() && m.unlicensedSince == nil {
			m.unlicensedSince = tp(t)
		}
		s.touch(m)
	}
	s.touch(u)
	s.emit(u, "updated", t)
	return nil
}

// purgeMailbox hard-deletes m's content at t and counts what was lost.
func (s *Sim) purgeMailbox(m *mailbox, t time.Time, reason string) {
	if m.state == mbPurged {
		return
	}
	lost := max(0, m.items-m.savedPrimary) + max(0, m.archiveItems-m.savedArchive)
	m.itemsLost += lost
	m.savedPrimary, m.savedArchive = min(m.savedPrimary, m.items), min(m.savedArchive, m.archiveItems)
	m.items, m.archiveItems = 0, 0
	m.state = mbPurged
	m.purgeAt = nil
	m.lostAt = tp(t)
	m.lostReason = reason
	s.log.Info().Str("mailbox", m.reportKey).Int("itemsLost", lost).Str("reason", reason).Msg("sim: mailbox purged")
	for _, r := range s.requests {
		if (r.source == m || r.target == m) && restoreActive(r.status) {
			r.status = "Failed"
			r.failedAt = tp(t)
			r.failureType = "MailboxNotFoundPermanentException"
			r.failureMsg = "The source or target mailbox was permanently deleted."
		}
	}
}

// removeLicences removes ks (all when nil) from active user u at t.
func (s *Sim) removeLicences(u *user, ks []*sku, t time.Time) bool {
	var keep []assigned
	changed := false
	u.lastRemoved = nil
	for _, a := range u.Licenses {
		drop := ks == nil
		for _, k := range ks {
			drop = drop || a.SKU == k
		}
		if drop {
			changed = true
			u.lastRemoved = append(u.lastRemoved, a.SKU)
		} else {
			keep = append(keep, a)
		}
	}
	u.Licenses = keep
	if m := u.mailbox; changed && m != nil && m.state == mbActive && !u.hasExchange() && m.unlicensedSince == nil {
		m.unlicensedSince = tp(t)
		m.graceKept = false
		s.touch(m)
	}
	return changed
}

var errNoUnits = errors.New("no free units")

// addLicences assigns ks to active user u at t.
func (s *Sim) addLicences(u *user, add []assigned, t time.Time) {
	for _, a := range add {
		dup := false
		for i, have := range u.Licenses {
			if have.SKU == a.SKU {
				u.Licenses[i] = a
				dup = true
			}
		}
		if !dup {
			u.Licenses = append(u.Licenses, a)
		}
	}
	s.licenceChanged(u, t)
}

// licenceChanged settles the mailbox after u's licences changed.
func (s *Sim) licenceChanged(u *user, t time.Time) {
	if !u.hasExchange() {
		return
	}
	u.disableAt = nil
	m := u.mailbox
	switch {
	case m == nil || m.state == mbPurged || m.user != u:
		s.startLag(s.provision(u, t), lagLicence, mbActive, true, t)
	case m.state == mbActive:
		m.unlicensedSince = nil
		m.graceKept = false
	}
	s.touch(u)
}

// setHold enables Litigation Hold on m at t. Enabling an enabled hold does
// not restart propagation.
func (s *Sim) setHold(m *mailbox, t time.Time) {
	if !m.holdEnabled {
		m.holdEnabled = true
		m.holdSetAt = t
	}
	if m.holdOwner == "" {
		m.holdOwner = "holdfast@" + s.opts.Domain
	}
}

// removeHold disables Litigation Hold on m at t and applies the
// consequences: an inactive mailbox becomes soft-deleted again, or is
// purged when its 30 days are over.
func (s *Sim) removeHold(m *mailbox, t time.Time) {
	m.holdEnabled = false
	m.holdSetAt = time.Time{}
	switch m.state {
	case mbInactive:
		if len(m.inPlaceHolds) > 0 {
			return
		}
		del := t
		if m.softDeletedAt != nil {
			del = *m.softDeletedAt
		}
		if t.Sub(del) > retentionWindow {
			s.purgeMailbox(m, t, "hold removed from an inactive mailbox deleted more than 30 days ago")
			return
		}
		m.state = mbSoftDeleted
		m.purgeAt = tp(del.Add(retentionWindow))
		s.touch(m)
	case mbActive:
		if m.graceKept {
			s.purgeMailbox(m, t, "hold removed after the licence grace period ended")
		}
	}
}

// restoreActive reports whether a request has not finished.
func restoreActive(status string) bool {
	switch status {
	case "Queued", "InProgress", "Retrying", "Synced", "AutoSuspended", "Suspended", "CompletionInProgress":
		return true
	}
	return false
}

// Timed pauses of scripted statuses, and the finalisation step.
const (
	retryingFor   = 20 * time.Minute
	syncedFor     = 10 * time.Minute
	finalisingFor = 2 * time.Minute
)

// stepRestore moves a restore request along at t: Queued, InProgress
// (with any scripted trouble half-way), CompletionInProgress, then
// Completed or CompletedWithWarning.
func (s *Sim) stepRestore(r *restoreReq, t time.Time) {
	switch r.status {
	case "Queued":
		r.status = "InProgress"
		r.startAt = t
		n := r.source.items
		if r.SourceIsArchive {
			n = r.source.archiveItems
		}
		r.endAt = t.Add(restoreDuration(n))
		if r.failOnce {
			r.failOnce = false
			r.failAt = tp(t.Add(r.endAt.Sub(t) / 2))
		}
		r.scheduleTrouble(t)
	case "Retrying", "Synced":
		// The pause ends: progress resumes where it stopped.
		paused := t.Sub(r.pausedAt)
		r.startAt, r.endAt = r.startAt.Add(paused), r.endAt.Add(paused)
		r.status, r.resumeAt = "InProgress", nil
		r.scheduleTrouble(t)
	case "CompletionInProgress":
		r.status = "Completed"
		if r.warning {
			r.status = "CompletedWithWarning"
		}
		r.completedAt = tp(t)
	case "InProgress":
		if r.failAt != nil && !r.failAt.After(t) && t.Before(r.endAt) {
			r.status = "Failed"
			r.failedAt = tp(t)
			r.failAt = nil
			r.failureType = "TransientException"
			r.failureMsg = "Error: MapiExceptionNetworkError: Unable to make connection to the server."
			return
		}
		if r.source.state == mbPurged || r.target.state == mbPurged {
			r.status = "Failed"
			r.failedAt = tp(t)
			r.failureType = "MailboxNotFoundPermanentException"
			return
		}
		if r.troubleAt != nil && !r.troubleAt.After(t) && t.Before(r.endAt) {
			next := r.script[0]
			r.script, r.troubleAt = r.script[1:], nil
			r.pausedPct, r.pausedAt = r.percent(t), t
			switch next {
			case "Retrying":
				r.status, r.resumeAt = next, tp(t.Add(retryingFor))
			case "Synced":
				r.status, r.resumeAt = next, tp(t.Add(syncedFor))
			case "AutoSuspended", "Suspended":
				r.status = next // until Resume-MailboxRestoreRequest
			case "Failed":
				r.status, r.failedAt = "Failed", tp(t)
				r.failureType = "TransientException"
				r.failureMsg = "Error: MapiExceptionNetworkError: Unable to make connection to the server."
			}
			return
		}
		n := r.source.items
		if r.SourceIsArchive {
			n = r.source.archiveItems
		}
		if r.warning && n > 0 {
			r.skipped = max(1, n/100) // CompletedWithWarning: some items were skipped
		}
		n -= r.skipped
		r.items = n
		if r.TargetIsArchive {
			r.target.archiveItems += n
		} else {
			r.target.items += n
		}
		if r.SourceIsArchive {
			r.source.savedArchive = max(r.source.savedArchive, n)
		} else {
			r.source.savedPrimary = max(r.source.savedPrimary, n)
		}
		r.target.received = append(r.target.received, received{From: r.source.reportKey, Request: r.Name, Items: n,
			TargetRootFolder: r.TargetRootFolder, TargetIsArchive: r.TargetIsArchive, SourceIsArchive: r.SourceIsArchive})
		seen := false
		for _, x := range r.source.restoredTo {
			seen = seen || x == r.target.UPN
		}
		if !seen {
			r.source.restoredTo = append(r.source.restoredTo, r.target.UPN)
		}
		r.status = "CompletionInProgress"
		r.doneAt = t.Add(finalisingFor)
	}
}

// scheduleTrouble places the next scripted status half-way through what
// is left of the copy.
func (r *restoreReq) scheduleTrouble(t time.Time) {
	if len(r.script) > 0 && r.endAt.After(t) {
		r.troubleAt = tp(t.Add(r.endAt.Sub(t) / 2))
	}
}

// restoreDuration is the virtual time a restore of n items takes: about 10
// minutes per 1000 items, at least 5 minutes.
func restoreDuration(n int) time.Duration {
	d := time.Duration(n) * 600 * time.Millisecond
	return max(d, 5*time.Minute)
}

// percent reports a restore request's progress at t.
func (r *restoreReq) percent(t time.Time) int {
	switch r.status {
	case "Completed", "CompletedWithWarning":
		return 100
	case "CompletionInProgress":
		return 99
	case "Retrying", "Synced", "AutoSuspended", "Suspended":
		return r.pausedPct
	case "InProgress":
		total := r.endAt.Sub(r.startAt)
		if total <= 0 {
			return 99
		}
		p := int(10 + 89*t.Sub(r.startAt)/total)
		return min(max(p, 10), 99)
	case "Failed":
		if r.failedAt != nil && r.endAt.After(r.startAt) && !r.startAt.IsZero() {
			return min(max(int(10+89*r.failedAt.Sub(r.startAt)/r.endAt.Sub(r.startAt)), 0), 99)
		}
	}
	return 0
}

package sim

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Area restores: the MailboxRestoreRequest cmdlets and the request's
// progress on the virtual clock.

var conflictOptions = []string{"ForceCopy", "KeepAll", "KeepLatestItem", "KeepSourceItem", "KeepTargetItem", "UpdateFromSource"}

func (s *Sim) xNewRestore(p params) ([]map[string]any, []string, *exError) {
	src, _, err := p.str("SourceMailbox")
	if err != nil {
		return nil, nil, err
	}
	tgt, _, err := p.str("TargetMailbox")
	if err != nil {
		return nil, nil, err
	}
	flags := map[string]bool{}
	for _, n := range []string{"SourceIsArchive", "TargetIsArchive", "AllowLegacyDNMismatch", "ExcludeDumpster", "Suspend", "AcceptLargeDataLoss"} {
		b, err := p.boolean(n)
		if err != nil {
			return nil, nil, err
		}
		flags[n] = b
	}
	cro, hasCRO, err := p.str("ConflictResolutionOption")
	if err != nil {
		return nil, nil, err
	}
	if hasCRO {
		ok := false
		for _, o := range conflictOptions {
			if strings.EqualFold(o, cro) {
				cro, ok = o, true
			}
		}
		if !ok {
			return nil, nil, paramErr("Cannot process argument transformation on parameter 'ConflictResolutionOption'. Cannot convert value \"%s\" to type \"Microsoft.Exchange.MailboxReplicationService.ConflictResolutionOption\". Valid values: %s.", cro, strings.Join(conflictOptions, ", "))
		}
	} else {
		cro = "KeepSourceItem"
	}
	source, xerr := s.resolve(src, scopeAnyDeleted)
	if xerr != nil {
		return nil, nil, xerr
	}
	target, xerr := s.resolve(tgt, scopeActive)
	if xerr != nil {
		return nil, nil, xerr
	}
	if source.autoExpanding {
		return nil, nil, opErr(src, "The source mailbox has an auto-expanding archive. Inactive or soft-deleted mailboxes with auto-expanding archiving can't be restored; use a content search export instead.")
	}
	if flags["SourceIsArchive"] && !source.hasArchive {
		return nil, nil, opErr(src, "The source mailbox '%s' doesn't have an archive.", src)
	}
	if flags["TargetIsArchive"] && !target.hasArchive {
		return nil, nil, opErr(tgt, "The target mailbox '%s' doesn't have an archive.", tgt)
	}
	// Learn: the source's LegacyExchangeDN must be on the target as its
	// LegacyExchangeDN or as an X500 proxy address, unless the switch is
	// given (which is being deprecated in the cloud).
	if !flags["AllowLegacyDNMismatch"] && !strings.EqualFold(source.LegacyDN, target.LegacyDN) &&
		!slices.ContainsFunc(target.x500, func(x string) bool { return strings.EqualFold(x, "X500:"+source.LegacyDN) }) {
		return nil, nil, opErr(tgt, "The LegacyExchangeDN of the source mailbox isn't present on the target mailbox as its LegacyExchangeDN or as an X500 proxy address. Use the AllowLegacyDNMismatch switch to restore anyway.")
	}
	name, hasName, err := p.str("Name")
	if err != nil {
		return nil, nil, err
	}
	taken := func(n string) bool {
		for _, r := range s.requests {
			if !r.removed && r.target == target && strings.EqualFold(r.Name, n) {
				return true
			}
		}
		return false
	}
	if hasName {
		if taken(name) {
			return nil, nil, &exError{status: 400, category: catResourceExists, class: clsNameUnique, target: tgt,
				msg: fmt.Sprintf("The name must be unique per target mailbox. There is already a request called '%s\\%s'.", target.Alias, name)}
		}
	} else {
		name = "MailboxRestore"
		for i := 1; taken(name); i++ {
			if i > 9 {
				return nil, nil, &exError{status: 400, category: catResourceExists, class: clsNameUnique, target: tgt,
					msg: "Couldn't find a unique name for the restore request; specify -Name."}
			}
			name = fmt.Sprintf("MailboxRestore%d", i)
		}
	}
	trf, _, err := p.str("TargetRootFolder")
	if err != nil {
		return nil, nil, err
	}
	batch, _, err := p.str("BatchName")
	if err != nil {
		return nil, nil, err
	}
	now := s.now()
	r := &restoreReq{Name: name, Guid: s.newGUID(), BatchName: batch, source: source, target: target,
		sourceKey: source.reportKey, targetKey: target.reportKey, TargetRootFolder: trf,
		SourceIsArchive: flags["SourceIsArchive"], TargetIsArchive: flags["TargetIsArchive"],
		AllowLegacyDNMismatch: flags["AllowLegacyDNMismatch"], ConflictResolutionOption: cro,
		ExcludeDumpster: flags["ExcludeDumpster"], status: "Queued", queuedAt: now}
	// The Mailbox Replication Service queues requests: 1 to 15 minutes,
	// fixed per request so runs repeat.
	h := fnv.New32a()
	_, _ = h.Write([]byte(r.Guid))
	r.startAt = now.Add(time.Minute + time.Duration(h.Sum32()%15)*time.Minute)
	if len(s.nextScript) > 0 {
		for _, st := range s.nextScript {
			if st == "CompletedWithWarning" {
				r.warning = true
			} else {
				r.script = append(r.script, st)
			}
		}
		s.nextScript = nil
	}
	if flags["Suspend"] {
		r.status = "Suspended"
	}
	if s.failNext {
		r.failOnce = true
		s.failNext = false
	}
	s.requests = append(s.requests, r)
	s.touch(r)
	return []map[string]any{s.restoreJSON(r)}, nil, nil
}

func (s *Sim) restoreJSON(r *restoreReq) map[string]any {
	return map[string]any{
		"Name": r.Name, "Identity": r.target.Alias + "\\" + r.Name, "RequestGuid": r.Guid, "Status": r.status,
		"TargetMailbox": r.target.Alias, "SourceMailbox": r.source.ExchangeGuid, "BatchName": r.BatchName,
		"RequestStyle": "IntraOrg", "Direction": "Pull", "Flags": "IntraOrg, Pull", "Suspend": r.status == "Suspended",
		"TargetIsArchive": r.TargetIsArchive, "SourceIsArchive": r.SourceIsArchive, "WhenCreated": exDate(r.queuedAt),
	}
}

// statusDetail values are UNVERIFIED beyond their names appearing in
// public scripts; holdfast only records them.
func statusDetail(r *restoreReq) string {
	switch r.status {
	case "InProgress":
		return "CopyingMessages"
	case "Retrying":
		return "StalledDueToTarget_MdbAvailability"
	case "Synced":
		return "IncrementalSync"
	case "CompletionInProgress":
		return "Finalization"
	case "Failed":
		return "FailedOther"
	}
	return r.status
}

func (s *Sim) statsJSON(r *restoreReq) map[string]any {
	now := s.now()
	n := r.items
	if r.status != "Completed" {
		n = r.source.items
		if r.SourceIsArchive {
			n = r.source.archiveItems
		}
	}
	pct := r.percent(now)
	const itemBytes = 75 * 1024
	size := func(b int64) string { return fmt.Sprintf("%.3f MB (%s bytes)", float64(b)/(1<<20), commas(b)) }
	transferred := int64(n) * itemBytes * int64(pct) / 100
	var start, done, failed any
	if r.status != "Queued" && !(r.status == "Suspended" && r.startAt.IsZero()) {
		start = exDate(r.startAt)
	}
	done = exDatePtr(r.completedAt)
	failed = exDatePtr(r.failedAt)
	var msg any
	if r.failureMsg != "" {
		msg = r.failureMsg
	}
	var ft any
	if r.failureType != "" {
		ft = r.failureType
	}
	return map[string]any{
		"Name": r.Name, "Identity": r.target.Alias + "\\" + r.Name, "RequestGuid": r.Guid, "Status": r.status,
		"StatusDetail": statusDetail(r), "PercentComplete": pct, "TargetAlias": r.target.Alias,
		"TargetMailboxIdentity": r.target.Name, "SourceMailboxIdentity": r.source.Name, "BatchName": r.BatchName,
		"TargetRootFolder": r.TargetRootFolder, "SourceIsArchive": r.SourceIsArchive, "TargetIsArchive": r.TargetIsArchive,
		"AllowLegacyDNMismatch": r.AllowLegacyDNMismatch, "ConflictResolutionOption": r.ConflictResolutionOption,
		"ExcludeDumpster": r.ExcludeDumpster, "EstimatedTransferSize": size(int64(n) * itemBytes),
		"EstimatedTransferItemCount": n, "ItemsTransferred": int64(n) * int64(pct) / 100,
		"BytesTransferred": size(transferred), "BytesTransferredPerMinute": size(int64(itemBytes) * 1000 / 10),
		"QueuedTimestamp": exDate(r.queuedAt), "StartTimestamp": start, "CompletionTimestamp": done,
		"FailureTimestamp": failed, "FailureType": ft, "Message": msg, "DataConsistencyScore": "Perfect",
	}
}

func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func (s *Sim) findRequest(id string) (*restoreReq, *exError) {
	for _, r := range s.requests {
		if r.removed {
			continue
		}
		if strings.EqualFold(r.Guid, id) || strings.EqualFold(r.target.Alias+"\\"+r.Name, id) {
			return r, nil
		}
	}
	return nil, notFoundErr(id)
}

func (s *Sim) xGetRestore(p params) ([]map[string]any, []string, *exError) {
	id, hasID, err := p.str("Identity")
	if err != nil {
		return nil, nil, err
	}
	status, hasStatus, err := p.str("Status")
	if err != nil {
		return nil, nil, err
	}
	if hasID && (hasStatus || p.has("Name") || p.has("TargetMailbox") || p.has("BatchName")) {
		return nil, nil, paramErr("Parameter set cannot be resolved using the specified named parameters.")
	}
	if hasID {
		r, xerr := s.findRequest(id)
		if xerr != nil {
			return nil, nil, xerr
		}
		return []map[string]any{s.restoreJSON(r)}, nil, nil
	}
	name, hasName, err := p.str("Name")
	if err != nil {
		return nil, nil, err
	}
	batch, hasBatch, err := p.str("BatchName")
	if err != nil {
		return nil, nil, err
	}
	var target *mailbox
	if t, ok, err := p.str("TargetMailbox"); err != nil {
		return nil, nil, err
	} else if ok {
		m, xerr := s.resolve(t, scopeActive)
		if xerr != nil {
			return nil, nil, xerr
		}
		target = m
	}
	out := []map[string]any{}
	for _, r := range s.requests {
		if r.removed || hasStatus && !strings.EqualFold(r.status, status) || hasName && !strings.EqualFold(r.Name, name) ||
			hasBatch && !strings.EqualFold(r.BatchName, batch) || target != nil && r.target != target {
			continue
		}
		out = append(out, s.restoreJSON(r))
	}
	return out, nil, nil
}

func (s *Sim) xRestoreStats(p params) ([]map[string]any, []string, *exError) {
	for _, n := range []string{"IncludeReport", "IncludeSkippedItems", "ReportOnly"} {
		if _, err := p.boolean(n); err != nil {
			return nil, nil, err
		}
	}
	id, _, err := p.str("Identity")
	if err != nil {
		return nil, nil, err
	}
	r, xerr := s.findRequest(id)
	if xerr != nil {
		return nil, nil, xerr
	}
	return []map[string]any{s.statsJSON(r)}, nil, nil
}

func (s *Sim) xResumeRestore(p params) ([]map[string]any, []string, *exError) {
	id, _, err := p.str("Identity")
	if err != nil {
		return nil, nil, err
	}
	r, xerr := s.findRequest(id)
	if xerr != nil {
		return nil, nil, xerr
	}
	// Learn: Resume-MailboxRestoreRequest resumes a request that was
	// suspended or failed; AutoSuspended is the service's suspension.
	if r.status != "Failed" && r.status != "Suspended" && r.status != "AutoSuspended" {
		return nil, nil, opErr(id, "The request '%s' can't be resumed because it's %s.", id, r.status)
	}
	if r.source.state == mbPurged || r.target.state == mbPurged {
		return nil, nil, opErr(id, "The source or target mailbox of '%s' no longer exists.", id)
	}
	now := s.now()
	r.status, r.failedAt, r.failAt, r.failureType, r.failureMsg = "Queued", nil, nil, "", ""
	r.troubleAt, r.resumeAt = nil, nil
	r.startAt = now.Add(time.Minute)
	s.touch(r)
	return nil, nil, nil
}

func (s *Sim) xRemoveRestore(p params) ([]map[string]any, []string, *exError) {
	id, _, err := p.str("Identity")
	if err != nil {
		return nil, nil, err
	}
	r, xerr := s.findRequest(id)
	if xerr != nil {
		return nil, nil, xerr
	}
	r.removed = true
	if restoreActive(r.status) {
		r.status = "Removed" // stops the schedule; content is not copied
	}
	return nil, nil, nil
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

package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/holdfast/holdfast/shared/alert"
	"github.com/holdfast/holdfast/shared/retention"
	"github.com/holdfast/holdfast/shared/tenant"
)

// archiveHoldComment marks the hold holdfast places on the archive target.
const archiveHoldComment = "holdfast archive target: restored leaver mailboxes"

// startRestore rescues a soft-deleted (or inactive) mailbox by copying its
// content into the archive target with New-MailboxRestoreRequest: the only
// path left once the user is purged from the recycle bin, and the path
// policy copy-to-archive chooses. The sweep then monitors the requests.
func (e *Engine) startRestore(ctx context.Context, r *record, t *tx) error {
	c := &r.Case
	if c.AutoExpandingArchive {
		e.block(r, t, retention.BlockAutoExpandingArchive,
			"the mailbox has an auto-expanding archive: Exchange cannot restore it",
			"export the mailbox with a Purview content search (eDiscovery export) before "+retention.DeadlineText(c))
		return nil
	}
	if c.ArchiveTarget == "" {
		remedy := "send the HR decision again with an archiveTarget, set HOLDFAST_ARCHIVE_TARGET to a licensed mailbox, or run `holdfast restore " + c.UPN + " --to TARGET`, before " + retention.DeadlineText(c)
		if c.DeletionSource == retention.DeletedInExchange && c.ExchangeGUID != "" {
			// Same source: a mailbox removed with Remove-Mailbox whose
			// account is gone comes back with a new account, which needs a
			// password (a SecureString holdfast does not send).
			remedy += "; or bring it back where it was removed: Undo-SoftDeletedMailbox -SoftDeletedObject " + c.ExchangeGUID +
				" -WindowsLiveID " + psQuote(c.UPN) + " -Password (Read-Host \"Enter password\" -AsSecureString), then license the account and place Litigation Hold"
		}
		e.block(r, t, retention.BlockNoArchiveTarget, "the mailbox can only be saved by copying it into an archive mailbox, and none is configured",
			remedy)
		return nil
	}
	source := c.ExchangeGUID
	if source == "" {
		source = c.DistinguishedName
	}
	if source == "" {
		e.block(r, t, retention.BlockNoMailboxIdentity, "holdfast never learned the mailbox's ExchangeGuid or DistinguishedName",
			"find it with Get-Mailbox -SoftDeletedMailbox and run New-MailboxRestoreRequest by hand before "+retention.DeadlineText(c))
		return nil
	}
	target, ok, err := e.prepareTarget(ctx, r, t, c.ArchiveTarget)
	if err != nil || !ok {
		return err
	}
	day := t.now
	jobs := retention.RestoreLayout(c.ArchiveGUID != "" && c.ArchiveGUID != zeroGUID, target.HasArchive())
	allow, err := e.legacyDNOnTarget(ctx, t, c, target)
	if err != nil {
		return err
	}
	for i := range jobs {
		j := &jobs[i]
		j.Attempt, j.Source, j.Target, j.AllowLegacyDN = 1, source, c.ArchiveTarget, allow
		j.TargetRootFolder = retention.TargetRootFolder(c, j.Part, day)
		j.Name = retention.RestoreName(c, j.Part, 1)
		if err := e.submitRestore(ctx, r, t, j); err != nil {
			return err
		}
	}
	e.step(r, t, retention.Fact{Kind: retention.FactRestoreStarted, Restores: jobs})
	return nil
}

const zeroGUID = "00000000-0000-0000-0000-000000000000"

// legacyDNOnTarget makes New-MailboxRestoreRequest's LegacyExchangeDN check
// pass the documented way, by adding the source's LegacyExchangeDN to the
// target as an X500 proxy address (Learn, New-MailboxRestoreRequest
// -AllowLegacyDNMismatch: the switch is being deprecated in the cloud). It
// reports whether the switch is still needed: only when the address cannot
// be added (another recipient holds it, or holdfast never learned the
// source's LegacyExchangeDN), the documented fallback. A side effect worth
// knowing: mail sent to the leaver's old LegacyExchangeDN (replies to old
// internal mail) now reaches the archive target.
func (e *Engine) legacyDNOnTarget(ctx context.Context, t *tx, c *retention.Case, target tenant.Mailbox) (bool, error) {
	if !retention.NeedsLegacyDNMismatch(c.LegacyExchangeDN, target.LegacyExchangeDN, target.EmailAddresses) {
		return false, nil
	}
	if c.LegacyExchangeDN == "" {
		t.log("addX500", "fallback", "the source's LegacyExchangeDN is unknown: New-MailboxRestoreRequest -AllowLegacyDNMismatch")
		return true, nil
	}
	wctx, rid := writeID(ctx)
	err := e.d.Exchange.AddX500Address(wctx, target.ExchangeGUID, c.LegacyExchangeDN)
	switch {
	case err == nil:
		t.log("addX500", "ok", retention.NameRequest("Set-Mailbox -Identity "+target.ExchangeGUID+" -EmailAddresses @{Add=\"X500:"+c.LegacyExchangeDN+"\"}", rid))
		return false, nil
	case errors.Is(err, tenant.ErrConflict), errors.Is(err, tenant.ErrRefused):
		t.log("addX500", "fallback", "cannot add the X500 address ("+err.Error()+"): New-MailboxRestoreRequest -AllowLegacyDNMismatch")
		return true, nil
	}
	return false, fmt.Errorf("add X500 address to archive target: %w", err)
}

// prepareTarget checks the archive target exists and is on Litigation Hold,
// placing the hold if not: restored content must not be deletable.
func (e *Engine) prepareTarget(ctx context.Context, r *record, t *tx, target string) (tenant.Mailbox, bool, error) {
	c := &r.Case
	mb, err := e.d.Exchange.GetMailbox(ctx, target, tenant.ScopeActive)
	if errors.Is(err, tenant.ErrNotFound) {
		e.block(r, t, retention.BlockRestoreTargetMissing, "the archive target "+target+" has no active mailbox",
			"create or license the mailbox "+target+", or point HOLDFAST_ARCHIVE_TARGET at another, before "+retention.DeadlineText(c))
		return mb, false, nil
	}
	if err != nil {
		return mb, false, fmt.Errorf("read archive target: %w", err)
	}
	if mb.LitigationHoldEnabled {
		t.log("verifyTargetHold", "ok", "archive target "+target+" is on Litigation Hold")
		return mb, true, nil
	}
	rid := uuid.NewString()
	err = e.d.Exchange.SetLitigationHold(ctx, tenant.HoldRequest{Identity: mb.ExchangeGUID, Enabled: true, Comment: archiveHoldComment, RequestID: rid})
	switch {
	case errors.Is(err, tenant.ErrHoldNotAllowed):
		e.block(r, t, retention.BlockRestoreTargetNoHold, "the archive target "+target+" cannot be placed on Litigation Hold (its licence does not include it)",
			"assign Exchange Online Plan 2 to "+target+" before "+retention.DeadlineText(c))
		return mb, false, nil
	case err != nil:
		return mb, false, fmt.Errorf("place hold on archive target: %w", err)
	}
	mb, err = e.d.Exchange.GetMailbox(ctx, target, tenant.ScopeActive)
	if err != nil {
		return mb, false, fmt.Errorf("verify archive target hold: %w", err)
	}
	if !mb.LitigationHoldEnabled {
		return mb, false, errors.New("verify archive target hold: Get-Mailbox reports LitigationHoldEnabled=false after Set-Mailbox")
	}
	t.log("placeTargetHold", "ok", retention.NameRequest("Litigation Hold placed on archive target "+target, rid))
	return mb, true, nil
}

// submitRestore starts the request for j unless one with its name exists
// already (a retry after a crash between the request and the commit).
func (e *Engine) submitRestore(ctx context.Context, r *record, t *tx, j *retention.RestoreJob) error {
	j.StartedAt, j.ProgressAt, j.CheckedAt, j.CompletedAt = t.now, t.now, nil, nil
	j.Status, j.PercentComplete, j.StallAlerted, j.RequestID = retention.RestorePending, 0, false, ""
	existing, err := e.d.Exchange.GetRestoreRequests(ctx, j.Name)
	if err != nil {
		return fmt.Errorf("look for restore request %s: %w", j.Name, err)
	}
	if len(existing) > 0 {
		e.adoptRequest(j, existing[0])
		t.log("restoreRequest", "ok", "found existing request "+j.Name+" ("+j.Status+"): not starting a second")
		return nil
	}
	wctx, rid := writeID(ctx)
	st, err := e.d.Exchange.NewRestoreRequest(wctx, tenant.RestoreRequest{
		Name: j.Name, SourceMailbox: j.Source, TargetMailbox: j.Target, TargetRootFolder: j.TargetRootFolder,
		SourceIsArchive: j.SourceIsArchive, TargetIsArchive: j.TargetIsArchive, AllowLegacyDNMismatch: j.AllowLegacyDN,
	})
	if errors.Is(err, tenant.ErrLegacyDNMismatch) && !j.AllowLegacyDN {
		// The X500 address may not have reached the service that checks it
		// yet; the switch is the documented fallback.
		t.log("restoreRequest", "fallback", "LegacyExchangeDN check failed ("+err.Error()+"): retrying with -AllowLegacyDNMismatch")
		j.AllowLegacyDN = true
		wctx, rid = writeID(ctx)
		st, err = e.d.Exchange.NewRestoreRequest(wctx, tenant.RestoreRequest{
			Name: j.Name, SourceMailbox: j.Source, TargetMailbox: j.Target, TargetRootFolder: j.TargetRootFolder,
			SourceIsArchive: j.SourceIsArchive, TargetIsArchive: j.TargetIsArchive, AllowLegacyDNMismatch: true,
		})
	}
	if errors.Is(err, tenant.ErrConflict) {
		existing, gerr := e.d.Exchange.GetRestoreRequests(ctx, j.Name)
		if gerr == nil && len(existing) > 0 {
			e.adoptRequest(j, existing[0])
			t.log("restoreRequest", "ok", "request "+j.Name+" already exists: adopted")
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("New-MailboxRestoreRequest %s: %w", j.Name, err)
	}
	e.adoptRequest(j, st)
	t.log("restoreRequest", "ok", retention.NameRequest(fmt.Sprintf("New-MailboxRestoreRequest -Name %s -SourceMailbox %s -TargetMailbox %s -TargetRootFolder %q SourceIsArchive=%v TargetIsArchive=%v AllowLegacyDNMismatch=%v",
		j.Name, j.Source, j.Target, j.TargetRootFolder, j.SourceIsArchive, j.TargetIsArchive, j.AllowLegacyDN), rid))
	return nil
}

func (e *Engine) adoptRequest(j *retention.RestoreJob, st tenant.RestoreStatus) {
	j.RequestID = st.RequestGUID
	if j.RequestID == "" && st.TargetAlias != "" {
		j.RequestID = st.TargetAlias + `\` + j.Name
	}
	if st.Status != "" {
		j.Status = st.Status
	}
	j.StatusDetail = st.StatusDetail
	if st.PercentComplete > j.PercentComplete {
		j.PercentComplete = st.PercentComplete
	}
}

// monitorRestore reads each running request's statistics, records progress,
// retries failures while time remains and alerts on stalls and on anything
// that cannot finish before the deadline.
func (e *Engine) monitorRestore(ctx context.Context, r *record, t *tx) error {
	c := &r.Case
	now := t.now
	for i := range c.Restores {
		j := &c.Restores[i]
		if j.Done() {
			continue
		}
		id := j.RequestID
		if id == "" {
			id = j.Name
		}
		st, err := e.d.Exchange.GetRestoreStatistics(ctx, id)
		switch {
		case errors.Is(err, tenant.ErrNotFound):
			// Removed by someone: the request is gone, not the need.
			st = tenant.RestoreStatus{Status: retention.RestoreFailed, StatusDetail: "request no longer exists"}
		case err != nil:
			return fmt.Errorf("Get-MailboxRestoreRequestStatistics %s: %w", j.Name, err)
		}
		checked := now
		j.CheckedAt = &checked
		if st.PercentComplete > j.PercentComplete {
			j.ProgressAt = now
		}
		j.PercentComplete, j.Status, j.StatusDetail = st.PercentComplete, st.Status, st.StatusDetail
		if j.Done() {
			done := now
			j.CompletedAt = &done
			j.PercentComplete = 100
			if j.Status == retention.RestoreWarning {
				// Done, but some items were skipped: the copy is not whole.
				e.alert(r, alert.Alert{ID: fmt.Sprintf("%s:restoreWarning:%s", c.Key, j.Name), Kind: "restoreCompletedWithWarning", Severity: "warning",
					Action: "the copy finished but Exchange skipped some items", At: now,
					Remedy:  "review the skipped items with Get-MailboxRestoreRequestStatistics " + id + " -IncludeReport -IncludeSkippedItems before the source is purged",
					Details: map[string]string{"request": j.Name, "statusDetail": j.StatusDetail}})
			}
		}
		t.log("restoreStatus", "ok", fmt.Sprintf("%s: %s %d%% (%s)", j.Name, j.Status, j.PercentComplete, j.StatusDetail))
		switch retention.JudgeRestore(*j, c.Deadline, now) {
		case retention.VerdictRetry:
			e.alert(r, alert.Alert{ID: fmt.Sprintf("%s:restoreFailed:%s", c.Key, j.Name), Kind: "restoreFailed", Severity: "warning",
				Action: "holdfast starts a new attempt now", At: now, Details: map[string]string{"request": j.Name, "statusDetail": j.StatusDetail}})
			j.Attempt++
			j.Name = retention.RestoreName(c, j.Part, j.Attempt)
			if err := e.submitRestore(ctx, r, t, j); err != nil {
				return err
			}
		case retention.VerdictTooLate:
			e.alert(r, alert.Alert{ID: fmt.Sprintf("%s:restoreCannotFinish:%s", c.Key, j.Name), Kind: "restoreCannotFinish", Severity: "critical",
				Action: "holdfast cannot finish the copy before the mailbox is purged", At: now,
				Remedy:  "export the mailbox with a Purview content search now, or check the request with Get-MailboxRestoreRequestStatistics " + id,
				Details: map[string]string{"request": j.Name, "status": j.Status, "percentComplete": fmt.Sprint(j.PercentComplete)}})
		case retention.VerdictResume:
			// The service suspended it (AutoSuspended); Learn's documented
			// action is Resume-MailboxRestoreRequest. Bounded by
			// MaxRestoreResumes, after which it is reported as stalled.
			j.Resumes++
			wctx, rid := writeID(ctx)
			if err := e.d.Exchange.ResumeRestoreRequest(wctx, id); err != nil && !errors.Is(err, tenant.ErrNotFound) {
				return fmt.Errorf("Resume-MailboxRestoreRequest %s: %w", j.Name, err)
			}
			t.log("restoreResume", "ok", retention.NameRequest(fmt.Sprintf("Resume-MailboxRestoreRequest -Identity %s (%s, resume %d of %d)", id, j.StatusDetail, j.Resumes, retention.MaxRestoreResumes), rid))
		case retention.VerdictSuspended, retention.VerdictUnknown:
			if j.Reported != j.Status {
				j.Reported = j.Status
				remedy := "holdfast never suspends its own requests: resume it with Resume-MailboxRestoreRequest -Identity " + id + " or remove it so holdfast starts a new attempt"
				if retention.PhaseOf(j.Status) == retention.PhaseUnknown {
					remedy = "Exchange reports a status holdfast does not know; check Get-MailboxRestoreRequestStatistics " + id + " -IncludeReport"
				}
				e.alert(r, alert.Alert{ID: fmt.Sprintf("%s:restoreStatus:%s:%s", c.Key, j.Name, j.Status), Kind: "restoreNeedsAttention", Severity: "warning",
					Action: "holdfast keeps watching the request; it is reported as unable to finish if it is not done before the deadline", At: now,
					Remedy: remedy, Details: map[string]string{"request": j.Name, "status": j.Status, "statusDetail": j.StatusDetail}})
			}
		case retention.VerdictStalled:
			if !j.StallAlerted {
				j.StallAlerted = true
				e.alert(r, alert.Alert{ID: fmt.Sprintf("%s:restoreStalled:%s", c.Key, j.Name), Kind: "restoreStalled", Severity: "warning",
					Action: "holdfast keeps watching the request", At: now,
					Remedy:  fmt.Sprintf("no progress for %s at %d%%: check Get-MailboxRestoreRequestStatistics %s -IncludeReport", retention.RestoreStallAfter, j.PercentComplete, id),
					Details: map[string]string{"request": j.Name, "status": j.Status}})
			}
		}
	}
	if retention.RestoresDone(c) {
		e.step(r, t, retention.Fact{Kind: retention.FactRestoreFinished})
	}
	return nil
}

// psQuote renders s as a single-quoted PowerShell literal for a remedy an
// admin copies: no expansion, quotes doubled (including the typographic
// single quotes PowerShell also accepts).
func psQuote(s string) string {
	r := strings.NewReplacer("'", "''", "\u2018", "\u2018\u2018", "\u2019", "\u2019\u2019", "\u201a", "\u201a\u201a", "\u201b", "\u201b\u201b")
	return "'" + r.Replace(s) + "'"
}

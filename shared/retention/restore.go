package retention

import (
	"strconv"
	"strings"
	"time"
)

// Rescue modes (HOLDFAST_RESCUE_MODE and named policies).
const (
	ModeUndelete      = "undelete"
	ModeCopyToArchive = "copy-to-archive"
)

// Restore polling and stall detection. A stall is no PercentComplete
// progress for StallAfter: the Mailbox Replication Service moves large
// mailboxes in bursts, so this is generous. PollInterval is how often the
// sweep reads Get-MailboxRestoreRequestStatistics while a copy runs.
const (
	RestorePollInterval = 15 * time.Minute
	RestoreStallAfter   = 6 * time.Hour
	// RestoreMinTime is the least time a new attempt needs before the
	// source is purged; with less left, a failure is reported as unable to
	// finish rather than retried.
	RestoreMinTime = 30 * time.Minute
	// MaxRestoreAttempts bounds retries of one part.
	MaxRestoreAttempts = 5
)

// Restore parts.
const (
	PartPrimary = "primary"
	PartArchive = "archive"
)

// Restore statuses holdfast records: Exchange's own, as listed for
// Get-MailboxRestoreRequest -Status on Learn, plus Pending before the
// request exists.
const (
	RestorePending              = "Pending"
	RestoreQueued               = "Queued"
	RestoreInProgress           = "InProgress"
	RestoreRetrying             = "Retrying"
	RestoreSynced               = "Synced"
	RestoreCompletionInProgress = "CompletionInProgress"
	RestoreAutoSuspended        = "AutoSuspended"
	RestoreSuspended            = "Suspended"
	RestoreCompleted            = "Completed"
	RestoreWarning              = "CompletedWithWarning"
	RestoreFailed               = "Failed"
)

// MaxRestoreResumes bounds how often holdfast resumes one AutoSuspended
// request before it reports it instead.
const MaxRestoreResumes = 3

// RestorePhase is what a restore request status means for holdfast.
type RestorePhase int

const (
	PhaseUnknown       RestorePhase = iota // a status Learn does not list
	PhaseRunning                           // the service is working on it
	PhaseAutoSuspended                     // the service stopped it; Resume-MailboxRestoreRequest
	PhaseSuspended                         // someone stopped it; not holdfast's to override
	PhaseDone                              // Completed or CompletedWithWarning
	PhaseFailed                            // Failed
)

// PhaseOf maps every status Learn lists for Get-MailboxRestoreRequest
// -Status. Retrying is the service retrying a transient failure itself;
// Synced and CompletionInProgress are on the way to Completed.
func PhaseOf(status string) RestorePhase {
	switch status {
	case RestorePending, RestoreQueued, RestoreInProgress, RestoreRetrying, RestoreSynced, RestoreCompletionInProgress:
		return PhaseRunning
	case RestoreAutoSuspended:
		return PhaseAutoSuspended
	case RestoreSuspended:
		return PhaseSuspended
	case RestoreCompleted, RestoreWarning:
		return PhaseDone
	case RestoreFailed:
		return PhaseFailed
	}
	return PhaseUnknown
}

// RestoreJob is one New-MailboxRestoreRequest the case owns: the primary
// mailbox, or the archive, copied into the archive target.
type RestoreJob struct {
	Part             string     `json:"part"` // primary or archive
	Name             string     `json:"name"` // deterministic, see RestoreName
	Attempt          int        `json:"attempt"`
	Source           string     `json:"source"` // ExchangeGuid or DistinguishedName
	Target           string     `json:"target"`
	TargetRootFolder string     `json:"targetRootFolder"`
	SourceIsArchive  bool       `json:"sourceIsArchive,omitempty"`
	TargetIsArchive  bool       `json:"targetIsArchive,omitempty"`
	AllowLegacyDN    bool       `json:"allowLegacyDnMismatch,omitempty"`
	RequestID        string     `json:"requestId,omitempty"` // RequestGuid, or Alias\Name
	Status           string     `json:"status"`
	StatusDetail     string     `json:"statusDetail,omitempty"`
	PercentComplete  int        `json:"percentComplete"`
	StartedAt        time.Time  `json:"startedAt"`
	ProgressAt       time.Time  `json:"progressAt"` // last time PercentComplete moved
	CheckedAt        *time.Time `json:"checkedAt,omitempty"`
	CompletedAt      *time.Time `json:"completedAt,omitempty"`
	StallAlerted     bool       `json:"stallAlerted,omitempty"`
	Resumes          int        `json:"resumes,omitempty"` // Resume-MailboxRestoreRequest calls
	// Reported is the last unusual status (Suspended, an unknown one)
	// reported for this request, so each is reported once.
	Reported string `json:"reported,omitempty"`
}

// Done reports whether the job finished well.
func (j RestoreJob) Done() bool { return j.Status == RestoreCompleted || j.Status == RestoreWarning }

// RestoreName is the deterministic request name for a case's part and
// attempt: a retry after a crash finds the request it already started
// (Get-MailboxRestoreRequest -Name) instead of starting a second one.
// Names are unique per target mailbox, and the object id makes them
// unique per case.
func RestoreName(c *Case, part string, attempt int) string {
	n := "holdfast-" + c.ObjectID + "-" + part
	if attempt > 1 {
		n += "-" + strconv.Itoa(attempt)
	}
	return n
}

// TargetRootFolder names the folder the content lands in: who it was and
// when it was saved, so the archive stays readable for a human. Exchange
// creates it if missing; without it a primary-to-archive copy is invisible.
func TargetRootFolder(c *Case, part string, day time.Time) string {
	who := c.UPN
	if who == "" {
		who = c.ObjectID
	}
	s := "holdfast " + who + " " + day.UTC().Format("2006-01-02")
	if part == PartArchive {
		s += " (archive)"
	}
	return s
}

// NeedsLegacyDNMismatch reports whether New-MailboxRestoreRequest must be
// told -AllowLegacyDNMismatch: the target does not carry the source's
// LegacyExchangeDN (the usual case for a different target mailbox).
func NeedsLegacyDNMismatch(sourceLegacyDN, targetLegacyDN string, targetProxies []string) bool {
	if sourceLegacyDN == "" {
		return true
	}
	if strings.EqualFold(sourceLegacyDN, targetLegacyDN) {
		return false
	}
	for _, p := range targetProxies {
		if strings.EqualFold(p, "X500:"+sourceLegacyDN) {
			return false
		}
	}
	return true
}

// RestoreLayout decides the parts to copy: the primary always, the archive
// when the source has one. Content goes into the target's archive when it
// has one, else into its primary, each part under its own root folder.
func RestoreLayout(sourceHasArchive, targetHasArchive bool) []RestoreJob {
	jobs := []RestoreJob{{Part: PartPrimary, TargetIsArchive: targetHasArchive}}
	if sourceHasArchive {
		jobs = append(jobs, RestoreJob{Part: PartArchive, SourceIsArchive: true, TargetIsArchive: targetHasArchive})
	}
	return jobs
}

// RestoreVerdict is what the monitor makes of a status reading.
type RestoreVerdict int

const (
	VerdictRunning   RestoreVerdict = iota // keep polling
	VerdictDone                            // completed
	VerdictStalled                         // no progress for RestoreStallAfter
	VerdictRetry                           // failed, time remains: start a new attempt
	VerdictTooLate                         // failed or cannot finish before the deadline
	VerdictResume                          // AutoSuspended: Resume-MailboxRestoreRequest
	VerdictSuspended                       // suspended by someone else: report, keep watching
	VerdictUnknown                         // a status holdfast does not know: report, keep watching
)

// JudgeRestore classifies job j (already updated with the latest reading)
// at now against the case deadline (nil: no clock).
func JudgeRestore(j RestoreJob, deadline *time.Time, now time.Time) RestoreVerdict {
	if j.Done() {
		return VerdictDone
	}
	late := deadline != nil && !now.Add(RestoreMinTime).Before(*deadline)
	if PhaseOf(j.Status) == PhaseFailed {
		if late || j.Attempt >= MaxRestoreAttempts {
			return VerdictTooLate
		}
		return VerdictRetry
	}
	if deadline != nil && !now.Before(*deadline) {
		return VerdictTooLate
	}
	switch PhaseOf(j.Status) {
	case PhaseAutoSuspended:
		if j.Resumes < MaxRestoreResumes {
			return VerdictResume
		}
		return VerdictStalled // resumed often enough: a human must look
	case PhaseSuspended:
		return VerdictSuspended
	case PhaseUnknown:
		return VerdictUnknown
	}
	if now.Sub(j.ProgressAt) >= RestoreStallAfter {
		return VerdictStalled
	}
	return VerdictRunning
}

// RestoresDone reports whether every job of the case has completed.
func RestoresDone(c *Case) bool {
	if len(c.Restores) == 0 {
		return false
	}
	for _, j := range c.Restores {
		if !j.Done() {
			return false
		}
	}
	return true
}

// NextRestoreCheck is when the monitor should next read the statistics.
func NextRestoreCheck(c *Case) (time.Time, bool) {
	var next time.Time
	found := false
	for _, j := range c.Restores {
		if j.Done() {
			continue
		}
		at := j.StartedAt
		if j.CheckedAt != nil {
			at = *j.CheckedAt
		}
		at = at.Add(RestorePollInterval)
		if !found || at.Before(next) {
			next, found = at, true
		}
	}
	return next, found
}

// CopyToArchive reports whether the case's rescue must copy content into
// the archive target: policy says so, or the user was purged from the
// recycle bin and nothing else can bring the mailbox back.
func CopyToArchive(c *Case) bool {
	if c.DeletedAt == nil && c.UserPurgedAt == nil {
		return false // an active, unlicensed mailbox is saved by a licence
	}
	return c.UserPurgedAt != nil || c.RescueMode == ModeCopyToArchive
}

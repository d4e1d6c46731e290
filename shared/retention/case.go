// Package retention is holdfast's pure domain core: the case a leaver's
// mailbox is tracked by, the policy that decides whether it must be kept,
// the case machine (Step) that takes every decision from one fact at a
// time, and the planner (PlanCase) that says what must be done now and
// when to look again. It does no I/O and reads no clock: time is always an
// argument.
package retention

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// State is where a case stands. The names are what admins see.
type State string

const (
	// StateTracking: holdfast knows the user; nothing is at risk yet.
	StateTracking State = "tracking"
	// StateProtecting: a hold was placed and verified but may not be in
	// effect yet: not yet safe to delete the user.
	StateProtecting State = "protecting"
	// StateProtected: the hold is in effect; deleting the user now leaves
	// an inactive mailbox.
	StateProtected State = "protected"
	// StateAtRisk: a purge clock runs on a mailbox policy says to keep; a
	// rescue is scheduled before the deadline.
	StateAtRisk State = "atRisk"
	// StateRescuing: a rescue is under way.
	StateRescuing State = "rescuing"
	// StateRestored: the mailbox's content was copied into the archive
	// target (New-MailboxRestoreRequest completed); the source may be
	// purged on schedule without loss.
	StateRestored State = "restored"
	// StateInactive: the user is deleted and the mailbox is inactive under
	// the hold: preserved.
	StateInactive State = "inactive"
	// StateBlocked: protection is impossible without a human (licence
	// without Litigation Hold, auto-expanding archive, no licence units).
	StateBlocked State = "blocked"
	// StateReleased: policy says release; the clock is watched and
	// warnings go out, but nothing is rescued.
	StateReleased State = "released"
	// StatePurged: the mailbox is gone.
	StatePurged State = "purged"
	// StateCancelled: the offboarding was cancelled.
	StateCancelled State = "cancelled"
	// StateFailing: actions keep failing; a human must look.
	StateFailing State = "failing"
	// StateUnconfirmed: Exchange does not (yet) show the mailbox where the
	// directory says it is: in no scope, or still active for a deleted
	// user. Exchange catches up with Entra asynchronously, so one such
	// reading proves nothing; holdfast re-reads (see Evidence) and the
	// rescue stays armed meanwhile.
	StateUnconfirmed State = "unconfirmed"
)

// Terminal states need no more timers.
func (s State) Terminal() bool { return s == StatePurged || s == StateCancelled }

// Retention decisions.
const (
	Retain  = "retain"
	Release = "release"
)

// Deletion sources: the same-source restore rule depends on them.
const (
	DeletedInEntra    = "entra"
	DeletedInExchange = "exchange"
)

// Clock kinds a deadline can come from.
const (
	ClockLicenceGrace = "licenceGrace"
	ClockSoftDelete   = "softDelete"
	// ClockRecoveredLicence: an inactive mailbox recovered into a new
	// account (New-Mailbox -InactiveMailbox) must be licensed within 30
	// days or the account is disabled.
	ClockRecoveredLicence = "recoveredLicence"
)

// Window is the 30-day period Microsoft 365 keeps data after a licence
// removal or a soft delete.
const Window = 30 * 24 * time.Hour

// Case is everything holdfast knows and decided about one user's mailbox.
// Key is "<tenantId>_<objectId>": UPNs change and are reused.
type Case struct {
	Key        string `json:"key"`
	TenantID   string `json:"tenantId"`
	ObjectID   string `json:"objectId"`
	UPN        string `json:"upn"`
	EmployeeID string `json:"employeeId,omitempty"`
	Department string `json:"department,omitempty"`

	// Decision.
	Retention        string `json:"retention"`        // retain or release
	Policy           string `json:"policy,omitempty"` // named policy that produced it
	DecisionSource   string `json:"decisionSource"`   // hr, default or admin
	Ticket           string `json:"ticket,omitempty"`
	LastWorkingDay   string `json:"lastWorkingDay,omitempty"`
	HoldDurationDays int    `json:"holdDurationDays"`
	ArchiveTarget    string `json:"archiveTarget,omitempty"`
	RescueMode       string `json:"rescueMode,omitempty"`

	State  State  `json:"state"`
	Reason string `json:"reason,omitempty"` // why the case is in its state, in words
	// ReasonKind is the typed part of Reason, for code (set with Explain).
	ReasonKind ReasonKind `json:"reasonKind,omitempty"`

	// Facts learned from the tenant.
	Licensed             bool       `json:"licensed"`
	SKUs                 []string   `json:"skus,omitempty"`        // licences seen on the user
	RemovedSKUs          []string   `json:"removedSkus,omitempty"` // to re-assign on rescue
	ExchangeGUID         string     `json:"exchangeGuid,omitempty"`
	ArchiveGUID          string     `json:"archiveGuid,omitempty"`
	DistinguishedName    string     `json:"distinguishedName,omitempty"`
	LegacyExchangeDN     string     `json:"legacyExchangeDn,omitempty"`
	AutoExpandingArchive bool       `json:"autoExpandingArchive,omitempty"`
	HoldEnabled          bool       `json:"holdEnabled"`
	HoldRequestedAt      *time.Time `json:"holdRequestedAt,omitempty"`
	HoldResendAt         *time.Time `json:"holdResendAt,omitempty"` // a request lost after its commit goes out again then
	HoldVerifiedAt       *time.Time `json:"holdVerifiedAt,omitempty"`
	HoldEffectiveAt      *time.Time `json:"holdEffectiveAt,omitempty"`
	LicenceRemovedAt     *time.Time `json:"licenceRemovedAt,omitempty"`
	DeletedAt            *time.Time `json:"deletedAt,omitempty"`
	DeletionSource       string     `json:"deletionSource,omitempty"`
	UserPurgedAt         *time.Time `json:"userPurgedAt,omitempty"`
	MailboxInactive      bool       `json:"mailboxInactive,omitempty"`
	MailboxPurgedAt      *time.Time `json:"mailboxPurgedAt,omitempty"`
	// Unconfirmed evidence (issue 17): the first of the consecutive
	// readings that found the mailbox out of place, and what the last one
	// found. Cleared by a reading that agrees with the directory.
	UnconfirmedSince *time.Time `json:"unconfirmedSince,omitempty"`
	LastSighting     Sighting   `json:"lastSighting,omitempty"`
	RecheckAt        *time.Time `json:"recheckAt,omitempty"`
	// Rehire recovery: the inactive mailbox now belongs to a new account
	// (ObjectID is switched to it; PreviousObjectID keeps the old one).
	RecoveredAt      *time.Time `json:"recoveredAt,omitempty"`
	PreviousObjectID string     `json:"previousObjectId,omitempty"`

	// Clock.
	Deadline     *time.Time `json:"deadline,omitempty"`
	DeadlineKind string     `json:"deadlineKind,omitempty"`

	// Rescue bookkeeping.
	RescueAttempts int `json:"rescueAttempts,omitempty"`
	// RescueNowFor is the deadline an HR decision found already running
	// (a late decision: the licence was removed or the user deleted before
	// it arrived). That episode is rescued at once, not at the margin: an
	// admin may still purge the user meanwhile, and nothing else stops it.
	RescueNowFor *time.Time `json:"rescueNowFor,omitempty"`
	// Restores are the copy-to-archive requests, one per part.
	Restores   []RestoreJob `json:"restores,omitempty"`
	RestoredAt *time.Time   `json:"restoredAt,omitempty"`
	RescuedAt  *time.Time   `json:"rescuedAt,omitempty"`
	LastError  string       `json:"lastError,omitempty"`
	Failures   int          `json:"failures,omitempty"` // consecutive failed sweeps

	// Alerts already sent (ids), so each is sent once.
	AlertsSent []string `json:"alertsSent,omitempty"`

	OpenedAt  time.Time `json:"openedAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Clone returns a copy of c that shares no slice with it (restore jobs
// are updated in place while they run).
func (c Case) Clone() Case {
	n := c
	n.SKUs = slices.Clone(c.SKUs)
	n.RemovedSKUs = slices.Clone(c.RemovedSKUs)
	n.Restores = slices.Clone(c.Restores)
	n.AlertsSent = slices.Clone(c.AlertsSent)
	return n
}

// CaseKey builds the case key from tenant and Entra object id.
func CaseKey(tenantID, objectID string) string {
	return strings.ToLower(tenantID) + "_" + strings.ToLower(objectID)
}

// SafeToDelete reports whether deleting the user now would leave an
// inactive mailbox: the hold is on and its propagation window has passed.
func (c *Case) SafeToDelete(now time.Time) bool {
	return c.HoldEnabled && c.HoldEffectiveAt != nil && !now.Before(*c.HoldEffectiveAt)
}

// Preserved reports whether the mailbox content is safe regardless of the
// clocks: inactive under a hold, or active with an effective hold.
func (c *Case) Preserved(now time.Time) bool {
	if c.MailboxPurgedAt != nil {
		return false
	}
	if c.MailboxInactive {
		return true
	}
	return c.SafeToDelete(now) && c.DeletedAt == nil
}

// AlertSent reports whether alert id was already sent for this case.
func (c *Case) AlertSent(id string) bool {
	for _, a := range c.AlertsSent {
		if a == id {
			return true
		}
	}
	return false
}

// MarkAlertSent records id.
func (c *Case) MarkAlertSent(id string) {
	if !c.AlertSent(id) {
		c.AlertsSent = append(c.AlertsSent, id)
	}
}

// SetDeadline starts (or moves) the purge clock.
func (c *Case) SetDeadline(kind string, start time.Time) {
	d := start.Add(Window)
	if c.Deadline != nil && c.DeadlineKind != kind && c.Deadline.Before(d) {
		// Keep the earlier clock: the first purge is the one that loses mail.
		return
	}
	c.Deadline, c.DeadlineKind = &d, kind
}

// ClearDeadline stops the clock (restore, re-licence, inactive mailbox).
func (c *Case) ClearDeadline() { c.Deadline, c.DeadlineKind = nil, "" }

// Retained reports whether policy says keep the mailbox.
func (c *Case) Retained() bool { return c.Retention == Retain }

// Policy is the configured retention policy (see shared/config).
type Policy struct {
	DefaultRetention string
	HoldDurationDays int
	HoldPropagation  time.Duration
	WarnThresholds   []time.Duration // descending
	RescueMode       string          // undelete or copy-to-archive
	RescueMargin     time.Duration
	ArchiveTarget    string
	// Named policies an HR event may cite instead of retain/release.
	Named map[string]NamedPolicy
	// MaxFailures before a case is marked failing and alerted.
	MaxFailures int
	// ExchangeLag bounds how long Exchange may take to reflect a directory
	// change; zero means DefaultExchangeLag.
	ExchangeLag time.Duration
}

// NamedPolicy is a per-department or per-role rule from the policy file.
type NamedPolicy struct {
	Retention        string `json:"retention"`
	HoldDurationDays *int   `json:"holdDurationDays,omitempty"`
	RescueMode       string `json:"rescueMode,omitempty"`
	ArchiveTarget    string `json:"archiveTarget,omitempty"`
}

// Decision is what an HR event (or the default) says about a leaver.
type Decision struct {
	Retention        string // retain, release or a named policy
	HoldDurationDays *int
	ArchiveTarget    string
	Ticket           string
	LastWorkingDay   string
	Source           string // hr, default, admin
}

// Decide applies a decision to the case under policy p. Unknown named
// policies fall back to retain: the safe side.
func Decide(c *Case, d Decision, p Policy) error {
	ret := d.Retention
	if ret == "" {
		ret = p.DefaultRetention
	}
	c.Policy = ""
	c.HoldDurationDays = p.HoldDurationDays
	c.RescueMode = p.RescueMode
	c.ArchiveTarget = p.ArchiveTarget
	switch ret {
	case Retain, Release:
		c.Retention = ret
	default:
		np, ok := p.Named[ret]
		if !ok {
			c.Retention = Retain
			c.Policy = ret
			return fmt.Errorf("unknown policy %q: retaining, the safe default", ret)
		}
		c.Policy = ret
		c.Retention = np.Retention
		if np.HoldDurationDays != nil {
			c.HoldDurationDays = *np.HoldDurationDays
		}
		if np.RescueMode != "" {
			c.RescueMode = np.RescueMode
		}
		if np.ArchiveTarget != "" {
			c.ArchiveTarget = np.ArchiveTarget
		}
	}
	if d.HoldDurationDays != nil {
		c.HoldDurationDays = *d.HoldDurationDays
	}
	if d.ArchiveTarget != "" {
		c.ArchiveTarget = d.ArchiveTarget
	}
	c.Ticket, c.LastWorkingDay, c.DecisionSource = d.Ticket, d.LastWorkingDay, d.Source
	return nil
}

// RetentionComment names the case on the mailbox, so an Exchange admin who
// finds the hold knows who placed it and why.
func (c *Case) RetentionComment() string {
	s := "holdfast case " + c.Key
	if c.Ticket != "" {
		s += " ticket " + c.Ticket
	}
	return s
}

// ThresholdLabel renders a warning threshold as "14d", "36h".
func ThresholdLabel(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	}
	return d.String()
}

// SortTimes returns ts sorted ascending without duplicates.
func SortTimes(ts []time.Time) []time.Time {
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	out := ts[:0]
	for i, t := range ts {
		if i == 0 || !t.Equal(out[len(out)-1]) {
			out = append(out, t)
		}
	}
	return out
}

// IncludesLitigationHold reports whether a SKU part number carries
// Exchange Online Plan 2, and so Litigation Hold.
func IncludesLitigationHold(partNumber string) bool {
	switch partNumber {
	case "EXCHANGEENTERPRISE", "ENTERPRISEPACK", "SPE_E3", "SPE_E5", "ENTERPRISEPREMIUM":
		return true
	}
	return false
}

// OriginalUPN undoes Entra's rewrite of a deleted user's UPN (the object
// id without dashes, prefixed): admins and HR know the original.
func OriginalUPN(objectID, upn string) string {
	prefix := strings.ReplaceAll(strings.ToLower(objectID), "-", "")
	if prefix != "" && len(upn) > len(prefix) && strings.EqualFold(upn[:len(prefix)], prefix) {
		return upn[len(prefix):]
	}
	return upn
}

// Package tenant holds the vocabulary holdfast shares with Microsoft 365:
// the users, licences and mailboxes it reads and acts on, and the errors the
// Graph and Exchange adapters translate service failures into. It has no I/O.
package tenant

import (
	"errors"
	"strconv"
	"time"
)

// Errors that adapters wrap so callers can use errors.Is.
var (
	// ErrNotFound: the object does not exist (Graph 404, Exchange ManagementObjectNotFound).
	ErrNotFound = errors.New("not found")
	// ErrThrottled: the service kept answering 429 after the client's retries.
	ErrThrottled = errors.New("throttled")
	// ErrNoLicenceUnits: assigning a licence failed because the SKU has no free unit.
	ErrNoLicenceUnits = errors.New("no free licence units")
	// ErrHoldNotAllowed: the mailbox's licence does not include Litigation Hold.
	ErrHoldNotAllowed = errors.New("litigation hold not allowed by licence")
	// ErrConflict: the service refused because of a conflicting object
	// (ExchangeGuid in use, restore request name taken, proxy address conflict).
	ErrConflict = errors.New("conflict")
	// ErrRefused: the service refused the operation for a documented reason
	// (e.g. Remove-Mailbox -PermanentlyDelete on a held mailbox).
	ErrRefused = errors.New("refused")
	// ErrTransient: the failure may pass; try again later. Adapters also
	// give this kind to any failure they do not recognise
	// (ServiceError.Unclassified): retrying a permanent error costs calls
	// and an alert, while giving up on a transient one could lose a mailbox.
	ErrTransient = errors.New("transient")
	// ErrLegacyDNMismatch: New-MailboxRestoreRequest refused because the
	// source's LegacyExchangeDN is not on the target (as its own or as an
	// X500 proxy address).
	ErrLegacyDNMismatch = errors.New("legacyExchangeDN not on the target")
	// ErrNoSecureStringKey: the cmdlet needs a SecureString parameter
	// (-Password) and no public key to encrypt it is configured
	// (HOLDFAST_EXO_SECURESTRING_KEY); nothing was sent. An admin must run
	// the cmdlet in PowerShell.
	ErrNoSecureStringKey = errors.New("no key for SecureString parameters")
)

// ErrObserveOnly marks a tenant write that observe-only mode
// (HOLDFAST_ACTIONS=observe) recorded instead of performing: nothing
// changed in the tenant. Match it with errors.Is; errors.As on
// *PlannedWrite says what would have been done.
var ErrObserveOnly = errors.New("observe-only mode: tenant write not performed")

// PlannedWrite is one tenant write observe-only mode did not perform.
type PlannedWrite struct {
	Op     string // the cmdlet or Graph call, e.g. "Set-Mailbox -LitigationHoldEnabled $true"
	Target string // the object it would act on (ExchangeGuid, object id, UPN)
	Detail string // parameters worth reviewing
}

func (p *PlannedWrite) Error() string {
	s := "observe-only mode: would " + p.Op
	if p.Target != "" {
		s += " on " + p.Target
	}
	if p.Detail != "" {
		s += " (" + p.Detail + ")"
	}
	return s
}

// Is makes errors.Is(err, ErrObserveOnly) true for a *PlannedWrite.
func (p *PlannedWrite) Is(target error) bool { return target == ErrObserveOnly }

// ServiceError carries what the service said, for audit rows and alerts.
// It wraps one of the sentinels above when the failure maps onto one.
type ServiceError struct {
	Service string // "graph" or "exchange"
	Status  int    // HTTP status
	Code    string // Graph error.code, or Exchange ErrorId
	Message string // human message
	Kind    error  // sentinel, or nil
	// Unclassified: no rule matched; Kind is ErrTransient and Raw keeps
	// what the service sent, so the audit shows it verbatim.
	Unclassified bool
	Raw          string
}

func (e *ServiceError) Error() string {
	s := e.Service + ": " + strconv.Itoa(e.Status) + " " + e.Code + ": " + e.Message
	if e.Unclassified {
		s += " [unclassified, retried as transient; response: " + e.Raw + "]"
	}
	return s
}

// Unwrap lets errors.Is match the sentinel kind.
func (e *ServiceError) Unwrap() error { return e.Kind }

// User is an Entra ID user as holdfast needs it.
type User struct {
	ID                string // Entra object id
	UserPrincipalName string
	Mail              string
	DisplayName       string
	AccountEnabled    bool
	EmployeeID        string
	Department        string
	UsageLocation     string
	AssignedSKUs      []string   // skuId GUIDs from assignedLicenses
	OnPremisesSynced  bool       // onPremisesSyncEnabled
	DeletedAt         *time.Time // set for users in directory/deletedItems
	// ProxyAddresses ("SMTP:primary", "smtp:alias"): read for users in the
	// recycle bin, whose UPN is rewritten but whose addresses are kept.
	ProxyAddresses []string
}

// Licence is one licenseDetails entry.
type Licence struct {
	SKUID         string
	SKUPartNumber string
	ServicePlans  []string // servicePlanName values
}

// SKU is one subscribedSkus entry.
type SKU struct {
	SKUID         string
	SKUPartNumber string
	Enabled       int // prepaidUnits.enabled
	Consumed      int // consumedUnits
}

// Free returns the number of unassigned units.
func (s SKU) Free() int { return s.Enabled - s.Consumed }

// Mail is an alert message sent through Graph sendMail.
type Mail struct {
	Subject string
	Body    string // plain text
	To      []string
}

// Mailbox is a Get-Mailbox result with the fields holdfast uses.
type Mailbox struct {
	ExchangeGUID              string
	ArchiveGUID               string // all zeros when no archive
	DistinguishedName         string
	LegacyExchangeDN          string
	PrimarySMTPAddress        string
	EmailAddresses            []string // proxy addresses ("SMTP:", "smtp:", "X500:" prefixes)
	UserPrincipalName         string
	Alias                     string
	ExternalDirectoryObjectID string
	RecipientTypeDetails      string
	LitigationHoldEnabled     bool
	LitigationHoldDate        *time.Time
	LitigationHoldDuration    string // "Unlimited" or "N.00:00:00"
	RetentionComment          string
	InPlaceHolds              []string
	IsInactiveMailbox         bool
	IsSoftDeletedByRemove     bool
	IsSoftDeletedByDisable    bool
	WhenSoftDeleted           *time.Time
	AutoExpandingArchive      bool   // AutoExpandingArchiveEnabled
	ArchiveStatus             string // "Active" or "None"
}

// HasArchive reports whether the mailbox has an archive.
func (m Mailbox) HasArchive() bool {
	return m.ArchiveGUID != "" && m.ArchiveGUID != "00000000-0000-0000-0000-000000000000"
}

// MailboxScope selects which mailboxes Get-Mailbox returns.
type MailboxScope int

const (
	ScopeActive          MailboxScope = iota // default Get-Mailbox
	ScopeSoftDeleted                         // -SoftDeletedMailbox
	ScopeInactiveOnly                        // -InactiveMailboxOnly
	ScopeIncludeInactive                     // -IncludeInactiveMailbox
)

// HoldRequest is a Set-Mailbox Litigation Hold change.
type HoldRequest struct {
	Identity     string // ExchangeGuid, DistinguishedName or UPN for active mailboxes
	Enabled      bool
	DurationDays int    // 0 means unlimited
	Comment      string // RetentionComment
	Inactive     bool   // pass -InactiveMailbox (identity must be DN or ExchangeGuid)
	// RequestID is the client-request-id to send it with, so the audit row
	// that records the request names it (Microsoft support correlates by
	// it); empty: the adapter picks one.
	RequestID string
}

// RestoreRequest is a New-MailboxRestoreRequest.
type RestoreRequest struct {
	Name                  string // deterministic per case
	SourceMailbox         string // ExchangeGuid (soft-deleted) or DistinguishedName (inactive)
	TargetMailbox         string
	TargetRootFolder      string
	SourceIsArchive       bool
	TargetIsArchive       bool
	AllowLegacyDNMismatch bool
}

// RestoreStatus is what Get-MailboxRestoreRequestStatistics reports.
type RestoreStatus struct {
	Name            string
	RequestGUID     string
	Status          string // Queued, InProgress, Completed, CompletedWithWarning, Failed, ...
	StatusDetail    string
	PercentComplete int
	TargetAlias     string
}

// Terminal reports whether the request has finished, well or badly.
func (s RestoreStatus) Terminal() bool {
	switch s.Status {
	case "Completed", "CompletedWithWarning", "Failed":
		return true
	}
	return false
}

// ErrDeltaExpired: a delta token is no longer accepted (Graph answers
// syncStateNotFound / resyncRequired); the caller must start a full round.
var ErrDeltaExpired = errors.New("delta token expired")

// Subscription is a Microsoft Graph change-notification subscription.
type Subscription struct {
	ID                 string
	Resource           string
	ChangeType         string
	NotificationURL    string
	LifecycleURL       string
	ClientState        string
	ApplicationID      string
	CreatorID          string
	ExpirationDateTime time.Time
}

// DeltaUser is one entry of a users delta round: a user as it is now, or,
// when Removed is set, only the id of a user that left the active set
// ("changed": soft-deleted, restorable; "deleted": gone for good).
type DeltaUser struct {
	User    User
	Removed string
}

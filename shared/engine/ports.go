// Package engine runs holdfast's retention work: it turns decoded events
// and due timers into reads of the tenant, protective and rescue actions,
// audited case transitions and alerts. Decisions come from the pure
// retention package; everything with I/O is reached through the small
// interfaces below, declared here where they are consumed.
package engine

import (
	"context"
	"time"

	"github.com/holdfast/holdfast/shared/alert"
	"github.com/holdfast/holdfast/shared/ledger"
	"github.com/holdfast/holdfast/shared/tenant"
)

// Directory is the part of Microsoft Graph the engine uses.
type Directory interface {
	GetUser(ctx context.Context, idOrUPN string) (tenant.User, error)
	FindUserByEmployeeID(ctx context.Context, employeeID string) (tenant.User, error)
	GetDeletedUser(ctx context.Context, id string) (tenant.User, error)
	RestoreDeletedUser(ctx context.Context, id string) (tenant.User, error)
	SetAccountEnabled(ctx context.Context, id string, enabled bool) error
	AssignLicenses(ctx context.Context, id string, add, remove []string) error
	SubscribedSKUs(ctx context.Context) ([]tenant.SKU, error)
	ListDeletedUsers(ctx context.Context, fn func(tenant.User) error) error
	ListUsers(ctx context.Context, fn func(tenant.User) error) error
}

// Exchange is the part of the Exchange Online admin API the engine uses.
type Exchange interface {
	GetMailbox(ctx context.Context, identity string, scope tenant.MailboxScope) (tenant.Mailbox, error)
	SetLitigationHold(ctx context.Context, h tenant.HoldRequest) error
	UndoSoftDeletedMailbox(ctx context.Context, softDeletedObject, windowsLiveID string) error
	NewMailboxFromInactive(ctx context.Context, inactiveIdentity, name, upn string) (tenant.Mailbox, error)
	NewRestoreRequest(ctx context.Context, r tenant.RestoreRequest) (tenant.RestoreStatus, error)
	GetRestoreRequests(ctx context.Context, name string) ([]tenant.RestoreStatus, error)
	GetRestoreStatistics(ctx context.Context, identity string) (tenant.RestoreStatus, error)
	ResumeRestoreRequest(ctx context.Context, identity string) error
	AddX500Address(ctx context.Context, identity, legacyDN string) error
	ListMailboxes(ctx context.Context, scope tenant.MailboxScope, fn func(tenant.Mailbox) error) error
}

// AccountUndoer is an Exchange client that can run Undo-SoftDeletedMailbox
// with -WindowsLiveID and -Password: the same-source way back for a mailbox
// removed with Remove-Mailbox whose account was purged since. -Password
// is a SecureString (package securestring, which the exo client already
// uses for UndoSoftDeletedMailbox and New-Mailbox). The exo client does not
// implement this yet: the new account has no usage location, so the
// rescue's re-licensing that follows would fail; until the engine sets one,
// holdfast raises a blocker alert with the exact PowerShell instead (and an
// implementation returning tenant.ErrNoSecureStringKey gets the same
// blocker). It returns the new account's object id.
type AccountUndoer interface {
	UndoSoftDeletedMailboxWithAccount(ctx context.Context, softDeletedObject, windowsLiveID string) (objectID string, err error)
}

// Store is the part of the ledger (package ledger's port) the engine
// uses: package store in production and on Azurite, package
// ledger/memledger in fast tests.
type Store interface {
	LoadCase(ctx context.Context, key string) (ledger.CaseRecord, error)
	Commit(ctx context.Context, c ledger.Commit) (string, error)
	PutTimer(ctx context.Context, t ledger.Timer) error
	DueTimers(ctx context.Context, now time.Time, max int, fn func(ledger.Timer) error) error
	DeleteTimer(ctx context.Context, t ledger.Timer) error
	Reject(ctx context.Context, r ledger.RejectedEvent) error
	PutIndex(ctx context.Context, kind ledger.IndexKind, value, caseKey string) error
	PutAlias(ctx context.Context, alias, caseKey string) error
	LookupIndex(ctx context.Context, kind ledger.IndexKind, value string) (string, error)
	MarkOnce(ctx context.Context, kind ledger.OnceKind, id string) (bool, error)
}

// Alerter delivers an alert to every configured channel.
type Alerter interface {
	Send(ctx context.Context, a alert.Alert) error
}

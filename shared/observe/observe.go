// Package observe provides observe-only mode (HOLDFAST_ACTIONS=observe):
// decorators around the engine's tenant ports and the alert channels that
// forward every read and turn every tenant write into a recorded plan. The
// engine runs unchanged: it reads the tenant, decides and audits as in
// acting mode, and a write answers with a *tenant.PlannedWrite error
// (errors.Is tenant.ErrObserveOnly), which the engine records on the case
// as a "would do" action instead of believing the write happened.
//
// The decorators embed the real ports so reads pass straight through; a
// test classifies every method of engine.Directory and engine.Exchange as
// read or write, so a write method added to the ports later cannot slip
// through observe-only mode unnoticed.
package observe

import (
	"context"
	"fmt"
	"strings"

	"github.com/holdfast/holdfast/shared/alert"
	"github.com/holdfast/holdfast/shared/engine"
	"github.com/holdfast/holdfast/shared/tenant"
)

// Directory forwards Graph reads and plans Graph writes.
type Directory struct {
	engine.Directory
}

// RestoreDeletedUser is planned, not performed.
func (d Directory) RestoreDeletedUser(_ context.Context, id string) (tenant.User, error) {
	return tenant.User{}, &tenant.PlannedWrite{Op: "restore the deleted user (POST directory/deletedItems/{id}/restore)", Target: id}
}

// SetAccountEnabled is planned, not performed.
func (d Directory) SetAccountEnabled(_ context.Context, id string, enabled bool) error {
	return &tenant.PlannedWrite{Op: "set accountEnabled (PATCH users/{id})", Target: id, Detail: fmt.Sprintf("accountEnabled=%v", enabled)}
}

// AssignLicenses is planned, not performed.
func (d Directory) AssignLicenses(_ context.Context, id string, add, remove []string) error {
	return &tenant.PlannedWrite{Op: "assign licences (POST users/{id}/assignLicense)", Target: id,
		Detail: "add " + strings.Join(add, ",") + " remove " + strings.Join(remove, ",")}
}

// Exchange forwards Exchange reads and plans Exchange writes.
type Exchange struct {
	engine.Exchange
}

// PlansWrites tells the engine that writes are planned here, not
// performed, so it need not defer them until its commit.
func (x Exchange) PlansWrites() bool { return true }

// SetLitigationHold is planned, not performed.
func (x Exchange) SetLitigationHold(_ context.Context, h tenant.HoldRequest) error {
	dur := "Unlimited"
	if h.DurationDays > 0 {
		dur = fmt.Sprintf("%dd", h.DurationDays)
	}
	return &tenant.PlannedWrite{Op: fmt.Sprintf("Set-Mailbox -LitigationHoldEnabled $%v", h.Enabled), Target: h.Identity,
		Detail: fmt.Sprintf("duration=%s comment=%q", dur, h.Comment)}
}

// UndoSoftDeletedMailbox is planned, not performed.
func (x Exchange) UndoSoftDeletedMailbox(_ context.Context, softDeletedObject, windowsLiveID string) error {
	p := &tenant.PlannedWrite{Op: "Undo-SoftDeletedMailbox", Target: softDeletedObject}
	if windowsLiveID != "" {
		p.Detail = "WindowsLiveID=" + windowsLiveID
	}
	return p
}

// AddX500Address is planned, not performed.
func (x Exchange) AddX500Address(_ context.Context, identity, legacyDN string) error {
	return &tenant.PlannedWrite{Op: "Set-Mailbox -EmailAddresses @{Add=X500}", Target: identity, Detail: "X500:" + legacyDN}
}

// NewMailboxFromInactive is planned, not performed.
func (x Exchange) NewMailboxFromInactive(_ context.Context, inactiveIdentity, name, upn string) (tenant.Mailbox, error) {
	return tenant.Mailbox{}, &tenant.PlannedWrite{Op: "New-Mailbox -InactiveMailbox", Target: inactiveIdentity,
		Detail: "name=" + name + " MicrosoftOnlineServicesID=" + upn}
}

// NewRestoreRequest is planned, not performed.
func (x Exchange) NewRestoreRequest(_ context.Context, r tenant.RestoreRequest) (tenant.RestoreStatus, error) {
	return tenant.RestoreStatus{}, &tenant.PlannedWrite{Op: "New-MailboxRestoreRequest", Target: r.SourceMailbox,
		Detail: fmt.Sprintf("name=%s target=%s rootFolder=%q", r.Name, r.TargetMailbox, r.TargetRootFolder)}
}

// ResumeRestoreRequest is planned, not performed.
func (x Exchange) ResumeRestoreRequest(_ context.Context, identity string) error {
	return &tenant.PlannedWrite{Op: "Resume-MailboxRestoreRequest", Target: identity}
}

// ExchangeWithAccount is Exchange for a client that also implements
// engine.AccountUndoer, so observe mode takes the same rescue path as
// acting mode would.
type ExchangeWithAccount struct {
	Exchange
}

// UndoSoftDeletedMailboxWithAccount is planned, not performed.
func (x ExchangeWithAccount) UndoSoftDeletedMailboxWithAccount(_ context.Context, softDeletedObject, windowsLiveID string) (string, error) {
	return "", &tenant.PlannedWrite{Op: "Undo-SoftDeletedMailbox -WindowsLiveID -Password", Target: softDeletedObject, Detail: "WindowsLiveID=" + windowsLiveID}
}

// WrapExchange returns the observe-mode decorator for x, keeping the
// optional engine.AccountUndoer capability when x has it.
func WrapExchange(x engine.Exchange) engine.Exchange {
	if _, ok := x.(engine.AccountUndoer); ok {
		return ExchangeWithAccount{Exchange{Exchange: x}}
	}
	return Exchange{Exchange: x}
}

// Mailer is the Graph sendMail port of the mail alert channel.
type Mailer interface {
	SendMail(ctx context.Context, from string, m tenant.Mail) error
}

// PlannedMailer records alert mail instead of sending it: sendMail is a
// write in the tenant (the message lands in the sender's Sent Items). The
// alert itself still reaches the other channels and the case record.
type PlannedMailer struct {
	// Planned, when set, sees each message that would have been sent.
	Planned func(from string, m tenant.Mail)
}

// SendMail records m and reports success, so the mail channel does not
// retry a message that is deliberately not sent.
func (p PlannedMailer) SendMail(_ context.Context, from string, m tenant.Mail) error {
	if p.Planned != nil {
		p.Planned(from, m)
	}
	return nil
}

// Prefix starts the action text of every alert sent in observe-only mode.
const Prefix = "observe mode (nothing done in the tenant): "

// Alerter marks every alert as sent in observe-only mode: Teams cards and
// topic messages still go out, saying that holdfast only plans.
type Alerter struct {
	Next engine.Alerter
}

// Send forwards a marked copy of a.
func (o Alerter) Send(ctx context.Context, a alert.Alert) error {
	if !strings.HasPrefix(a.Action, Prefix) {
		a.Action = Prefix + a.Action
	}
	d := make(map[string]string, len(a.Details)+1)
	for k, v := range a.Details {
		d[k] = v
	}
	d["mode"] = "observe"
	a.Details = d
	return o.Next.Send(ctx, a)
}

package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/holdfast/holdfast/shared/retention"
	"github.com/holdfast/holdfast/shared/tenant"
)

// recoverInactive brings a rehired leaver's inactive mailbox back into a
// new account (New-Mailbox -InactiveMailbox, identified by ExchangeGuid or
// DistinguishedName, never by SMTP address, which an active mailbox may
// share). The new account must be licensed within 30 days: that becomes
// the case's clock, warned like any other.
func (e *Engine) recoverInactive(ctx context.Context, r *record, upn string, t *tx) error {
	c := &r.Case
	if c.AutoExpandingArchive {
		e.block(r, t, retention.BlockAutoExpandingArchive, "rehired, but the inactive mailbox has an auto-expanding archive and cannot be recovered",
			"export the inactive mailbox with a Purview content search and import it into the new account")
		return nil
	}
	id := c.ExchangeGUID
	if id == "" {
		id = c.DistinguishedName
	}
	if id == "" || upn == "" {
		e.block(r, t, retention.BlockNoMailboxIdentity, "rehired, but holdfast does not know the inactive mailbox's ExchangeGuid or the new UPN",
			"run New-Mailbox -InactiveMailbox <ExchangeGuid> -MicrosoftOnlineServicesID <upn> and license the account within 30 days")
		return nil
	}
	local, _, _ := strings.Cut(upn, "@")
	name := local + "-rehired-" + t.now.Format("20060102")
	wctx, rid := writeID(ctx)
	mb, err := e.d.Exchange.NewMailboxFromInactive(wctx, id, name, upn)
	switch {
	case errors.Is(err, tenant.ErrNoSecureStringKey):
		e.block(r, t, retention.BlockNeedsPowerShell, "rehired, but New-Mailbox -InactiveMailbox "+noKeyWhy,
			"run in Exchange Online PowerShell: "+newInactiveMailboxCommand(id, name, upn)+" ; then license the new account within 30 days")
		return nil
	case errors.Is(err, tenant.ErrConflict):
		e.block(r, t, retention.BlockUPNInUse, "rehired, but "+upn+" (or the mailbox name "+name+") is already in use",
			"free the UPN or recover the mailbox by hand with New-Mailbox -InactiveMailbox "+id)
		return nil
	case errors.Is(err, tenant.ErrRefused):
		e.block(r, t, retention.BlockRecoveryRefused, "Exchange refused to recover the inactive mailbox: "+err.Error(),
			"if the old account is still in the recycle bin, restore it instead; otherwise recover by hand")
		return nil
	case err != nil:
		return fmt.Errorf("New-Mailbox -InactiveMailbox: %w", err)
	}
	newID := strings.ToLower(mb.ExternalDirectoryObjectID)
	if newID == "" {
		u, err := e.d.Directory.GetUser(ctx, upn)
		if err != nil {
			return fmt.Errorf("read recovered account %s: %w", upn, err)
		}
		newID = strings.ToLower(u.ID)
	}
	// Events for the new account carry its object id: point it here.
	if err := e.pointAt(ctx, newID, c.Key); err != nil {
		return err
	}
	t.log("recoverMailbox", "ok", retention.NameRequest(fmt.Sprintf("New-Mailbox -InactiveMailbox %s -Name %s -MicrosoftOnlineServicesID %s: new account %s", id, name, upn, newID), rid))
	e.step(r, t, retention.Fact{Kind: retention.FactRecovered, Recovery: retention.Recovery{ObjectID: newID, UPN: upn,
		ExchangeGUID: mb.ExchangeGUID, DistinguishedName: mb.DistinguishedName, LegacyExchangeDN: mb.LegacyExchangeDN}})
	return nil
}

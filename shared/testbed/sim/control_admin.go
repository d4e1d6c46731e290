package sim

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Area control: the admin actions (Admin, POST /_sim/admin).

// AdminAction is a directory or Exchange admin acting by hand (scenario
// "admin" steps, POST /_sim/admin).
type AdminAction struct {
	Action string `json:"action"`
	UPN    string `json:"upn"`
	SKU    string `json:"sku,omitempty"` // skuPartNumber
}

// ErrAdmin is wrapped by every refusal of an admin action.
var ErrAdmin = errors.New("sim: admin action refused")

// Admin performs a: removeLicense (all, or SKU), assignLicense (SKU, else
// the licences last removed, else ENTERPRISEPACK), deleteUser, restoreUser,
// purgeUser (hard delete from the recycle bin), removeMailbox (Exchange-side
// Remove-Mailbox: no notification), placeHold, removeHold, resyncUser (a new
// synced, licensed user arrives with the same UPN and ExchangeGuid) and
// disableAccount/enableAccount, and removeSubscription /
// removeSubscriptionNotify (Graph drops every live subscription; silently, as
// Learn documents for users, or with a subscriptionRemoved lifecycle event).
// Directory changes emit notifications like their Graph counterparts.
func (s *Sim) Admin(ctx context.Context, a AdminAction) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	now := s.now()
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s %s: %s", ErrAdmin, a.Action, a.UPN, fmt.Sprintf(format, args...))
	}
	var k *sku
	if a.SKU != "" {
		if k = s.skuByPart(a.SKU); k == nil {
			return fail("unknown SKU %q", a.SKU)
		}
	}
	active := s.activeUserByUPN(a.UPN)
	switch a.Action {
	case "removeLicense":
		if active == nil {
			return fail("no active user")
		}
		var ks []*sku
		if k != nil {
			ks = []*sku{k}
		}
		if !s.removeLicences(active, ks, now) {
			return fail("user has no such licence")
		}
		s.emit(active, "updated", now)
	case "assignLicense":
		if active == nil {
			return fail("no active user")
		}
		ks := []*sku{k}
		if k == nil {
			ks = active.lastRemoved
			if len(ks) == 0 {
				ks = []*sku{s.skuByPart("ENTERPRISEPACK")}
			}
		}
		var add []assigned
		for _, x := range ks {
			if x == nil {
				return fail("no SKU to assign")
			}
			if s.consumed(x) >= x.Units {
				return fail("%s has no free unit", x.PartNumber)
			}
			add = append(add, assigned{SKU: x, DisabledPlans: []string{}})
		}
		s.addLicences(active, add, now)
		s.emit(active, "updated", now)
	case "deleteUser":
		if active == nil {
			return fail("no active user")
		}
		s.deleteUser(active, now, false)
		s.emit(active, "updated", now)
	case "restoreUser":
		u := s.deletedUserByUPN(a.UPN)
		if u == nil {
			return fail("no user in the recycle bin")
		}
		if err := s.restoreUserFromEntra(u, now); err != nil {
			return fail("%v", err)
		}
	case "purgeUser":
		u := s.deletedUserByUPN(a.UPN)
		if u == nil {
			return fail("no user in the recycle bin")
		}
		s.hardDeleteUser(u, now, false)
	case "removeMailbox":
		if active == nil || active.mailbox == nil || active.mailbox.state != mbActive {
			return fail("no active mailbox")
		}
		s.deleteUser(active, now, true)
	case "placeHold", "removeHold":
		m := s.latestMailbox(a.UPN)
		if m == nil || m.state == mbPurged {
			return fail("no mailbox")
		}
		if a.Action == "placeHold" {
			if m.state != mbActive {
				return fail("mailbox is %s", m.state)
			}
			if m.user == nil || !m.user.holdAllowed() {
				return fail("the mailbox's licence does not include Litigation Hold")
			}
			s.setHold(m, now)
			return nil
		}
		if !m.holdEnabled {
			return fail("mailbox has no Litigation Hold")
		}
		s.removeHold(m, now)
	case "resyncUser":
		return s.resync(a, k, fail)
	case "disableAccount", "enableAccount":
		if active == nil {
			return fail("no active user")
		}
		active.AccountEnabled = a.Action == "enableAccount"
		s.emit(active, "updated", now)
	case "removeSubscription", "removeSubscriptionNotify":
		if !s.removeSubscriptions(now, a.Action == "removeSubscriptionNotify") {
			return fail("no live subscription")
		}
	default:
		return fail("unknown action")
	}
	return nil
}

func (s *Sim) deletedUserByUPN(upn string) *user {
	var found *user
	for _, u := range s.users {
		if u.state == userDeleted && strings.EqualFold(u.UPN, upn) {
			found = u // the most recent deletion wins
		}
	}
	return found
}

// latestMailbox returns the newest mailbox reported under upn (or owned by
// an active user with that UPN).
func (s *Sim) latestMailbox(upn string) *mailbox {
	if u := s.activeUserByUPN(upn); u != nil && u.mailbox != nil {
		return u.mailbox
	}
	var found *mailbox
	for _, m := range s.mailbox {
		base, _, _ := strings.Cut(m.reportKey, "#")
		if strings.EqualFold(base, upn) || strings.EqualFold(m.UPN, upn) {
			if found == nil || found.state == mbPurged || m.state != mbPurged {
				found = m
			}
		}
	}
	return found
}

// resync plays Entra Connect re-creating the on-premises account as a new
// cloud object: same UPN, same ExchangeGuid/ArchiveGuid, licensed. Within
// the original's 30 days this hard-deletes the original soft-deleted
// mailbox; a held (inactive) original blocks provisioning instead
// (ExchangeGuid validation conflict).
func (s *Sim) resync(a AdminAction, k *sku, fail func(string, ...any) error) error {
	now := s.now()
	if s.activeUserByUPN(a.UPN) != nil {
		return fail("an active user with this UPN exists")
	}
	orig := s.latestMailbox(a.UPN)
	var ks []*sku
	if k != nil {
		ks = []*sku{k}
	} else if orig != nil && orig.user != nil {
		for _, x := range orig.user.licensesAtDelete {
			ks = append(ks, x.SKU)
		}
		if len(ks) == 0 {
			ks = orig.user.lastRemoved
		}
	}
	if len(ks) == 0 {
		ks = []*sku{s.skuByPart("ENTERPRISEPACK")}
	}
	display := ""
	if orig != nil {
		display = orig.DisplayName
	}
	u := s.newUser(a.UPN, display, now)
	u.Synced = true
	u.UsageLocation = "US"
	for _, x := range ks {
		if x != nil && s.consumed(x) < x.Units {
			u.Licenses = append(u.Licenses, assigned{SKU: x, DisabledPlans: []string{}})
		}
	}
	s.addUser(u)
	s.emit(u, "updated", now) // creations arrive as updated
	if !u.hasExchange() {
		return nil
	}
	switch {
	case orig == nil || orig.state == mbPurged:
		s.provision(u, now)
	case orig.state == mbSoftDeleted && !orig.anyHold():
		s.purgeMailbox(orig, now, "a re-synced user with the same ExchangeGuid was licensed")
		m := s.provision(u, now)
		m.ExchangeGuid, m.ArchiveGuid, m.hasArchive = orig.ExchangeGuid, orig.ArchiveGuid, orig.hasArchive
		s.indexMailbox(m)
	default:
		s.log.Warn().Str("upn", a.UPN).Msg("sim: ExchangeGuid validation conflict; no mailbox provisioned for the re-synced user")
	}
	return nil
}

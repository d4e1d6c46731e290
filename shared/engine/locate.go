package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/holdfast/holdfast/shared/events"
	"github.com/holdfast/holdfast/shared/ledger"
	"github.com/holdfast/holdfast/shared/retention"
	"github.com/holdfast/holdfast/shared/tenant"
)

// Place names where holdfast looks for the user an event is about. A "no
// such user" rejection lists the places it searched.
type Place string

const (
	PlaceActive     Place = "active users"
	PlaceIndex      Place = "holdfast's case index"
	PlaceRecycleBin Place = "the directory recycle bin"
	PlaceMailboxes  Place = "soft-deleted and inactive Exchange mailboxes"
)

// CodeNoSuchUser is the rejection code of an HR event whose user is
// nowhere to be found (stored in the rejected-events table).
const CodeNoSuchUser = "unknown_user"

// NoSuchUserError says that nothing recoverable matches an event's user
// reference, and where holdfast looked. It matches tenant.ErrNotFound.
type NoSuchUserError struct {
	Ref    events.UserRef
	Looked []Place
}

func (e *NoSuchUserError) Error() string {
	var ref []string
	for _, kv := range [][2]string{{"userId", e.Ref.ObjectID}, {"upn", e.Ref.UPN}, {"employeeId", e.Ref.EmployeeID}} {
		if kv[1] != "" {
			ref = append(ref, kv[0]+"="+quoteShort(kv[1]))
		}
	}
	places := make([]string, len(e.Looked))
	for i, p := range e.Looked {
		places[i] = string(p)
	}
	return "no user or recoverable mailbox matches " + strings.Join(ref, ", ") + "; looked in " + strings.Join(places, ", ")
}

// Unwrap lets errors.Is(err, tenant.ErrNotFound) match.
func (e *NoSuchUserError) Unwrap() error { return tenant.ErrNotFound }

// quoteShort quotes a user string for a reason text: escaped, bounded.
func quoteShort(s string) string {
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return fmt.Sprintf("%q", s)
}

// located is the user an event is about, and how it was found.
type located struct {
	objectID string
	where    Place
	how      string
	// seed fills in what a new case knows up front: a mailbox whose user
	// was purged is known only by its ExchangeGuid.
	seed func(*retention.Case)
	// user is the reading that found an active user: the decision's first
	// read of the user uses it instead of asking Graph again.
	user *tenant.User
}

// resolveUser finds the Entra object id an event is about. Directory
// events name it. An HR event names a UPN, an object id and/or an
// employee id, and the user may be anywhere in the lifecycle: active, in
// the recycle bin (UPN rewritten), or gone with only a soft-deleted or
// inactive mailbox left. User strings are never put into filters: the
// directory is read by id or by path, the recycle bin and the deleted
// mailboxes are listed and matched here.
func (e *Engine) resolveUser(ctx context.Context, ev events.Event) (located, error) {
	ref := ev.User
	if ref.ObjectID == "" && ref.UPN == "" && ref.EmployeeID == "" {
		return located{}, fmt.Errorf("event has no user reference: %w", tenant.ErrNotFound)
	}
	hr := ev.Kind == events.KindOffboarding || ev.Kind == events.KindOffboardingCancelled || ev.Kind == events.KindRehire
	if ref.ObjectID != "" && !hr {
		return located{objectID: strings.ToLower(ref.ObjectID), where: PlaceActive}, nil
	}
	looked := []Place{PlaceActive}
	if l, err := e.findActive(ctx, ref); err == nil || !errors.Is(err, tenant.ErrNotFound) {
		return l, err
	}
	looked = append(looked, PlaceIndex)
	if l, err := e.findIndexed(ctx, ref); err == nil || !errors.Is(err, tenant.ErrNotFound) {
		return l, err
	}
	looked = append(looked, PlaceRecycleBin)
	if l, err := e.findDeleted(ctx, ref); err == nil || !errors.Is(err, tenant.ErrNotFound) {
		return l, err
	}
	looked = append(looked, PlaceMailboxes)
	if l, err := e.findMailbox(ctx, ref); err == nil || !errors.Is(err, tenant.ErrNotFound) {
		return l, err
	}
	return located{}, &NoSuchUserError{Ref: ref, Looked: looked}
}

func (e *Engine) findActive(ctx context.Context, ref events.UserRef) (located, error) {
	var (
		u   tenant.User
		err = tenant.ErrNotFound
		how string
	)
	if ref.ObjectID != "" {
		u, err = e.d.Directory.GetUser(ctx, ref.ObjectID)
		how = "object id"
	}
	if errors.Is(err, tenant.ErrNotFound) && ref.UPN != "" {
		u, err = e.d.Directory.GetUser(ctx, ref.UPN)
		how = "UPN"
	}
	if errors.Is(err, tenant.ErrNotFound) && ref.EmployeeID != "" {
		u, err = e.d.Directory.FindUserByEmployeeID(ctx, ref.EmployeeID)
		how = "employee id"
	}
	if err != nil {
		return located{}, err
	}
	return located{objectID: strings.ToLower(u.ID), where: PlaceActive, how: how, user: &u}, nil
}

// findIndexed follows holdfast's own index: a case that already tracks a
// deleted user owns the references it had while the user was active.
func (e *Engine) findIndexed(ctx context.Context, ref events.UserRef) (located, error) {
	if ref.ObjectID != "" {
		key := retention.CaseKey(e.d.TenantID, ref.ObjectID)
		if _, err := e.d.Store.LoadCase(ctx, key); err == nil {
			return located{objectID: strings.ToLower(ref.ObjectID), where: PlaceIndex, how: "case key"}, nil
		} else if !errors.Is(err, ledger.ErrNotFound) {
			return located{}, err
		}
	}
	for _, kv := range []struct {
		kind  ledger.IndexKind
		value string
	}{{ledger.IndexObjectID, ref.ObjectID}, {ledger.IndexUPN, ref.UPN}, {ledger.IndexEmployeeID, ref.EmployeeID}} {
		if kv.value == "" {
			continue
		}
		key, err := e.d.Store.LookupIndex(ctx, kv.kind, kv.value)
		if errors.Is(err, ledger.ErrNotFound) {
			continue
		}
		if err != nil {
			return located{}, err
		}
		_, objectID, ok := strings.Cut(key, "_")
		if !ok {
			return located{}, fmt.Errorf("index for %s holds a malformed case key: %w", kv.kind, tenant.ErrNotFound)
		}
		return located{objectID: objectID, where: PlaceIndex, how: string(kv.kind)}, nil
	}
	return located{}, tenant.ErrNotFound
}

// findDeleted lists the recycle bin and matches in code: a deleted user's
// UPN is rewritten with its object id in front, so the address HR knows is
// matched against the original UPN, mail and proxy addresses. Of several
// matches the strongest reference wins (object id, then employee id, then
// address), then the most recent deletion.
func (e *Engine) findDeleted(ctx context.Context, ref events.UserRef) (located, error) {
	var best tenant.User
	bestScore, how := 0, ""
	err := e.d.Directory.ListDeletedUsers(ctx, func(u tenant.User) error {
		score, why := 0, []string{}
		if ref.ObjectID != "" && strings.EqualFold(u.ID, ref.ObjectID) {
			score, why = score+4, append(why, "object id")
		}
		if ref.EmployeeID != "" && u.EmployeeID == ref.EmployeeID {
			score, why = score+2, append(why, "employee id")
		}
		if ref.UPN != "" {
			if w := addressMatch(ref.UPN, retention.OriginalUPN(u.ID, u.UserPrincipalName), u.Mail, u.ProxyAddresses); w != "" {
				score, why = score+1, append(why, w)
			}
		}
		if score == 0 {
			return ctx.Err()
		}
		if score > bestScore || score == bestScore && later(u, best) {
			best, bestScore, how = u, score, strings.Join(why, ", ")
		}
		return ctx.Err()
	})
	if err != nil {
		return located{}, fmt.Errorf("search the recycle bin: %w", err)
	}
	if bestScore == 0 {
		return located{}, tenant.ErrNotFound
	}
	return located{objectID: strings.ToLower(best.ID), where: PlaceRecycleBin, how: how}, nil
}

func later(a, b tenant.User) bool {
	return a.DeletedAt != nil && (b.DeletedAt == nil || a.DeletedAt.After(*b.DeletedAt))
}

// addressMatch reports which of a user's addresses equals addr ("" when
// none): the original UPN, mail, or a proxy address (any SMTP prefix).
func addressMatch(addr, upn, mail string, proxies []string) string {
	switch {
	case strings.EqualFold(addr, upn):
		return "original UPN"
	case mail != "" && strings.EqualFold(addr, mail):
		return "mail"
	}
	for _, p := range proxies {
		// Learn's own example writes "SMTP: bob@contoso.com": tolerate the space.
		if kind, v, ok := strings.Cut(p, ":"); ok && strings.EqualFold(strings.TrimSpace(kind), "smtp") && strings.EqualFold(strings.TrimSpace(v), addr) {
			return "proxy address"
		}
	}
	return ""
}

// findMailbox looks among soft-deleted and inactive mailboxes (listed, then
// matched here: no user string goes into an OPATH filter) by primary
// address, UPN, EmailAddresses or the object id the mailbox still names.
// A mailbox whose user was purged names none: its case is the one that
// owns its ExchangeGuid, or a new one keyed by it.
func (e *Engine) findMailbox(ctx context.Context, ref events.UserRef) (located, error) {
	var (
		best  *tenant.Mailbox
		how   string
		seenG = map[string]bool{}
	)
	for _, scope := range []tenant.MailboxScope{tenant.ScopeSoftDeleted, tenant.ScopeInactiveOnly} {
		err := e.d.Exchange.ListMailboxes(ctx, scope, func(m tenant.Mailbox) error {
			g := strings.ToLower(m.ExchangeGUID)
			if g == "" || seenG[g] {
				return ctx.Err()
			}
			seenG[g] = true
			why := ""
			switch {
			case ref.ObjectID != "" && strings.EqualFold(m.ExternalDirectoryObjectID, ref.ObjectID):
				why = "ExternalDirectoryObjectId"
			case ref.UPN != "" && strings.EqualFold(m.PrimarySMTPAddress, ref.UPN):
				why = "PrimarySmtpAddress"
			case ref.UPN != "" && addressMatch(ref.UPN, m.UserPrincipalName, "", m.EmailAddresses) != "":
				why = "EmailAddresses"
			default:
				return ctx.Err()
			}
			if best == nil || newerMailbox(m, *best) {
				mb := m
				best, how = &mb, why
			}
			return ctx.Err()
		})
		if err != nil {
			return located{}, fmt.Errorf("search deleted mailboxes: %w", err)
		}
	}
	if best == nil {
		return located{}, tenant.ErrNotFound
	}
	m := *best
	if m.ExternalDirectoryObjectID != "" {
		return located{objectID: strings.ToLower(m.ExternalDirectoryObjectID), where: PlaceMailboxes, how: how}, nil
	}
	key, err := e.d.Store.LookupIndex(ctx, "exchangeGuid", m.ExchangeGUID)
	switch {
	case err == nil:
		if _, id, ok := strings.Cut(key, "_"); ok {
			return located{objectID: id, where: PlaceMailboxes, how: how + ", ExchangeGuid owned by a case"}, nil
		}
	case !errors.Is(err, ledger.ErrNotFound):
		return located{}, err
	}
	return located{objectID: strings.ToLower(m.ExchangeGUID), where: PlaceMailboxes, how: how + " (user purged: case keyed by ExchangeGuid)",
		seed: func(c *retention.Case) {
			c.ExchangeGUID, c.DistinguishedName = m.ExchangeGUID, m.DistinguishedName
			c.UPN = ref.UPN
			if c.UPN == "" {
				c.UPN = m.PrimarySMTPAddress
			}
		}}, nil
}

func newerMailbox(a, b tenant.Mailbox) bool {
	return a.WhenSoftDeleted != nil && (b.WhenSoftDeleted == nil || a.WhenSoftDeleted.After(*b.WhenSoftDeleted))
}

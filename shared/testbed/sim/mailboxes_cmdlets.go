package sim

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Area mailboxes: the mailbox cmdlets (Get-, Set-, New-, Remove-Mailbox,
// Undo-SoftDeletedMailbox).

func (s *Sim) xGetMailbox(p params) ([]map[string]any, []string, *exError) {
	if p.has("Filter") {
		return nil, nil, paramErr("The simulator does not evaluate OPATH -Filter; use -Identity or a scope switch.")
	}
	if p.has("RecipientTypeDetails") {
		return nil, nil, paramErr("The simulator does not support -RecipientTypeDetails; every mailbox is a UserMailbox.")
	}
	sc := scopeActive
	n := 0
	for _, sw := range []struct {
		name string
		sc   scope
	}{{"SoftDeletedMailbox", scopeSoftDeleted}, {"InactiveMailboxOnly", scopeInactiveOnly}, {"IncludeInactiveMailbox", scopeIncludeInactive}} {
		on, err := p.boolean(sw.name)
		if err != nil {
			return nil, nil, err
		}
		if on {
			sc = sw.sc
			n++
		}
	}
	if n > 1 {
		return nil, nil, paramErr("Parameter set cannot be resolved using the specified named parameters.")
	}
	limit := 1000
	if rs, ok, err := p.str("ResultSize"); err != nil {
		return nil, nil, err
	} else if ok {
		if strings.EqualFold(rs, "Unlimited") {
			limit = -1
		} else if v, err := strconv.Atoi(rs); err == nil && v > 0 {
			limit = v
		} else {
			return nil, nil, paramErr("Cannot bind parameter 'ResultSize'. Cannot convert value \"%s\" to type \"Microsoft.Exchange.Data.Unlimited`1[System.UInt32]\".", rs)
		}
	}
	// Get-Mailbox shows what Exchange knows, which may lag behind the
	// directory (Realism.ExchangeLag); other cmdlets act on the truth.
	id, hasID, err := p.str("Identity")
	if err != nil {
		return nil, nil, err
	}
	all := s.mailbox
	if hasID {
		// Lag views change state and holds, never identities: the
		// mailboxes id names are the only ones whose view can match.
		id = strings.TrimSpace(id)
		all = s.mailboxCandidates(id)
	}
	var shown []*mailbox
	for _, m := range all {
		if v := s.shown(m); v != nil && s.inScope(v, sc) {
			shown = append(shown, v)
		}
	}
	if hasID {
		m, xerr := resolveIn(shown, id)
		if xerr != nil {
			return nil, nil, xerr
		}
		return []map[string]any{s.mailboxJSON(m)}, nil, nil
	}
	var out []map[string]any
	var warn []string
	for _, m := range shown {
		if limit >= 0 && len(out) == limit {
			warn = append(warn, "There are more results available than are currently displayed. To view them, increase the value for the ResultSize parameter.")
			break
		}
		out = append(out, s.mailboxJSON(m))
	}
	return out, warn, nil
}

func parseHoldDuration(p params) (string, bool, *exError) {
	raw, ok := p["LitigationHoldDuration"]
	if !ok {
		return "", false, nil
	}
	var n int
	if err := json.Unmarshal(raw, &n); err == nil {
		if n < 1 {
			return "", false, paramErr("Cannot process argument transformation on parameter 'LitigationHoldDuration'. The value must be a positive number of days or Unlimited.")
		}
		return fmt.Sprintf("%d.00:00:00", n), true, nil
	}
	var str string
	if err := json.Unmarshal(raw, &str); err == nil {
		if strings.EqualFold(str, "Unlimited") {
			return "Unlimited", true, nil
		}
		if v, err := strconv.Atoi(str); err == nil && v > 0 {
			return fmt.Sprintf("%d.00:00:00", v), true, nil
		}
	}
	return "", false, paramErr("Cannot process argument transformation on parameter 'LitigationHoldDuration'. Cannot convert value %s to type \"Microsoft.Exchange.Data.Unlimited`1[Microsoft.Exchange.Data.EnhancedTimeSpan]\".", string(raw))
}

func (s *Sim) xSetMailbox(p params) ([]map[string]any, []string, *exError) {
	id, _, err := p.str("Identity")
	if err != nil {
		return nil, nil, err
	}
	inactive, err := p.boolean("InactiveMailbox")
	if err != nil {
		return nil, nil, err
	}
	var m *mailbox
	var xerr *exError
	if inactive {
		if !dnOrGUID(id) {
			return nil, nil, &exError{status: 400, category: catInvalidArgument, class: clsArgument, target: id,
				msg: "When you use the InactiveMailbox switch, identify the mailbox by its DistinguishedName or ExchangeGuid value."}
		}
		for _, n := range []string{"RetentionHoldEnabled", "SingleItemRecoveryEnabled"} {
			if p.has(n) {
				return nil, nil, opErr(id, "Only Litigation Hold settings can be changed on an inactive mailbox; '%s' can't be used with the InactiveMailbox switch.", n)
			}
		}
		m, xerr = s.resolve(id, scopeInactiveOnly)
	} else {
		m, xerr = s.resolve(id, scopeActive)
	}
	if xerr != nil {
		return nil, nil, xerr
	}
	enable, hasEnable := false, p.has("LitigationHoldEnabled")
	if hasEnable {
		if enable, err = p.boolean("LitigationHoldEnabled"); err != nil {
			return nil, nil, err
		}
	}
	if hasEnable && enable {
		s.holdReqs[m]++
	}
	dur, hasDur, err := parseHoldDuration(p)
	if err != nil {
		return nil, nil, err
	}
	if hasEnable && enable && !inactive && !m.holdEnabled && !m.user.holdAllowed() {
		return nil, nil, &exError{status: 400, category: catInvalidOperation, class: clsRecipient, target: id,
			msg: fmt.Sprintf("The mailbox '%s' doesn't have a license that allows Litigation Hold. Litigation Hold requires Exchange Online Plan 2, or Exchange Online Plan 1 with the Exchange Online Archiving add-on.", id)}
	}
	var owner, comment, rurl string
	var hasOwner, hasComment, hasURL bool
	if owner, hasOwner, err = p.str("LitigationHoldOwner"); err != nil {
		return nil, nil, err
	}
	if comment, hasComment, err = p.str("RetentionComment"); err != nil {
		return nil, nil, err
	}
	if rurl, hasURL, err = p.str("RetentionUrl"); err != nil {
		return nil, nil, err
	}
	var rh, sir bool
	if rh, err = p.boolean("RetentionHoldEnabled"); err != nil {
		return nil, nil, err
	}
	if _, err = p.boolean("SingleItemRecoveryEnabled"); err != nil {
		return nil, nil, err
	}
	_ = sir
	var addX500 []string
	if p.has("EmailAddresses") {
		if inactive {
			return nil, nil, opErr(id, "Only Litigation Hold settings can be changed on an inactive mailbox; 'EmailAddresses' can't be used with the InactiveMailbox switch.")
		}
		if addX500, xerr = s.emailAddressesAdd(m, id, p["EmailAddresses"]); xerr != nil {
			return nil, nil, xerr
		}
	}
	now := s.now()
	for _, a := range addX500 {
		if !slices.ContainsFunc(m.x500, func(x string) bool { return strings.EqualFold(x, a) }) {
			m.x500 = append(m.x500, a)
		}
	}
	var warn []string
	if hasEnable {
		switch {
		case enable && !m.holdEnabled:
			s.startHoldLag(m, now)
			s.setHold(m, now)
			warn = append(warn, "The Litigation Hold setting may take up to 60 minutes to take effect.")
		case !enable && m.holdEnabled:
			s.startHoldLag(m, now)
			s.removeHold(m, now)
		}
	}
	if hasDur {
		m.holdDuration = dur
	}
	if hasOwner {
		m.holdOwner = owner
	}
	if hasComment {
		m.retentionComment = comment
	}
	if hasURL {
		m.retentionURL = rurl
	}
	if p.has("RetentionHoldEnabled") {
		m.retentionHold = rh
	}
	return nil, warn, nil
}

// emailAddressesAdd reads -EmailAddresses in the add/remove form Learn
// documents (@{Add=...}), which the REST surface carries as an object with
// "@odata.type":"#Exchange.GenericHashTable" (ExoHelper, CIPP). Only X500
// additions are modelled; anything else is refused rather than ignored. An
// X500 address another recipient already has is a conflict, as proxy
// addresses are unique.
func (s *Sim) emailAddressesAdd(target *mailbox, id string, raw json.RawMessage) ([]string, *exError) {
	var h map[string]json.RawMessage
	if json.Unmarshal(raw, &h) != nil {
		return nil, paramErr("Cannot process argument transformation on parameter 'EmailAddresses'. holdfast's simulator only models the @{Add=...} form.")
	}
	var typ string
	if json.Unmarshal(h["@odata.type"], &typ) != nil || typ != "#Exchange.GenericHashTable" {
		return nil, paramErr("Cannot process argument transformation on parameter 'EmailAddresses'. A hashtable needs \"@odata.type\":\"#Exchange.GenericHashTable\".")
	}
	var adds []string
	for k, v := range h {
		switch strings.ToLower(k) {
		case "@odata.type":
		case "add":
			var one string
			if json.Unmarshal(v, &one) == nil {
				adds = append(adds, one)
			} else if json.Unmarshal(v, &adds) != nil {
				return nil, paramErr("Cannot process argument transformation on parameter 'EmailAddresses'. Add must be an address or a list of addresses.")
			}
		default:
			return nil, paramErr("Cannot process argument transformation on parameter 'EmailAddresses'. The simulator models Add only, not '%s'.", k)
		}
	}
	for _, a := range adds {
		if len(a) < 6 || !strings.EqualFold(a[:5], "X500:") {
			return nil, paramErr("The simulator models X500 proxy addresses only, not '%s'.", a)
		}
		for _, o := range s.mailbox {
			if o != target && o.state == mbActive && slices.ContainsFunc(o.x500, func(x string) bool { return strings.EqualFold(x, a) }) {
				return nil, &exError{status: 400, category: catResourceExists, class: clsRecipient, target: id,
					msg: fmt.Sprintf("The proxy address \"%s\" is already being used by the proxy addresses or LegacyExchangeDN of \"%s\". Please choose another proxy address.", a, o.Name)}
			}
		}
	}
	return adds, nil
}

func (s *Sim) xUndoSoftDeleted(p params) ([]map[string]any, []string, *exError) {
	id, _, err := p.str("SoftDeletedObject")
	if err != nil {
		return nil, nil, err
	}
	// Microsoft's documented form passes -WindowsLiveID and -Password; the
	// simulator requires the password always, the pessimistic reading.
	if xerr := s.checkPassword(p); xerr != nil {
		return nil, nil, xerr
	}
	m, xerr := s.resolve(id, scopeSoftDeleted)
	if xerr != nil {
		return nil, nil, xerr
	}
	now := s.now()
	if !m.byRemove {
		return nil, nil, opErr(id, "The mailbox was soft-deleted by deleting its user account in Microsoft Entra ID. Restore the user account instead; restoring from a different source than the deletion fails.")
	}
	if m.softDeletedAt != nil && now.Sub(*m.softDeletedAt) > retentionWindow {
		return nil, nil, notFoundErr(id)
	}
	u := m.user
	switch {
	case u != nil && u.state == userDeleted:
		if err := s.restoreUser(u, now); err != nil {
			return nil, nil, opErr(id, "%v", err)
		}
	default:
		upn, ok, err := p.str("WindowsLiveID")
		if err != nil {
			return nil, nil, err
		}
		if !ok || !p.has("Password") {
			return nil, nil, paramErr("The user account of this mailbox no longer exists; specify WindowsLiveID and Password to create one.")
		}
		if s.activeUserByUPN(upn) != nil {
			return nil, nil, &exError{status: 400, category: catResourceExists, class: clsExists, target: upn, msg: fmt.Sprintf("The WindowsLiveID '%s' is already in use.", upn)}
		}
		nu := s.newUser(upn, m.DisplayName, now)
		s.addUser(nu)
		s.adopt(m, nu)
		m.unlicensedSince = tp(now)
		s.touch(m)
		s.emit(nu, "updated", now)
	}
	return []map[string]any{s.mailboxJSON(m)}, nil, nil
}

// adopt attaches mailbox m to user nu, active.
func (s *Sim) adopt(m *mailbox, nu *user) {
	nu.mailbox = m
	m.user, m.userID = nu, nu.ID
	m.UPN, m.PrimarySMTP = nu.UPN, nu.UPN
	s.indexMailbox(m)
	m.state = mbActive
	m.softDeletedAt, m.purgeAt = nil, nil
	m.byRemove, m.byDisable = false, false
}

func (s *Sim) xNewMailbox(p params) ([]map[string]any, []string, *exError) {
	id, ok, err := p.str("InactiveMailbox")
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, paramErr("The simulator supports New-Mailbox only with -InactiveMailbox (recovering an inactive mailbox).")
	}
	if !dnOrGUID(id) {
		return nil, nil, &exError{status: 400, category: catInvalidArgument, class: clsArgument, target: id,
			msg: "Identify the inactive mailbox by its DistinguishedName or ExchangeGuid value."}
	}
	upn, ok, err := p.str("MicrosoftOnlineServicesID")
	if err != nil {
		return nil, nil, err
	}
	if !ok || !strings.Contains(upn, "@") {
		return nil, nil, paramErr("Cannot process command because of one or more missing mandatory parameters: MicrosoftOnlineServicesID.")
	}
	name, _, err := p.str("Name")
	if err != nil {
		return nil, nil, err
	}
	// Learn: -Password is required in the InactiveMailbox parameter set.
	if xerr := s.checkPassword(p); xerr != nil {
		return nil, nil, xerr
	}
	if _, err := p.boolean("ResetPasswordOnNextLogon"); err != nil {
		return nil, nil, err
	}
	m, xerr := s.resolve(id, scopeInactiveOnly)
	if xerr != nil {
		return nil, nil, xerr
	}
	if m.userID != "" {
		return nil, nil, opErr(id, "The inactive mailbox can't be recovered because its user account is still in the Microsoft Entra ID recycle bin (ExternalDirectoryObjectId is set). Restore the user account instead, or recover the mailbox after the 30-day soft-deletion period.")
	}
	if m.autoExpanding {
		return nil, nil, opErr(id, "Inactive mailboxes with auto-expanding archiving can't be recovered.")
	}
	if s.activeUserByUPN(upn) != nil {
		return nil, nil, &exError{status: 400, category: catResourceExists, class: clsExists, target: upn, msg: fmt.Sprintf("The MicrosoftOnlineServicesID '%s' is already in use.", upn)}
	}
	if s.mailboxByName(name) != nil {
		return nil, nil, &exError{status: 400, category: catResourceExists, class: clsExists, target: name, msg: fmt.Sprintf("The name '%s' is already being used. Please try another name.", name)}
	}
	now := s.now()
	display, _, _ := p.str("DisplayName")
	if display == "" {
		display = name
	}
	nu := s.newUser(upn, display, now)
	// New accounts get no usage location: assigning a licence needs one.
	nu.disableAt = tp(now.Add(retentionWindow))
	s.addUser(nu)
	s.adopt(m, nu)
	alias, ok, _ := p.str("Alias")
	if !ok {
		alias, _, _ = strings.Cut(upn, "@")
	}
	m.Name, m.Alias, m.DisplayName = name, alias, display
	s.indexMailbox(m)
	m.holdEnabled, m.holdSetAt = false, time.Time{}        // recovery removes Litigation Hold...
	m.retentionHold, m.retainDeleted = true, "30.00:00:00" // ...and sets a 30-day RetentionHold
	m.recoveredTo = upn
	m.unlicensedSince = nil
	s.touch(nu)
	s.touch(m)
	s.emit(nu, "updated", now) // creations arrive as updated
	return []map[string]any{s.mailboxJSON(m)}, nil, nil
}

func (s *Sim) xRemoveMailbox(p params) ([]map[string]any, []string, *exError) {
	id, _, err := p.str("Identity")
	if err != nil {
		return nil, nil, err
	}
	perm, err := p.boolean("PermanentlyDelete")
	if err != nil {
		return nil, nil, err
	}
	now := s.now()
	held := func(m *mailbox) *exError {
		return opErr(id, "The mailbox '%s' can't be permanently deleted because it's on hold (Litigation Hold, eDiscovery hold or a retention policy). Remove the holds first.", id)
	}
	if !perm {
		m, xerr := s.resolve(id, scopeActive)
		if xerr != nil {
			return nil, nil, xerr
		}
		s.deleteUser(m.user, now, true) // the Entra user goes to the recycle bin too
		return nil, nil, nil
	}
	if m, xerr := s.resolve(id, scopeActive); xerr == nil {
		if m.anyHold() {
			return nil, nil, held(m)
		}
		s.deleteUser(m.user, now, true)
		s.purgeMailbox(m, now, "Remove-Mailbox -PermanentlyDelete")
		return nil, nil, nil
	}
	m, xerr := s.resolve(id, scopeSoftDeleted)
	if xerr != nil {
		return nil, nil, xerr
	}
	if m.state == mbInactive || m.anyHold() {
		return nil, nil, held(m)
	}
	s.purgeMailbox(m, now, "Remove-Mailbox -PermanentlyDelete")
	return nil, nil, nil
}

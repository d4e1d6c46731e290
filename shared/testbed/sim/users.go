package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Area users: Graph users and deleted items, and the user transitions
// (soft delete, hard delete, restore).

var defaultUserProps = []string{"businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
	"officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id"}

// knownUserProps: everything $select may name (the rest of the user
// resource is answered as null).
var knownUserProps = []string{"id", "userPrincipalName", "displayName", "mail", "accountEnabled", "assignedLicenses",
	"deletedDateTime", "employeeId", "department", "usageLocation", "onPremisesSyncEnabled", "businessPhones",
	"givenName", "surname", "jobTitle", "mobilePhone", "officeLocation", "preferredLanguage", "createdDateTime",
	"employeeLeaveDateTime", "employeeType", "companyName", "proxyAddresses", "otherMails", "userType",
	"onPremisesImmutableId", "mailNickname", "assignedPlans", "accountEnabled"}

func (s *Sim) userProps(u *user) map[string]any {
	lic := make([]any, 0, len(u.Licenses))
	for _, a := range u.Licenses {
		lic = append(lic, map[string]any{"disabledPlans": a.DisabledPlans, "skuId": a.SKU.ID})
	}
	upn := u.UPN
	var deleted any
	if u.state == userDeleted {
		upn = u.deletedUPN()
		deleted = u.deletedAt.UTC().Format(time.RFC3339)
	}
	var sync any
	if u.Synced {
		sync = true
	}
	str := func(v string) any {
		if v == "" {
			return nil
		}
		return v
	}
	alias, _, _ := strings.Cut(u.UPN, "@")
	return map[string]any{
		"id": u.ID, "userPrincipalName": upn, "displayName": u.DisplayName, "mail": str(u.Mail),
		"accountEnabled": u.AccountEnabled, "assignedLicenses": lic, "deletedDateTime": deleted,
		"employeeId": str(u.EmployeeID), "department": str(u.Department), "usageLocation": str(u.UsageLocation),
		"onPremisesSyncEnabled": sync, "businessPhones": []any{}, "createdDateTime": u.created.UTC().Format(time.RFC3339),
		"mailNickname": alias, "userType": "Member", "proxyAddresses": []any{"SMTP:" + u.UPN}, "otherMails": []any{},
		"assignedPlans": []any{},
	}
}

// userJSON renders u with the selected properties (Graph's default set
// when sel is empty).
func (s *Sim) userJSON(u *user, sel []string, extra ...string) map[string]any {
	all := s.userProps(u)
	keys := sel
	if len(keys) == 0 {
		keys = append(append([]string(nil), defaultUserProps...), extra...)
	}
	out := make(map[string]any, len(keys)+1)
	for _, k := range keys {
		out[k] = all[k] // unknown-but-valid properties are null
	}
	return out
}

// findUser resolves an id or UPN among active users.
func (s *Sim) findUser(key string) *user {
	for _, u := range s.userCandidates(key) {
		if u.state == userActive && (strings.EqualFold(u.ID, key) || strings.EqualFold(u.UPN, key)) {
			return u
		}
	}
	return nil
}

func (s *Sim) findDeleted(id string) *user {
	for _, u := range s.userCandidates(id) {
		if u.state == userDeleted && strings.EqualFold(u.ID, id) {
			return u
		}
	}
	return nil
}

func (s *Sim) gListUsers(c *gctx) gresp {
	sel, bad := parseSelect(c.query)
	if bad != nil {
		return *bad
	}
	var f *userFilter
	if raw := c.query.Get("$filter"); raw != "" {
		uf, err := parseUserFilter(raw)
		switch {
		case errors.Is(err, errFilterUnsupported):
			return graphErr(400, "Request_UnsupportedQuery", "Unsupported Query.")
		case err != nil:
			return graphErr(400, "BadRequest", "Invalid filter clause: syntax error in '"+raw+"'.")
		}
		f = &uf
	}
	var list []*user
	for _, u := range s.users {
		if u.state == userActive && (f == nil || f.match(u)) {
			list = append(list, u)
		}
	}
	from, to, next, bad := page(c, len(list), 100)
	if bad != nil {
		return *bad
	}
	vals := make([]any, 0, to-from)
	for _, u := range list[from:to] {
		vals = append(vals, s.userJSON(u, sel))
	}
	out := map[string]any{"@odata.context": contextURL(c.base, "users", sel, false), "value": vals}
	if next != "" {
		out["@odata.nextLink"] = next
	}
	return gresp{status: 200, body: out}
}

func (s *Sim) gGetUser(c *gctx) gresp {
	sel, bad := parseSelect(c.query)
	if bad != nil {
		return *bad
	}
	u := s.findUser(c.segs[1])
	if u == nil {
		return notFound(c.segs[1])
	}
	out := s.userJSON(u, sel)
	out["@odata.context"] = contextURL(c.base, "users", sel, true)
	return gresp{status: 200, body: out}
}

func (s *Sim) gPatchUser(c *gctx) gresp {
	u := s.findUser(c.segs[1])
	if u == nil {
		return notFound(c.segs[1])
	}
	body, err := decodeObject(c.body)
	if err != nil {
		return graphErr(400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
	}
	invalid := func(p string) gresp {
		return badRequest(fmt.Sprintf("Invalid value specified for property '%s' of resource 'User'.", p))
	}
	// validate everything before changing anything
	type setter func()
	var sets []setter
	for _, k := range sortedKeys(body) {
		raw := body[k]
		switch k {
		case "accountEnabled":
			var v bool
			if json.Unmarshal(raw, &v) != nil {
				return invalid(k)
			}
			sets = append(sets, func() { u.AccountEnabled = v })
		case "usageLocation", "department", "displayName", "employeeId":
			var v *string
			if json.Unmarshal(raw, &v) != nil {
				return invalid(k)
			}
			val := ""
			if v != nil {
				val = *v
			}
			if k == "usageLocation" && val != "" && len(val) != 2 {
				return invalid(k)
			}
			if k == "displayName" && val == "" {
				return invalid(k)
			}
			sets = append(sets, func() {
				switch k {
				case "usageLocation":
					u.UsageLocation = strings.ToUpper(val)
				case "department":
					u.Department = val
				case "displayName":
					u.DisplayName = val
				case "employeeId":
					u.EmployeeID = val
				}
			})
		case "employeeLeaveDateTime":
			var v *time.Time
			if json.Unmarshal(raw, &v) != nil {
				return invalid(k)
			}
		case "@odata.type":
		default:
			return badRequest(fmt.Sprintf("Property '%s' does not exist on type 'microsoft.graph.user' or is not supported by the simulator.", k))
		}
	}
	for _, f := range sets {
		f()
	}
	s.emit(u, "updated", s.now())
	return gresp{status: 204}
}

func (s *Sim) gDeleteUser(c *gctx) gresp {
	u := s.findUser(c.segs[1])
	if u == nil {
		return notFound(c.segs[1])
	}
	now := s.now()
	s.deleteUser(u, now, false)
	s.emit(u, "updated", now) // a soft delete is reported as updated
	return gresp{status: 204}
}

func (s *Sim) gListDeleted(c *gctx) gresp {
	sel, bad := parseSelect(c.query)
	if bad != nil {
		return *bad
	}
	if c.query.Get("$orderby") != "" && !strings.EqualFold(c.header.Get("ConsistencyLevel"), "eventual") {
		return graphErr(400, "Request_UnsupportedQuery", "Sorting not supported for current query.")
	}
	if c.query.Get("$filter") != "" {
		return graphErr(400, "Request_UnsupportedQuery", "Unsupported Query.")
	}
	var list []*user
	for _, u := range s.users {
		if u.state == userDeleted {
			list = append(list, u)
		}
	}
	from, to, next, bad := page(c, len(list), 100)
	if bad != nil {
		return *bad
	}
	vals := make([]any, 0, to-from)
	for _, u := range list[from:to] {
		j := s.userJSON(u, sel, "deletedDateTime")
		j["@odata.type"] = "#microsoft.graph.user"
		vals = append(vals, j)
	}
	out := map[string]any{"@odata.context": contextURL(c.base, "directoryObjects/microsoft.graph.user", sel, false), "value": vals}
	if next != "" {
		out["@odata.nextLink"] = next
	}
	return gresp{status: 200, body: out}
}

func (s *Sim) gGetDeleted(c *gctx) gresp {
	sel, bad := parseSelect(c.query)
	if bad != nil {
		return *bad
	}
	u := s.findDeleted(c.segs[2])
	if u == nil {
		return notFound(c.segs[2])
	}
	out := s.userJSON(u, sel, "deletedDateTime")
	out["@odata.type"] = "#microsoft.graph.user"
	out["@odata.context"] = contextURL(c.base, "directoryObjects/microsoft.graph.user", sel, true)
	return gresp{status: 200, body: out}
}

func (s *Sim) gRestoreDeleted(c *gctx) gresp {
	body, err := decodeObject(c.body)
	if err != nil {
		return graphErr(400, "BadRequest", "Unable to read JSON request payload.")
	}
	for k, raw := range body {
		var b bool
		if k != "autoReconcileProxyConflict" || json.Unmarshal(raw, &b) != nil {
			return badRequest(fmt.Sprintf("The parameter '%s' in the request payload is not a valid parameter for the operation 'restore'.", k))
		}
	}
	u := s.findDeleted(c.segs[2])
	if u == nil {
		return notFound(c.segs[2])
	}
	if err := s.restoreUserFromEntra(u, s.now()); err != nil {
		return badRequest(err.Error())
	}
	out := s.userJSON(u, nil)
	out["@odata.type"] = "#microsoft.graph.user"
	out["@odata.context"] = c.base + "/$metadata#directoryObjects/$entity"
	return gresp{status: 200, body: out}
}

func (s *Sim) gPurgeDeleted(c *gctx) gresp {
	u := s.findDeleted(c.segs[2])
	if u == nil {
		return notFound(c.segs[2])
	}
	s.hardDeleteUser(u, s.now(), false)
	return gresp{status: 204}
}

// deleteUser soft-deletes u at t (Graph DELETE /users, or Remove-Mailbox).
func (s *Sim) deleteUser(u *user, t time.Time, byRemove bool) {
	u.state = userDeleted
	u.deletedAt = t
	u.licensesAtDelete = u.Licenses
	u.Licenses = nil // deleting the user frees its licences at once
	if m := u.mailbox; m != nil && m.state == mbActive {
		if !byRemove {
			// Deleted in Entra: Exchange learns it asynchronously.
			s.startLag(m, lagDelete, mbActive, true, t)
		}
		m.softDeletedAt = tp(t)
		m.byRemove, m.byDisable = byRemove, !byRemove
		if s.holdEffective(m, t) {
			m.state = mbInactive
			m.wasInactive = true
			m.purgeAt = nil
		} else {
			m.state = mbSoftDeleted
			end := t.Add(retentionWindow)
			if m.unlicensedSince != nil && !m.graceKept {
				// The licence grace keeps running: the earlier deadline wins.
				if g := m.unlicensedSince.Add(retentionWindow); g.Before(end) {
					end = g
				}
			}
			m.purgeAt = tp(end)
		}
		s.touch(m)
	}
	s.touch(u)
}

// hardDeleteUser removes u from the recycle bin at t: automatically when
// the 30 days ran out (expired), or by an admin.
func (s *Sim) hardDeleteUser(u *user, t time.Time, expired bool) {
	u.state = userPurged
	if m := u.mailbox; m != nil && m.user == u {
		m.userID = "" // ExternalDirectoryObjectId goes with the Entra object
		if m.state == mbSoftDeleted {
			licensed := false
			for _, a := range u.licensesAtDelete {
				licensed = licensed || a.SKU.Exchange
			}
			switch {
			case expired:
				s.purgeMailbox(m, t, "user hard-deleted after 30 days in the recycle bin")
			case licensed && m.unlicensedSince == nil:
				// Purged with its licence: the mailbox stays soft-deleted
				// for 30 days after the purge.
				m.purgeAt = tp(t.Add(retentionWindow))
				s.touch(m)
			default:
				s.purgeMailbox(m, t, "user purged from the recycle bin after its licence was removed")
			}
		}
	}
	s.emit(u, "deleted", t)
}

var errUPNTaken = errors.New("Another object with the same value for property userPrincipalName already exists.")

// restoreUser brings u back from the recycle bin with its licences and
// mailbox.
func (s *Sim) restoreUser(u *user, t time.Time) error {
	if s.activeUserByUPN(u.UPN) != nil {
		return errUPNTaken
	}
	u.state = userActive
	for _, a := range u.licensesAtDelete {
		if s.consumed(a.SKU) < a.SKU.Units {
			u.Licenses = append(u.Licenses, a)
		}
	}
	u.licensesAtDelete = nil
	if m := u.mailbox; m != nil && m.user == u && (m.state == mbSoftDeleted || m.state == mbInactive) {
		m.state = mbActive
		m.softDeletedAt, m.purgeAt = nil, nil
		m.byRemove, m.byDisable = false, false
		if !u.hasExchange() && m.unlicensedSince == nil {
			m.unlicensedSince = tp(t)
		}
		s.touch(m)
	}
	s.touch(u)
	s.emit(u, "updated", t)
	return nil
}

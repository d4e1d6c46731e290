package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Area users: licences (assignLicense, licenseDetails, subscribedSkus)
// and what a licence change does to the mailbox.

func (s *Sim) gAssignLicense(c *gctx) gresp {
	u := s.findUser(c.segs[1])
	if u == nil {
		return notFound(c.segs[1])
	}
	var body struct {
		AddLicenses *[]struct {
			SkuID         string   `json:"skuId"`
			DisabledPlans []string `json:"disabledPlans"`
		} `json:"addLicenses"`
		RemoveLicenses *[]string `json:"removeLicenses"`
	}
	if err := json.Unmarshal(c.body, &body); err != nil {
		return graphErr(400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
	}
	if body.AddLicenses == nil {
		return badRequest("Invalid value specified for property 'addLicenses' of resource 'User'.")
	}
	if body.RemoveLicenses == nil {
		return badRequest("Invalid value specified for property 'removeLicenses' of resource 'User'.")
	}
	var rm []*sku
	for _, id := range *body.RemoveLicenses {
		k := s.skuByID(id)
		has := false
		for _, a := range u.Licenses {
			has = has || a.SKU == k
		}
		if k == nil || !has {
			return badRequest("User does not have a corresponding license.")
		}
		rm = append(rm, k)
	}
	var add []assigned
	for _, a := range *body.AddLicenses {
		k := s.skuByID(a.SkuID)
		if k == nil {
			return badRequest(fmt.Sprintf("Subscription with SKU %s does not exist in this tenant.", a.SkuID))
		}
		if u.UsageLocation == "" {
			return badRequest("License assignment cannot be done for user with invalid usage location.")
		}
		already := slices.ContainsFunc(u.Licenses, func(x assigned) bool { return x.SKU == k })
		if !already && !slices.Contains(rm, k) && s.consumed(k) >= k.Units {
			return badRequest(fmt.Sprintf("Subscription with SKU %s does not have any available licenses.", k.ID))
		}
		dp := a.DisabledPlans
		if dp == nil {
			dp = []string{}
		}
		add = append(add, assigned{SKU: k, DisabledPlans: dp})
	}
	now := s.now()
	if len(rm) > 0 {
		s.removeLicences(u, rm, now)
	}
	if len(add) > 0 {
		s.addLicences(u, add, now)
	}
	s.emit(u, "updated", now)
	out := s.userJSON(u, nil)
	out["@odata.context"] = contextURL(c.base, "users", nil, true)
	return gresp{status: 200, body: out}
}

func (s *Sim) gLicenseDetails(c *gctx) gresp {
	u := s.findUser(c.segs[1])
	if u == nil {
		return notFound(c.segs[1])
	}
	vals := []any{}
	for _, a := range u.Licenses {
		vals = append(vals, map[string]any{
			"id":    strings.ReplaceAll(a.SKU.ID, "-", "") + strings.ReplaceAll(u.ID, "-", "")[:8],
			"skuId": a.SKU.ID, "skuPartNumber": a.SKU.PartNumber, "servicePlans": plansJSON(a.SKU),
		})
	}
	return gresp{status: 200, body: map[string]any{
		"@odata.context": c.base + "/$metadata#users('" + u.ID + "')/licenseDetails", "value": vals}}
}

func plansJSON(k *sku) []any {
	out := []any{}
	for _, p := range k.Plans {
		out = append(out, map[string]any{"servicePlanId": p.ID, "servicePlanName": p.Name,
			"provisioningStatus": "Success", "appliesTo": "User"})
	}
	return out
}

func (s *Sim) gSubscribedSKUs(c *gctx) gresp {
	vals := []any{}
	for _, k := range s.skus {
		vals = append(vals, map[string]any{
			"accountId": s.opts.TenantID, "accountName": s.opts.Domain, "appliesTo": "User",
			"capabilityStatus": "Enabled", "consumedUnits": s.consumed(k),
			"id":           s.opts.TenantID + "_" + k.ID,
			"prepaidUnits": map[string]any{"enabled": k.Units, "suspended": 0, "warning": 0, "lockedOut": 0},
			"servicePlans": plansJSON(k), "skuId": k.ID, "skuPartNumber": k.PartNumber, "subscriptionIds": []any{},
		})
	}
	return gresp{status: 200, body: map[string]any{"@odata.context": c.base + "/$metadata#subscribedSkus", "value": vals}}
}

// removeLicences removes ks (all when nil) from active user u at t.
func (s *Sim) removeLicences(u *user, ks []*sku, t time.Time) bool {
	var keep []assigned
	changed := false
	u.lastRemoved = nil
	for _, a := range u.Licenses {
		drop := ks == nil
		for _, k := range ks {
			drop = drop || a.SKU == k
		}
		if drop {
			changed = true
			u.lastRemoved = append(u.lastRemoved, a.SKU)
		} else {
			keep = append(keep, a)
		}
	}
	u.Licenses = keep
	if m := u.mailbox; changed && m != nil && m.state == mbActive && !u.hasExchange() && m.unlicensedSince == nil {
		m.unlicensedSince = tp(t)
		m.graceKept = false
		s.touch(m)
	}
	return changed
}

var errNoUnits = errors.New("no free units")

// addLicences assigns ks to active user u at t.
func (s *Sim) addLicences(u *user, add []assigned, t time.Time) {
	for _, a := range add {
		dup := false
		for i, have := range u.Licenses {
			if have.SKU == a.SKU {
				u.Licenses[i] = a
				dup = true
			}
		}
		if !dup {
			u.Licenses = append(u.Licenses, a)
		}
	}
	s.licenceChanged(u, t)
}

// licenceChanged settles the mailbox after u's licences changed.
func (s *Sim) licenceChanged(u *user, t time.Time) {
	if !u.hasExchange() {
		return
	}
	u.disableAt = nil
	m := u.mailbox
	switch {
	case m == nil || m.state == mbPurged || m.user != u:
		s.startLag(s.provision(u, t), lagLicence, mbActive, true, t)
	case m.state == mbActive:
		m.unlicensedSince = nil
		m.graceKept = false
	}
	s.touch(u)
}

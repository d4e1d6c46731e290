package events

import "strconv"

// Decoders for holdfast's own io.holdfast.* event types. Known fields are
// checked strictly; unknown data fields are ignored so publishers can add
// their own (a miscased known field is reported rather than ignored).

// userRef reads userId/upn/employeeId and requires at least one of them.
func (d *decoder) userRef(data object) *Rejection {
	if rej := d.userFields(data); rej != nil {
		return rej
	}
	u := d.ev.User
	if u.ObjectID == "" && u.UPN == "" && u.EmployeeID == "" {
		for _, k := range []string{"userId", "upn", "employeeId"} {
			if alt, ok := data.miscased(k); ok {
				return reject(CodeMissingField, data.field(k), "the user is not identified: found %s but field names are case-sensitive; expected %s", quote(alt), data.field(k))
			}
		}
		return reject(CodeMissingField, data.field("userId"), "the user is not identified: give at least one of data.userId (Entra object id), data.upn or data.employeeId")
	}
	return nil
}

// userFields reads and validates whichever of userId, upn, employeeId are present.
func (d *decoder) userFields(data object) *Rejection {
	if s, ok, rej := data.str("userId"); rej != nil {
		return rej
	} else if ok {
		id, rej := checkGUID(data.field("userId"), s)
		if rej != nil {
			return rej
		}
		d.ev.User.ObjectID = id
	}
	if s, ok, rej := data.str("upn"); rej != nil {
		return rej
	} else if ok {
		if rej := checkUPN(data.field("upn"), s); rej != nil {
			return rej
		}
		d.ev.User.UPN = s
	}
	if s, ok, rej := data.str("employeeId"); rej != nil {
		return rej
	} else if ok {
		if rej := checkEmployeeID(data.field("employeeId"), s); rej != nil {
			return rej
		}
		d.ev.User.EmployeeID = s
	}
	return nil
}

// requiredObjectID reads the userId that directory events must carry.
func (d *decoder) requiredObjectID(data object) *Rejection {
	s, rej := data.reqStr("userId")
	if rej != nil {
		return rej
	}
	id, rej := checkGUID(data.field("userId"), s)
	if rej != nil {
		return rej
	}
	d.ev.User.ObjectID = id
	return d.userFields(data)
}

// tenant reads the optional data.tenantId of holdfast events.
func (d *decoder) tenant(data object) *Rejection {
	s, ok, rej := data.str("tenantId")
	if rej != nil || !ok {
		return rej
	}
	t, rej := checkGUID(data.field("tenantId"), s)
	if rej != nil {
		return rej
	}
	if d.opts.TenantID != "" && t != d.opts.TenantID {
		return reject(CodeWrongTenant, data.field("tenantId"), "event is for tenant %s, but this holdfast serves tenant %s", t, d.opts.TenantID)
	}
	d.ev.TenantID = t
	return nil
}

func (d *decoder) ticket(data object, required bool) (string, *Rejection) {
	var s string
	var rej *Rejection
	if required {
		s, rej = data.reqStr("ticket")
	} else {
		s, _, rej = data.str("ticket")
	}
	if rej != nil || s == "" {
		return "", rej
	}
	if rej := checkTicket(data.field("ticket"), s); rej != nil {
		return "", rej
	}
	return s, nil
}

func (d *decoder) offboarding(data object) *Rejection {
	if rej := d.tenant(data); rej != nil {
		return rej
	}
	if rej := d.userRef(data); rej != nil {
		return rej
	}
	hr := &HRDecision{}
	lwd, rej := data.reqStr("lastWorkingDay")
	if rej != nil {
		return rej
	}
	if rej := checkDate(data.field("lastWorkingDay"), lwd, d.now); rej != nil {
		return rej
	}
	hr.LastWorkingDay = lwd

	ret, rej := data.reqStr("retention")
	if rej != nil {
		return rej
	}
	if rej := checkPolicy(data.field("retention"), ret); rej != nil {
		return rej
	}
	hr.Retention = ret

	if n, ok, rej := data.integer("holdDurationDays"); rej != nil {
		return rej
	} else if ok {
		if n < 0 || n > maxHoldDays {
			return reject(CodeOutOfRange, data.field("holdDurationDays"), "data.holdDurationDays %d must be between 0 (unlimited) and %d days", n, maxHoldDays)
		}
		days := int(n)
		hr.HoldDurationDays = &days
	}
	if s, ok, rej := data.str("archiveTarget"); rej != nil {
		return rej
	} else if ok {
		if rej := checkUPN(data.field("archiveTarget"), s); rej != nil {
			return rej
		}
		hr.ArchiveTarget = s
	}
	if hr.Ticket, rej = d.ticket(data, false); rej != nil {
		return rej
	}
	// "release" with hold settings is self-contradictory; guessing which half
	// HR meant would decide a legal question, so ask instead.
	if ret == "release" {
		if hr.HoldDurationDays != nil && *hr.HoldDurationDays != 0 {
			return reject(CodeInvalidField, data.field("holdDurationDays"), "data.retention is \"release\" but data.holdDurationDays is set; send one decision: either retain with a duration, or release without one")
		}
		if hr.ArchiveTarget != "" {
			return reject(CodeInvalidField, data.field("archiveTarget"), "data.retention is \"release\" but data.archiveTarget is set; send one decision: either retain (with an archive target), or release without one")
		}
	}
	d.ev.HR = hr
	return nil
}

// hrFollowUp reads what a cancellation and a rehire share: tenant, user
// reference and the required ticket.
func (d *decoder) hrFollowUp(data object) (*HRDecision, *Rejection) {
	if rej := d.tenant(data); rej != nil {
		return nil, rej
	}
	if rej := d.userRef(data); rej != nil {
		return nil, rej
	}
	t, rej := d.ticket(data, true)
	if rej != nil {
		return nil, rej
	}
	return &HRDecision{Ticket: t}, nil
}

func (d *decoder) offboardingCancelled(data object) *Rejection {
	hr, rej := d.hrFollowUp(data)
	if rej != nil {
		return rej
	}
	d.ev.HR = hr
	return nil
}

func (d *decoder) rehire(data object) *Rejection {
	hr, rej := d.hrFollowUp(data)
	if rej != nil {
		return rej
	}
	if s, ok, rej := data.str("newUpn"); rej != nil {
		return rej
	} else if ok {
		if rej := checkUPN(data.field("newUpn"), s); rej != nil {
			return rej
		}
		hr.NewUPN = s
	}
	d.ev.HR = hr
	return nil
}

// occurred reads a required RFC 3339 time field into OccurredAt.
func (d *decoder) occurred(data object, key string) *Rejection {
	s, rej := data.reqStr(key)
	if rej != nil {
		return rej
	}
	t, rej := parseTime(data.field(key), s, d.now)
	if rej != nil {
		return rej
	}
	d.ev.OccurredAt = t
	return nil
}

func (d *decoder) licenseRemoved(data object) *Rejection {
	if rej := d.tenant(data); rej != nil {
		return rej
	}
	if rej := d.requiredObjectID(data); rej != nil {
		return rej
	}
	skus, ok, rej := data.strList("skuIds")
	if rej != nil {
		return rej
	}
	if !ok || len(skus) == 0 {
		if !ok {
			return data.missing("skuIds")
		}
		return reject(CodeMissingField, data.field("skuIds"), "data.skuIds must list at least one removed licence (skuId GUID)")
	}
	if len(skus) > maxSKUs {
		return reject(CodeOutOfRange, data.field("skuIds"), "data.skuIds lists %d licences; at most %d are accepted", len(skus), maxSKUs)
	}
	seen := make(map[string]bool, len(skus))
	for i, s := range skus {
		id, rej := checkGUID(data.field("skuIds")+"["+strconv.Itoa(i)+"]", s)
		if rej != nil {
			return rej
		}
		if !seen[id] {
			seen[id] = true
			d.ev.SKUIDs = append(d.ev.SKUIDs, id)
		}
	}
	return d.occurred(data, "removedAt")
}

func (d *decoder) userDeleted(data object) *Rejection {
	if rej := d.tenant(data); rej != nil {
		return rej
	}
	if rej := d.requiredObjectID(data); rej != nil {
		return rej
	}
	if rej := d.occurred(data, "deletedAt"); rej != nil {
		return rej
	}
	src, rej := data.reqStr("source")
	if rej != nil {
		return rej
	}
	if src != "entra" && src != "exchange" {
		return reject(CodeInvalidField, data.field("source"), "data.source %s must be \"entra\" (user deleted in Entra ID) or \"exchange\" (mailbox removed in Exchange)", quote(src))
	}
	d.ev.DeletionSource = src
	return nil
}

func (d *decoder) userRestored(data object) *Rejection {
	if rej := d.tenant(data); rej != nil {
		return rej
	}
	if rej := d.requiredObjectID(data); rej != nil {
		return rej
	}
	return d.occurred(data, "restoredAt")
}

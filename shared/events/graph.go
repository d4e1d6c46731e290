package events

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"strconv"
	"strings"
)

// graphUser decodes a Microsoft Graph user change notification delivered by
// Event Grid (Learn: "Microsoft Entra events"). Graph writes the tenant in
// three places (source, data.tenantId, resourceData.organizationId) and the
// user in four (subject, resource, @odata.id, id); they must agree, since a
// notification whose parts disagree cannot be trusted to name the right user.
func (d *decoder) graphUser(data object) *Rejection {
	tenant, rej := d.graphTenant(data, "notification is for tenant %s, but this holdfast serves tenant %s; check the Graph subscription and Event Grid routing")
	if rej != nil {
		return rej
	}

	if rej := d.clientState(data); rej != nil {
		return rej
	}

	ct, rej := data.reqStr("changeType")
	if rej != nil {
		return rej
	}
	want := "deleted"
	okChange := ct == "deleted"
	if d.ev.Kind == KindUserChanged {
		// Graph reports creations as UserUpdated too (a documented known issue).
		want, okChange = "updated", ct == "updated" || ct == "created"
	}
	if !okChange {
		return reject(CodeInvalidField, data.field("changeType"), "data.changeType %s does not fit event type %s (expected %q)", quote(ct), d.ev.Type, want)
	}

	resource, rej := data.reqStr("resource")
	if rej != nil {
		return rej
	}
	userID, rej := graphUserPath(data.field("resource"), resource)
	if rej != nil {
		return rej
	}

	rd, ok, rej := data.sub("resourceData")
	if rej != nil {
		return rej
	}
	if !ok {
		return data.missing("resourceData")
	}
	if s, ok, rej := rd.str("@odata.type"); rej != nil {
		return rej
	} else if ok && !strings.EqualFold(s, "#Microsoft.Graph.User") {
		return reject(CodeInvalidField, rd.field("@odata.type"), "%s is %s; holdfast handles user notifications only (#Microsoft.Graph.User)", rd.field("@odata.type"), quote(s))
	}
	rid, rej := rd.reqStr("id")
	if rej != nil {
		return rej
	}
	rid, rej = checkGUID(rd.field("id"), rid)
	if rej != nil {
		return rej
	}
	if rid != userID {
		return reject(CodeInvalidField, rd.field("id"), "%s (%s) does not match data.resource (%s)", rd.field("id"), rid, userID)
	}
	if s, ok, rej := rd.str("@odata.id"); rej != nil {
		return rej
	} else if ok {
		oid, rej := graphUserPath(rd.field("@odata.id"), s)
		if rej != nil {
			return rej
		}
		if oid != userID {
			return reject(CodeInvalidField, rd.field("@odata.id"), "%s does not match data.resource", rd.field("@odata.id"))
		}
	}
	if s, ok, rej := rd.str("organizationId"); rej != nil {
		return rej
	} else if ok {
		org, rej := checkGUID(rd.field("organizationId"), s)
		if rej != nil {
			return rej
		}
		if org != tenant {
			return reject(CodeInvalidField, rd.field("organizationId"), "%s %s does not match the tenant in source (%s)", rd.field("organizationId"), org, tenant)
		}
	}
	if s, ok, rej := rd.str("eventTime"); rej != nil {
		return rej
	} else if ok {
		t, rej := parseTime(rd.field("eventTime"), s, d.now)
		if rej != nil {
			return rej
		}
		d.ev.OccurredAt = t
	}
	// sequenceNumber is a string in Learn's property table and a bare
	// number in its example; Microsoft's own sample omits it. It is only
	// carried for the audit, so an odd value is dropped, never a reason to
	// reject the notification (that would leave a soft delete to Reconcile).
	if n, ok := graphSequence(rd); ok {
		d.ev.Sequence = n
	}

	// subject is a CloudEvents attribute; Graph sets it to Users/<id>.
	if d.subject != "" {
		sid, rej := graphUserPath("subject", d.subject)
		if rej != nil {
			return rej
		}
		if sid != userID {
			return reject(CodeInvalidField, "subject", "subject does not match data.resource")
		}
	}
	if s, ok, rej := data.str("subscriptionId"); rej != nil {
		return rej
	} else if ok {
		if _, rej := checkGUID(data.field("subscriptionId"), s); rej != nil {
			return rej
		}
	}
	if s, ok, rej := data.str("subscriptionExpirationDateTime"); rej != nil {
		return rej
	} else if ok {
		if rej := parseTimeLoose(data.field("subscriptionExpirationDateTime"), s); rej != nil {
			return rej
		}
	}
	d.ev.User.ObjectID = userID
	return nil
}

// clientState checks data.clientState against Options.ClientState in
// constant time. The reason never repeats either value: it is a secret.
func (d *decoder) clientState(data object) *Rejection {
	cs, ok, rej := data.str("clientState")
	if rej != nil {
		return rej
	}
	if ok && len(cs) > maxClientLen {
		return reject(CodeInvalidField, data.field("clientState"), "data.clientState is longer than %d characters", maxClientLen)
	}
	if d.opts.ClientState == "" {
		return nil
	}
	if !ok || subtle.ConstantTimeCompare([]byte(cs), []byte(d.opts.ClientState)) != 1 {
		return reject(CodeClientStateInvalid, data.field("clientState"), "data.clientState does not match the value holdfast gave the Graph subscription; the notification may not come from holdfast's subscription")
	}
	return nil
}

// graphSourceTenant extracts the tenant id from
// /tenants/<tenantId>/applications/<appId>.
func graphSourceTenant(src string) (string, bool) {
	parts := strings.Split(src, "/")
	if len(parts) != 5 || parts[0] != "" || !strings.EqualFold(parts[1], "tenants") || !strings.EqualFold(parts[3], "applications") {
		return "", false
	}
	if !isGUID(parts[2]) || !isGUID(parts[4]) {
		return "", false
	}
	t := strings.ToLower(parts[2])
	return t, t != nilGUID
}

// graphUserPath parses Users/<id> (Graph is not consistent about the case of
// "Users") and returns the lower-cased id.
func graphUserPath(field, s string) (string, *Rejection) {
	const prefix = "users/"
	if len(s) <= len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return "", reject(CodeInvalidField, field, "%s %s must name a user as Users/<object id>; holdfast handles user notifications only", field, quote(s))
	}
	id := s[len(prefix):]
	if !isGUID(id) {
		return "", reject(CodeInvalidField, field, "%s %s must be Users/<object id GUID>", field, quote(s))
	}
	return checkGUID(field, id)
}

// graphSequence reads resourceData.sequenceNumber written as a JSON string
// of digits or a JSON whole number; anything else reads as absent.
func graphSequence(rd object) (int64, bool) {
	raw, ok := rd.get("sequenceNumber")
	if !ok {
		return 0, false
	}
	t := bytes.TrimSpace(raw)
	if len(t) > 1 && t[0] == '"' {
		var s string
		if json.Unmarshal(t, &s) != nil {
			return 0, false
		}
		t = []byte(s)
	}
	n, err := strconv.ParseInt(string(t), 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// graphTenant reads the tenant of a Graph notification from the CloudEvent
// source (/tenants/<tenantId>/applications/<appId>), checks data.tenantId
// agrees when present and that it is the tenant holdfast serves (wrong is
// the message for the last check, with the event's and holdfast's tenant),
// and records it on the event.
func (d *decoder) graphTenant(data object, wrong string) (string, *Rejection) {
	tenant, ok := graphSourceTenant(d.ev.Source)
	if !ok {
		return "", reject(CodeInvalidField, "source", "source %s is not a Microsoft Graph source; expected /tenants/<tenant id>/applications/<application id>", quote(d.ev.Source))
	}
	if t, ok, rej := data.str("tenantId"); rej != nil {
		return "", rej
	} else if ok {
		t, rej := checkGUID(data.field("tenantId"), t)
		if rej != nil {
			return "", rej
		}
		if t != tenant {
			return "", reject(CodeInvalidField, data.field("tenantId"), "data.tenantId %s does not match the tenant in source (%s)", t, tenant)
		}
	}
	if d.opts.TenantID != "" && tenant != d.opts.TenantID {
		return "", reject(CodeWrongTenant, "source", wrong, tenant, d.opts.TenantID)
	}
	d.ev.TenantID = tenant
	return tenant, nil
}

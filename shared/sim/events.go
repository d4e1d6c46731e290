package sim

import (
	"encoding/json"
	"time"
)

// subscriptionLifetime is the longest a Graph subscription on users may
// live (41,760 minutes).
const subscriptionLifetime = 41760 * time.Minute

// emit records a Microsoft Graph change notification for u as Event Grid
// delivers it to Service Bus: a CloudEvents 1.0 structured event
// (Learn: "Microsoft Entra events"). Graph reports soft deletes, restores,
// creations and licence changes as updated; only a permanent deletion is
// deleted. Notifications carry ids only.
func (s *Sim) emit(u *user, changeType string, t time.Time) {
	typ := "Microsoft.Graph.UserUpdated"
	if changeType == "deleted" {
		typ = "Microsoft.Graph.UserDeleted"
	}
	s.seq++
	ts := t.UTC().Format(time.RFC3339Nano)
	// The subscription is treated as renewed continuously: it always
	// expires a full lifetime after the event.
	exp := t.Add(subscriptionLifetime).UTC().Format(time.RFC3339Nano)
	ev := map[string]any{
		"id":              s.newGUID(),
		"type":            typ,
		"source":          "/tenants/" + s.opts.TenantID + "/applications/" + s.opts.AppID,
		"subject":         "Users/" + u.ID,
		"time":            ts,
		"datacontenttype": "application/json",
		"specversion":     "1.0",
		"data": map[string]any{
			"changeType":  changeType,
			"clientState": s.opts.ClientState,
			"resource":    "Users/" + u.ID,
			"resourceData": map[string]any{
				"@odata.type":    "#Microsoft.Graph.User",
				"@odata.id":      "Users/" + u.ID,
				"id":             u.ID,
				"organizationId": s.opts.TenantID,
				"eventTime":      ts,
				"sequenceNumber": s.seq,
			},
			"subscriptionExpirationDateTime": exp,
			"subscriptionId":                 s.subID,
			"tenantId":                       s.opts.TenantID,
		},
	}
	b, err := json.Marshal(ev)
	if err != nil {
		panic(err) // maps of strings and numbers always marshal
	}
	s.events = append(s.events, b)
}

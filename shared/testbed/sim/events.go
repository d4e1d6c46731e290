package sim

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/holdfast/holdfast/shared/contract"
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
	// Every change is tracked for users/delta, whether or not a
	// subscription is live to announce it.
	s.deltaVer++
	u.deltaVer = s.deltaVer
	if !s.subsOwned {
		// No subscription was ever created through the API: the operator's
		// subscription of older setups, treated as renewed continuously (it
		// always expires a full lifetime after the event).
		s.userEvent(u, changeType, t, s.subID, s.opts.ClientState, t.Add(subscriptionLifetime))
		return
	}
	// Graph notifies every live subscription whose changeType covers the
	// change, one notification each; an expired or removed subscription
	// notifies nobody.
	for _, sub := range s.subs {
		if sub.liveAt(t) && sub.covers(changeType) {
			s.userEvent(u, changeType, t, sub.ID, sub.ClientState, sub.Expires)
		}
	}
}

func (s *Sim) userEvent(u *user, changeType string, t time.Time, subID, clientState string, expires time.Time) {
	typ := "Microsoft.Graph.UserUpdated"
	if changeType == "deleted" {
		typ = "Microsoft.Graph.UserDeleted"
	}
	s.seq++
	ts := t.UTC().Format(time.RFC3339Nano)
	exp := expires.UTC().Format("2006-01-02T15:04:05.0000000-07:00")
	// Built from the shared contract type, in the documented form:
	// sequenceNumber as a string, the expiry with an explicit offset.
	ev := contract.EntraEvent{
		ID:              s.newGUID(),
		Type:            typ,
		Source:          "/tenants/" + s.opts.TenantID + "/applications/" + s.opts.AppID,
		Subject:         "Users/" + u.ID,
		Time:            ts,
		DataContentType: "application/json",
		SpecVersion:     "1.0",
		Data: contract.EntraEventData{
			ChangeType:  changeType,
			ClientState: clientState,
			Resource:    "Users/" + u.ID,
			ResourceData: &contract.EntraResourceData{
				ODataType:      "#Microsoft.Graph.User",
				ODataID:        "Users/" + u.ID,
				ID:             u.ID,
				OrganizationID: s.opts.TenantID,
				EventTime:      ts,
				SequenceNumber: strconv.FormatInt(s.seq, 10),
			},
			SubscriptionExpirationDateTime: exp,
			SubscriptionID:                 subID,
			TenantID:                       s.opts.TenantID,
		},
	}
	b, err := json.Marshal(ev)
	if err != nil {
		panic(err) // a struct of strings always marshals
	}
	s.events = append(s.events, b)
}

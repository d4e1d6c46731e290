package sim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/holdfast/holdfast/shared/config"
)

// Graph change-notification subscriptions (Learn: "subscription resource
// type", "Create subscription", "Update subscription", "subscription:
// reauthorize", "Reduce missing subscriptions and change notifications").
const (
	// reauthLead: how long before expiry Graph sends reauthorizationRequired.
	// Learn only says "about to expire" and advises renewing to at least
	// three hours ahead; the simulator warns that late (UNVERIFIED timing).
	reauthLead = 3 * time.Hour
	// maxClientState is the documented limit of clientState (128 characters).
	maxClientState = 128
	// deltaTokenLife: delta links for identity resources expire after seven
	// days (Microsoft 365 Dev Blog, 2020-07-03).
	deltaTokenLife = 7 * 24 * time.Hour
	// deltaPage: users per users/delta page (Graph's page size is not
	// documented; small pages are the harder case).
	deltaPage = 100
)

type subscription struct {
	ID, Resource, ChangeType      string
	NotificationURL, LifecycleURL string
	ClientState                   string
	Created, Expires              time.Time
	removed                       bool
	warned                        bool // reauthorizationRequired sent for the current expiry
}

func (sub *subscription) liveAt(t time.Time) bool { return !sub.removed && t.Before(sub.Expires) }

func (sub *subscription) covers(changeType string) bool {
	for _, c := range strings.Split(sub.ChangeType, ",") {
		if strings.TrimSpace(c) == changeType {
			return true
		}
	}
	return false
}

func (s *Sim) subJSON(c *gctx, sub *subscription, entity bool) map[string]any {
	var lc any
	if sub.LifecycleURL != "" {
		lc = sub.LifecycleURL
	}
	var cs any
	if sub.ClientState != "" {
		cs = sub.ClientState
	}
	out := map[string]any{
		"id": sub.ID, "resource": sub.Resource, "applicationId": s.opts.AppID, "changeType": sub.ChangeType,
		"clientState": cs, "notificationUrl": sub.NotificationURL, "lifecycleNotificationUrl": lc,
		"expirationDateTime": sub.Expires.UTC().Format("2006-01-02T15:04:05.0000000Z"),
		"creatorId":          s.opts.AppID, "includeResourceData": false, "latestSupportedTlsVersion": "v1_2",
		"encryptionCertificate": nil, "encryptionCertificateId": nil, "notificationQueryOptions": nil,
		"notificationUrlAppId": nil,
	}
	if entity {
		out["@odata.context"] = c.base + "/$metadata#subscriptions/$entity"
	}
	return out
}

// findSub returns the live subscription id names (expired ones are gone:
// the pessimistic reading of Graph's clean-up, so a client must recreate).
func (s *Sim) findSub(id string) *subscription {
	now := s.now()
	for _, sub := range s.subs {
		if strings.EqualFold(sub.ID, id) && sub.liveAt(now) {
			return sub
		}
	}
	return nil
}

func subNotFound(id string) gresp {
	return graphErr(404, "ResourceNotFound", fmt.Sprintf("The object was not found. Subscription '%s' does not exist.", id))
}

func (s *Sim) parseExpiry(raw json.RawMessage) (time.Time, *gresp) {
	var v string
	if json.Unmarshal(raw, &v) != nil {
		r := badRequest("Invalid value specified for property 'expirationDateTime' of resource 'Subscription'.")
		return time.Time{}, &r
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		r := badRequest("Invalid value specified for property 'expirationDateTime' of resource 'Subscription'.")
		return time.Time{}, &r
	}
	now := s.now()
	if !t.After(now) {
		r := graphErr(400, "ExtensionError", "Subscription expiration must be in the future.")
		return time.Time{}, &r
	}
	if t.Sub(now) > subscriptionLifetime {
		r := graphErr(400, "ExtensionError", fmt.Sprintf("Subscription expiration can only be %d minutes in the future.", int(subscriptionLifetime/time.Minute)))
		return time.Time{}, &r
	}
	return t.UTC(), nil
}

func (s *Sim) gCreateSubscription(c *gctx) gresp {
	body, err := decodeObject(c.body)
	if err != nil {
		return graphErr(400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
	}
	str := func(k string) (string, bool) {
		var v string
		raw, ok := body[k]
		return v, ok && json.Unmarshal(raw, &v) == nil
	}
	for _, k := range []string{"changeType", "notificationUrl", "resource", "expirationDateTime"} {
		if _, ok := body[k]; !ok {
			return badRequest(fmt.Sprintf("Property '%s' is required for resource 'Subscription'.", k))
		}
	}
	resource, _ := str("resource")
	if r := strings.TrimPrefix(resource, "/"); !strings.EqualFold(r, "users") {
		return graphErr(400, "ExtensionError", fmt.Sprintf("Resource '%s' is not supported by the simulator (users only).", resource))
	}
	ct, ok := str("changeType")
	if !ok || ct == "" {
		return badRequest("Invalid value specified for property 'changeType' of resource 'Subscription'.")
	}
	for _, p := range strings.Split(ct, ",") {
		switch strings.TrimSpace(p) {
		case "created", "updated", "deleted":
		default:
			return badRequest(fmt.Sprintf("Invalid change type '%s'.", p))
		}
	}
	nu, _ := str("notificationUrl")
	if !config.EventGridURL(nu) {
		// A webhook URL would need Graph's validation handshake, which the
		// simulator does not answer: holdfast delivers through Event Grid.
		return graphErr(400, "ValidationError", "Subscription validation request failed. Notification endpoint must be an Event Grid partner topic (EventGrid:?azuresubscriptionid=...&resourcegroup=...&partnertopic=...&location=...).")
	}
	lc, hasLC := str("lifecycleNotificationUrl")
	if hasLC && lc != "" && !config.EventGridURL(lc) {
		return graphErr(400, "ValidationError", "Subscription validation request failed for lifecycleNotificationUrl.")
	}
	cs, _ := str("clientState")
	if len(cs) > maxClientState {
		return badRequest(fmt.Sprintf("The clientState value can be at most %d characters.", maxClientState))
	}
	exp, bad := s.parseExpiry(body["expirationDateTime"])
	if bad != nil {
		return *bad
	}
	sub := &subscription{ID: s.newGUID(), Resource: strings.TrimPrefix(resource, "/"), ChangeType: ct,
		NotificationURL: nu, LifecycleURL: lc, ClientState: cs, Created: s.now(), Expires: exp}
	s.subs = append(s.subs, sub)
	s.subsOwned = true
	return gresp{status: 201, body: s.subJSON(c, sub, true)}
}

func (s *Sim) gListSubscriptions(c *gctx) gresp {
	vals := []any{}
	now := s.now()
	for _, sub := range s.subs {
		if sub.liveAt(now) {
			vals = append(vals, s.subJSON(c, sub, false))
		}
	}
	return gresp{status: 200, body: map[string]any{"@odata.context": c.base + "/$metadata#subscriptions", "value": vals}}
}

func (s *Sim) gGetSubscription(c *gctx) gresp {
	sub := s.findSub(c.segs[1])
	if sub == nil {
		return subNotFound(c.segs[1])
	}
	return gresp{status: 200, body: s.subJSON(c, sub, true)}
}

func (s *Sim) gPatchSubscription(c *gctx) gresp {
	sub := s.findSub(c.segs[1])
	if sub == nil {
		return subNotFound(c.segs[1])
	}
	body, err := decodeObject(c.body)
	if err != nil {
		return graphErr(400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
	}
	raw, ok := body["expirationDateTime"]
	if !ok {
		return badRequest("Property 'expirationDateTime' is required to renew a subscription.")
	}
	for k := range body {
		if k != "expirationDateTime" && k != "@odata.type" {
			return badRequest(fmt.Sprintf("Property '%s' cannot be updated by the simulator.", k))
		}
	}
	exp, bad := s.parseExpiry(raw)
	if bad != nil {
		return *bad
	}
	sub.Expires = exp
	sub.warned = false
	return gresp{status: 200, body: s.subJSON(c, sub, true)}
}

func (s *Sim) gDeleteSubscription(c *gctx) gresp {
	sub := s.findSub(c.segs[1])
	if sub == nil {
		return subNotFound(c.segs[1])
	}
	sub.removed = true
	return gresp{status: 204}
}

func (s *Sim) gReauthorizeSubscription(c *gctx) gresp {
	if sub := s.findSub(c.segs[1]); sub == nil {
		return subNotFound(c.segs[1])
	}
	return gresp{status: 204}
}

// subscriptionsDue sends reauthorizationRequired for every live subscription
// that came within reauthLead of its expiry (once per expiry), stamped with
// the time it fell due. Called with mu held.
func (s *Sim) subscriptionsDue(now time.Time) {
	for _, sub := range s.subs {
		due := sub.Expires.Add(-reauthLead)
		if sub.removed || sub.warned || now.Before(due) || sub.LifecycleURL == "" {
			continue
		}
		sub.warned = true
		s.lifecycleEvent(sub, "reauthorizationRequired", due)
	}
}

// removeSubscriptions drops every live subscription, as Graph does when it
// removes one (Learn lists subscriptionRemoved lifecycle events for Outlook
// and Teams resources only, so for users the removal is silent unless
// notify). Called with mu held.
func (s *Sim) removeSubscriptions(now time.Time, notify bool) bool {
	found := false
	for _, sub := range s.subs {
		if !sub.liveAt(now) {
			continue
		}
		sub.removed = true
		found = true
		if notify && sub.LifecycleURL != "" {
			s.lifecycleEvent(sub, "subscriptionRemoved", now)
		}
	}
	return found
}

// lifecycleEvent records a lifecycle notification as Event Grid delivers
// it: type Microsoft.Graph.Subscription<Event>, data shaped like Graph's
// lifecycle notification (subscriptionId, subscriptionExpirationDateTime,
// tenantId, clientState, lifecycleEvent). The subject is UNVERIFIED and
// holdfast does not rely on it.
func (s *Sim) lifecycleEvent(sub *subscription, event string, t time.Time) {
	typ := map[string]string{
		"reauthorizationRequired": "Microsoft.Graph.SubscriptionReauthorizationRequired",
		"subscriptionRemoved":     "Microsoft.Graph.SubscriptionRemoved",
	}[event]
	ts := t.UTC().Format(time.RFC3339Nano)
	ev := map[string]any{
		"id": s.newGUID(), "type": typ,
		"source":  "/tenants/" + s.opts.TenantID + "/applications/" + s.opts.AppID,
		"subject": "Subscriptions/" + sub.ID, "time": ts, "datacontenttype": "application/json", "specversion": "1.0",
		"data": map[string]any{
			"subscriptionId":                 sub.ID,
			"subscriptionExpirationDateTime": sub.Expires.UTC().Format(time.RFC3339Nano),
			"tenantId":                       s.opts.TenantID,
			"clientState":                    sub.ClientState,
			"lifecycleEvent":                 event,
		},
	}
	b, err := json.Marshal(ev)
	if err != nil {
		panic(err)
	}
	s.events = append(s.events, b)
}

// Subscriptions returns the live subscriptions' ids and expiries (tests).
func (s *Sim) Subscriptions() map[string]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	out := map[string]time.Time{}
	now := s.now()
	for _, sub := range s.subs {
		if sub.liveAt(now) {
			out[sub.ID] = sub.Expires
		}
	}
	return out
}

// --- users/delta (Learn: "user: delta", "Use delta query to track changes") ---

// deltaState is what a $skiptoken or $deltatoken carries: the change counter
// the round started at (the next round's starting point), the counter the
// round reports changes after (0: a full round), the last position in
// creation order already returned, and when the token was issued.
type deltaState struct {
	start, from int64
	cursor      int
	issued      int64
}

func (d deltaState) encode() string {
	raw := fmt.Sprintf("%d.%d.%d.%d", d.start, d.from, d.cursor, d.issued)
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func decodeDelta(tok string) (deltaState, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return deltaState{}, false
	}
	p := strings.Split(string(b), ".")
	if len(p) != 4 {
		return deltaState{}, false
	}
	var n [4]int64
	for i := range p {
		v, err := strconv.ParseInt(p[i], 10, 64)
		if err != nil || v < -1 {
			return deltaState{}, false
		}
		n[i] = v
	}
	return deltaState{start: n[0], from: n[1], cursor: int(n[2]), issued: n[3]}, true
}

func (s *Sim) gUsersDelta(c *gctx) gresp {
	sel, bad := parseSelect(c.query)
	if bad != nil {
		return *bad
	}
	now := s.now()
	st := deltaState{start: s.deltaVer, from: -1, cursor: -1, issued: now.Unix()}
	skip, delta := c.query.Get("$skiptoken"), c.query.Get("$deltatoken")
	expired := graphErr(400, "syncStateNotFound", "The sync state generation is not found. The delta token is expired and data must be synchronized again.")
	switch {
	case skip != "" && delta != "":
		return badRequest("Specify either $skiptoken or $deltatoken, not both.")
	case skip != "":
		d, ok := decodeDelta(skip)
		if !ok {
			return badRequest("Invalid skiptoken.")
		}
		if now.Sub(time.Unix(d.issued, 0)) > deltaTokenLife {
			return expired
		}
		st = d
	case delta != "":
		d, ok := decodeDelta(delta)
		if !ok {
			return badRequest("Invalid deltatoken.")
		}
		if now.Sub(time.Unix(d.issued, 0)) > deltaTokenLife {
			return expired
		}
		// A new round: changes after the previous round's start.
		st = deltaState{start: s.deltaVer, from: d.start, cursor: -1, issued: now.Unix()}
	}
	vals := []any{}
	i := st.cursor + 1
	for ; i < len(s.users) && len(vals) < deltaPage; i++ {
		u := s.users[i]
		switch {
		case st.from < 0 && u.state != userActive:
			// A full round lists the users that exist.
		case st.from >= 0 && u.deltaVer <= st.from:
		case u.state == userActive:
			vals = append(vals, s.userJSON(u, sel))
		default:
			reason := "changed" // restorable from the recycle bin
			if u.state == userPurged {
				reason = "deleted"
			}
			vals = append(vals, map[string]any{"id": u.ID, "@removed": map[string]any{"reason": reason}})
		}
	}
	out := map[string]any{"@odata.context": contextURL(c.base, "users", sel, false), "value": vals}
	q := url.Values{}
	if raw := c.query.Get("$select"); raw != "" {
		q.Set("$select", raw)
	}
	link := c.base + "/users/delta()?"
	if i < len(s.users) {
		st.cursor = i - 1
		q.Set("$skiptoken", st.encode())
		out["@odata.nextLink"] = link + q.Encode()
	} else {
		q.Set("$deltatoken", deltaState{start: st.start, from: st.start, cursor: -1, issued: now.Unix()}.encode())
		out["@odata.deltaLink"] = link + q.Encode()
	}
	return gresp{status: 200, body: out}
}

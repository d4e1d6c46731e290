package graph

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/subscriptions"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/holdfast/holdfast/shared/tenant"
)

func (c *Client) subscriptions() *subscriptions.SubscriptionsRequestBuilder {
	return subscriptions.NewSubscriptionsRequestBuilderInternal(c.pathParams(), c.adapter)
}

func (c *Client) subscription(id string) (*subscriptions.SubscriptionItemRequestBuilder, error) {
	if strings.TrimSpace(id) == "" {
		return nil, errors.New("graph: empty subscription id")
	}
	return c.subscriptions().BySubscriptionId(id), nil
}

// CreateSubscription creates a change-notification subscription and returns
// it as Graph stored it.
// Permission: the resource's read permission (User.Read.All for users).
// Graph: POST /subscriptions
func (c *Client) CreateSubscription(ctx context.Context, s tenant.Subscription) (tenant.Subscription, error) {
	body := models.NewSubscription()
	body.SetResource(&s.Resource)
	body.SetChangeType(&s.ChangeType)
	body.SetNotificationUrl(&s.NotificationURL)
	if s.LifecycleURL != "" {
		body.SetLifecycleNotificationUrl(&s.LifecycleURL)
	}
	if s.ClientState != "" {
		body.SetClientState(&s.ClientState)
	}
	exp := s.ExpirationDateTime.UTC()
	body.SetExpirationDateTime(&exp)
	out, err := c.subscriptions().Post(ctx, body, nil)
	if err != nil {
		return tenant.Subscription{}, translate("create subscription", err)
	}
	return toSubscription(out), nil
}

// ListSubscriptions lists the subscriptions the calling application owns.
// Permission: none beyond the resource's (app-only lists the app's own).
// Graph: GET /subscriptions
func (c *Client) ListSubscriptions(ctx context.Context) ([]tenant.Subscription, error) {
	var out []tenant.Subscription
	page, err := c.subscriptions().Get(ctx, nil)
	for {
		if err != nil {
			return nil, translate("list subscriptions", err)
		}
		for _, s := range page.GetValue() {
			out = append(out, toSubscription(s))
		}
		next, err2 := c.nextLink(page.GetOdataNextLink())
		if err2 != nil || next == "" {
			return out, err2
		}
		page, err = subscriptions.NewSubscriptionsRequestBuilder(next, c.adapter).Get(ctx, nil)
	}
}

// GetSubscription reads one subscription; ErrNotFound when Graph no longer
// has it (expired and cleaned up, or removed).
// Graph: GET /subscriptions/{id}
func (c *Client) GetSubscription(ctx context.Context, id string) (tenant.Subscription, error) {
	b, err := c.subscription(id)
	if err != nil {
		return tenant.Subscription{}, err
	}
	s, err := b.Get(ctx, nil)
	if err != nil {
		return tenant.Subscription{}, translate("get subscription", err)
	}
	return toSubscription(s), nil
}

// RenewSubscription moves the expiry of a subscription (PATCH
// expirationDateTime), which also reauthorizes it.
// Graph: PATCH /subscriptions/{id}
func (c *Client) RenewSubscription(ctx context.Context, id string, until time.Time) (tenant.Subscription, error) {
	b, err := c.subscription(id)
	if err != nil {
		return tenant.Subscription{}, err
	}
	body := models.NewSubscription()
	u := until.UTC()
	body.SetExpirationDateTime(&u)
	s, err := b.Patch(ctx, body, nil)
	if err != nil {
		return tenant.Subscription{}, translate("renew subscription", err)
	}
	if s == nil { // a 204 answer: Graph kept what was asked
		return tenant.Subscription{ID: id, ExpirationDateTime: u}, nil
	}
	return toSubscription(s), nil
}

// ReauthorizeSubscription answers a reauthorizationRequired challenge
// without moving the expiry.
// Graph: POST /subscriptions/{id}/reauthorize
func (c *Client) ReauthorizeSubscription(ctx context.Context, id string) error {
	b, err := c.subscription(id)
	if err != nil {
		return err
	}
	if err := b.Reauthorize().Post(ctx, nil); err != nil {
		return translate("reauthorize subscription", err)
	}
	return nil
}

// DeleteSubscription deletes a subscription.
// Graph: DELETE /subscriptions/{id}
func (c *Client) DeleteSubscription(ctx context.Context, id string) error {
	b, err := c.subscription(id)
	if err != nil {
		return err
	}
	if err := b.Delete(ctx, nil); err != nil {
		return translate("delete subscription", err)
	}
	return nil
}

func toSubscription(s models.Subscriptionable) tenant.Subscription {
	out := tenant.Subscription{
		ID: deref(s.GetId()), Resource: deref(s.GetResource()), ChangeType: deref(s.GetChangeType()),
		NotificationURL: deref(s.GetNotificationUrl()), LifecycleURL: deref(s.GetLifecycleNotificationUrl()),
		ClientState: deref(s.GetClientState()), ApplicationID: deref(s.GetApplicationId()), CreatorID: deref(s.GetCreatorId()),
	}
	if t := s.GetExpirationDateTime(); t != nil {
		out.ExpirationDateTime = t.UTC()
	}
	return out
}

// UsersDelta runs one round of GET /users/delta: from the start when link is
// empty (every user), else from a deltaLink a previous round returned (only
// what changed since). It calls fn for every entry, follows
// @odata.nextLink, and returns the round's @odata.deltaLink. An expired
// link yields an error wrapping tenant.ErrDeltaExpired.
// Permission: User.Read.All.
// Graph: GET /users/delta
func (c *Client) UsersDelta(ctx context.Context, link string, fn func(tenant.DeltaUser) error) (string, error) {
	var (
		page users.DeltaGetResponseable
		err  error
	)
	if link == "" {
		page, err = users.NewDeltaRequestBuilderInternal(c.pathParams(), c.adapter).GetAsDeltaGetResponse(ctx,
			&users.DeltaRequestBuilderGetRequestConfiguration{
				QueryParameters: &users.DeltaRequestBuilderGetQueryParameters{Select: userFields},
			})
	} else {
		if !c.sameOrigin(link) {
			return "", fmt.Errorf("graph: refusing deltaLink to another origin: %q", link)
		}
		page, err = users.NewDeltaRequestBuilder(link, c.adapter).GetAsDeltaGetResponse(ctx, nil)
	}
	for {
		if err != nil {
			return "", translate("users delta", err)
		}
		for _, u := range page.GetValue() {
			d := tenant.DeltaUser{User: toUser(u)}
			if r, ok := u.GetAdditionalData()["@removed"]; ok {
				d.Removed = removedReason(r)
			}
			if err := fn(d); err != nil {
				return "", err
			}
		}
		if dl := deref(page.GetOdataDeltaLink()); dl != "" {
			if !c.sameOrigin(dl) {
				return "", fmt.Errorf("graph: refusing deltaLink to another origin: %q", dl)
			}
			return dl, nil
		}
		next, err2 := c.nextLink(page.GetOdataNextLink())
		if err2 != nil {
			return "", err2
		}
		if next == "" {
			return "", errors.New("graph: users delta page has neither nextLink nor deltaLink")
		}
		page, err = users.NewDeltaRequestBuilder(next, c.adapter).GetAsDeltaGetResponse(ctx, nil)
	}
}

// removedReason reads @removed.reason from Kiota's untyped additional data;
// anything unreadable counts as "deleted" (the stronger claim, so the user
// is re-read rather than assumed restorable).
func removedReason(v any) string {
	var r any
	switch o := v.(type) {
	case map[string]any: // Kiota's JSON parse node keeps raw values
		r = o["reason"]
	case *absser.UntypedObject:
		r = o.GetValue()["reason"]
	}
	switch s := r.(type) {
	case *string:
		if s != nil && *s != "" {
			return *s
		}
	case string:
		if s != "" {
			return s
		}
	case *absser.UntypedString:
		if s.GetValue() != nil {
			return *s.GetValue()
		}
	}
	return "deleted"
}

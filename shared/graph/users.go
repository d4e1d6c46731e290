package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/directory"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/subscribedskus"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/holdfast/holdfast/shared/graph/odata"
	"github.com/holdfast/holdfast/shared/tenant"
)

// userFields and deletedUserFields are the $select lists (package odata).
var (
	userFields        = odata.UserFields()
	deletedUserFields = odata.DeletedUserFields()
)

func (c *Client) pathParams() map[string]string {
	return map[string]string{"baseurl": c.adapter.GetBaseUrl()}
}

func (c *Client) users() *users.UsersRequestBuilder {
	return users.NewUsersRequestBuilderInternal(c.pathParams(), c.adapter)
}

func (c *Client) user(idOrUPN string) (*users.UserItemRequestBuilder, error) {
	if strings.TrimSpace(idOrUPN) == "" {
		return nil, errors.New("graph: empty user id")
	}
	return c.users().ByUserId(idOrUPN), nil
}

// GetUser reads one user by object id or UPN.
// Permission: User.Read.All.
//
// Graph: GET /users/{id}
func (c *Client) GetUser(ctx context.Context, idOrUPN string) (tenant.User, error) {
	b, err := c.user(idOrUPN)
	if err != nil {
		return tenant.User{}, err
	}
	u, err := b.Get(ctx, &users.UserItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: userFields},
	})
	if err != nil {
		return tenant.User{}, translate("get user", err)
	}
	return toUser(u), nil
}

// FindUserByEmployeeID returns the one active user whose employeeId equals
// employeeID: ErrNotFound when there is none, ErrConflict when several
// match (employeeId is not unique in Entra).
// Permission: User.Read.All.
//
// Graph: GET /users
func (c *Client) FindUserByEmployeeID(ctx context.Context, employeeID string) (tenant.User, error) {
	lit, err := odata.EmployeeIDLiteral(employeeID)
	if err != nil {
		return tenant.User{}, err
	}
	filter := "employeeId eq " + lit
	top := int32(2) // enough to tell "one" from "several"
	page, err := c.users().Get(ctx, &users.UsersRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Filter: &filter, Select: userFields, Top: &top},
	})
	if err != nil {
		return tenant.User{}, translate("find user by employeeId", err)
	}
	found := page.GetValue()
	switch len(found) {
	case 0:
		return tenant.User{}, odata.NoMatch()
	case 1:
		return toUser(found[0]), nil
	default:
		return tenant.User{}, odata.AmbiguousMatch()
	}
}

// ListUsers calls fn for every user, following @odata.nextLink. An error
// from fn stops the listing and is returned as is.
// Permission: User.Read.All.
//
// Graph: GET /users
func (c *Client) ListUsers(ctx context.Context, fn func(tenant.User) error) error {
	top := pageSize
	page, err := c.users().Get(ctx, &users.UsersRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Select: userFields, Top: &top},
	})
	return c.eachUser(page, err, "list users", fn, func(next string) (models.UserCollectionResponseable, error) {
		return users.NewUsersRequestBuilder(next, c.adapter).Get(ctx, nil)
	})
}

// eachUser calls fn for every user of page and of the pages its
// @odata.nextLink chain leads to, read with get.
func (c *Client) eachUser(page models.UserCollectionResponseable, err error, what string, fn func(tenant.User) error,
	get func(next string) (models.UserCollectionResponseable, error)) error {
	for {
		if err != nil {
			return translate(what, err)
		}
		for _, u := range page.GetValue() {
			if err := fn(toUser(u)); err != nil {
				return err
			}
		}
		next, err2 := c.nextLink(page.GetOdataNextLink())
		if err2 != nil || next == "" {
			return err2
		}
		page, err = get(next)
	}
}

// GetDeletedUser reads a user from the directory recycle bin; DeletedAt is
// set. ErrNotFound when the id is not (or no longer) in deletedItems.
// Permission: User.Read.All.
//
// Graph: GET /directory/deletedItems/{id}/microsoft.graph.user
func (c *Client) GetDeletedUser(ctx context.Context, id string) (tenant.User, error) {
	if strings.TrimSpace(id) == "" {
		return tenant.User{}, errors.New("graph: empty user id")
	}
	p := c.pathParams()
	p["directoryObject%2Did"] = id
	u, err := directory.NewDeletedItemsItemGraphUserRequestBuilderInternal(p, c.adapter).Get(ctx,
		&directory.DeletedItemsItemGraphUserRequestBuilderGetRequestConfiguration{
			QueryParameters: &directory.DeletedItemsItemGraphUserRequestBuilderGetQueryParameters{Select: deletedUserFields},
		})
	if err != nil {
		return tenant.User{}, translate("get deleted user", err)
	}
	return toUser(u), nil
}

// ListDeletedUsers calls fn for every user in the recycle bin, 999 a page.
// Permission: User.Read.All.
//
// Graph: GET /directory/deletedItems/microsoft.graph.user
func (c *Client) ListDeletedUsers(ctx context.Context, fn func(tenant.User) error) error {
	top := pageSize
	page, err := directory.NewDeletedItemsGraphUserRequestBuilderInternal(c.pathParams(), c.adapter).Get(ctx,
		&directory.DeletedItemsGraphUserRequestBuilderGetRequestConfiguration{
			QueryParameters: &directory.DeletedItemsGraphUserRequestBuilderGetQueryParameters{Select: deletedUserFields, Top: &top},
		})
	return c.eachUser(page, err, "list deleted users", fn, func(next string) (models.UserCollectionResponseable, error) {
		return directory.NewDeletedItemsGraphUserRequestBuilder(next, c.adapter).Get(ctx, nil)
	})
}

// RestoreDeletedUser restores a soft-deleted user, asking Graph to drop
// proxy addresses that an active user has taken since
// (autoReconcileProxyConflict), and returns the restored user.
// Permission: User.ReadWrite.All (not enough for users holding admin roles).
//
// Graph: POST /directory/deletedItems/{id}/restore
// Graph: GET /users/{id}
func (c *Client) RestoreDeletedUser(ctx context.Context, id string) (tenant.User, error) {
	if strings.TrimSpace(id) == "" {
		return tenant.User{}, errors.New("graph: empty user id")
	}
	p := c.pathParams()
	p["directoryObject%2Did"] = id
	b := directory.NewDeletedItemsItemRestoreRequestBuilderInternal(p, c.adapter)
	// The v1.0 SDK models restore without a body; the service accepts the
	// optional body documented on Learn, so it is added to the same request.
	info, err := b.ToPostRequestInformation(ctx, nil)
	if err != nil {
		return tenant.User{}, fmt.Errorf("graph: restore request: %w", err)
	}
	body, _ := json.Marshal(map[string]bool{"autoReconcileProxyConflict": true})
	info.SetStreamContentAndContentType(body, "application/json")
	res, err := c.adapter.Send(ctx, info, models.CreateDirectoryObjectFromDiscriminatorValue, errorMapping)
	if err != nil {
		return tenant.User{}, translate("restore deleted user", err)
	}
	if u, ok := res.(models.Userable); ok && u.GetUserPrincipalName() != nil {
		return toUser(u), nil
	}
	// The response is typed directoryObject; without an @odata.type of
	// microsoft.graph.user it carries no user fields, so read them.
	return c.GetUser(ctx, id)
}

var errorMapping = abs.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue}

// SetAccountEnabled enables or disables sign-in.
// Permission: User.ReadWrite.All.
//
// Graph: PATCH /users/{id}
func (c *Client) SetAccountEnabled(ctx context.Context, id string, enabled bool) error {
	b, err := c.user(id)
	if err != nil {
		return err
	}
	u := models.NewUser()
	u.SetAccountEnabled(&enabled)
	if _, err := b.Patch(ctx, u, nil); err != nil {
		return translate("set accountEnabled", err)
	}
	return nil
}

// AssignLicenses adds and removes licences by skuId GUID in one call.
// A SKU without free units yields ErrNoLicenceUnits.
// Permission: LicenseAssignment.ReadWrite.All (or User.ReadWrite.All).
//
// Graph: POST /users/{id}/assignLicense
func (c *Client) AssignLicenses(ctx context.Context, id string, add []string, remove []string) error {
	b, err := c.user(id)
	if err != nil {
		return err
	}
	addL := make([]models.AssignedLicenseable, 0, len(add))
	for _, s := range add {
		sku, err := uuid.Parse(s)
		if err != nil {
			return fmt.Errorf("graph: skuId %q: %w", s, err)
		}
		l := models.NewAssignedLicense()
		l.SetSkuId(&sku)
		l.SetDisabledPlans([]uuid.UUID{})
		addL = append(addL, l)
	}
	rm := make([]uuid.UUID, 0, len(remove))
	for _, s := range remove {
		sku, err := uuid.Parse(s)
		if err != nil {
			return fmt.Errorf("graph: skuId %q: %w", s, err)
		}
		rm = append(rm, sku)
	}
	body := users.NewItemAssignLicensePostRequestBody()
	body.SetAddLicenses(addL) // both lists are required, even when empty
	body.SetRemoveLicenses(rm)
	if _, err := b.AssignLicense().Post(ctx, body, nil); err != nil {
		return translate("assign licences", err)
	}
	return nil
}

// LicenseDetails lists the user's licences with their service plans.
// Permission: User.Read.All (LicenseAssignment.Read.All also suffices).
//
// Graph: GET /users/{id}/licenseDetails
func (c *Client) LicenseDetails(ctx context.Context, id string) ([]tenant.Licence, error) {
	b, err := c.user(id)
	if err != nil {
		return nil, err
	}
	var out []tenant.Licence
	page, err := b.LicenseDetails().Get(ctx, nil)
	for {
		if err != nil {
			return nil, translate("license details", err)
		}
		for _, d := range page.GetValue() {
			l := tenant.Licence{SKUID: uuidString(d.GetSkuId()), SKUPartNumber: deref(d.GetSkuPartNumber())}
			for _, p := range d.GetServicePlans() {
				if n := deref(p.GetServicePlanName()); n != "" {
					l.ServicePlans = append(l.ServicePlans, n)
				}
			}
			out = append(out, l)
		}
		next, err2 := c.nextLink(page.GetOdataNextLink())
		if err2 != nil || next == "" {
			return out, err2
		}
		page, err = users.NewItemLicenseDetailsRequestBuilder(next, c.adapter).Get(ctx, nil)
	}
}

// SubscribedSKUs lists the tenant's subscriptions with unit counts.
// Permission: LicenseAssignment.Read.All (or Organization.Read.All).
//
// Graph: GET /subscribedSkus
func (c *Client) SubscribedSKUs(ctx context.Context) ([]tenant.SKU, error) {
	var out []tenant.SKU
	page, err := subscribedskus.NewSubscribedSkusRequestBuilderInternal(c.pathParams(), c.adapter).Get(ctx, nil)
	for {
		if err != nil {
			return nil, translate("subscribed skus", err)
		}
		for _, s := range page.GetValue() {
			sku := tenant.SKU{SKUID: uuidString(s.GetSkuId()), SKUPartNumber: deref(s.GetSkuPartNumber()),
				Consumed: int(deref(s.GetConsumedUnits()))}
			if p := s.GetPrepaidUnits(); p != nil {
				sku.Enabled = int(deref(p.GetEnabled()))
			}
			out = append(out, sku)
		}
		next, err2 := c.nextLink(page.GetOdataNextLink())
		if err2 != nil || next == "" {
			return out, err2
		}
		page, err = subscribedskus.NewSubscribedSkusRequestBuilder(next, c.adapter).Get(ctx, nil)
	}
}

// SendMail sends a plain-text message as from (a UPN or id of a mailbox the
// app may send as), without keeping a copy in Sent Items.
// Permission: Mail.Send (scope it with an application access policy).
//
// Graph: POST /users/{id}/sendMail
func (c *Client) SendMail(ctx context.Context, from string, m tenant.Mail) error {
	b, err := c.user(from)
	if err != nil {
		return err
	}
	if len(m.To) == 0 {
		return errors.New("graph: mail has no recipients")
	}
	msg := models.NewMessage()
	msg.SetSubject(&m.Subject)
	body := models.NewItemBody()
	ct := models.TEXT_BODYTYPE
	body.SetContentType(&ct)
	body.SetContent(&m.Body)
	msg.SetBody(body)
	to := make([]models.Recipientable, 0, len(m.To))
	for _, addr := range m.To {
		ea := models.NewEmailAddress()
		ea.SetAddress(&addr)
		r := models.NewRecipient()
		r.SetEmailAddress(ea)
		to = append(to, r)
	}
	msg.SetToRecipients(to)
	req := users.NewItemSendMailPostRequestBody()
	req.SetMessage(msg)
	save := false
	req.SetSaveToSentItems(&save)
	if err := b.SendMail().Post(ctx, req, nil); err != nil {
		return translate("send mail", err)
	}
	return nil
}

// nextLink vets a server-supplied continuation link.
func (c *Client) nextLink(link *string) (string, error) {
	if link == nil || *link == "" {
		return "", nil
	}
	if !c.sameOrigin(*link) {
		return "", fmt.Errorf("graph: refusing @odata.nextLink to another origin: %q", *link)
	}
	return *link, nil
}

func toUser(u models.Userable) tenant.User {
	out := tenant.User{
		ID:                deref(u.GetId()),
		UserPrincipalName: deref(u.GetUserPrincipalName()),
		Mail:              deref(u.GetMail()),
		DisplayName:       deref(u.GetDisplayName()),
		AccountEnabled:    deref(u.GetAccountEnabled()),
		EmployeeID:        deref(u.GetEmployeeId()),
		Department:        deref(u.GetDepartment()),
		UsageLocation:     deref(u.GetUsageLocation()),
		OnPremisesSynced:  deref(u.GetOnPremisesSyncEnabled()),
		ProxyAddresses:    append([]string(nil), u.GetProxyAddresses()...),
	}
	for _, l := range u.GetAssignedLicenses() {
		if s := uuidString(l.GetSkuId()); s != "" {
			out.AssignedSKUs = append(out.AssignedSKUs, s)
		}
	}
	if t := u.GetDeletedDateTime(); t != nil {
		d := t.UTC()
		out.DeletedAt = &d
	}
	return out
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func uuidString(u *uuid.UUID) string {
	if u == nil {
		return ""
	}
	return u.String()
}

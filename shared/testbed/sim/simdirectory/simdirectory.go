// Package simdirectory is the engine's Directory port served by the tenant
// simulator in process, without msgraph-sdk-go: engine tests link it
// instead of package graph, whose SDK makes every test binary that links
// it slow to build.
//
// It is not a shortcut around the simulator. Every call is an HTTP
// request served by the simulator's own handler (sim.Transport), so
// routing, $select, paging, scripted faults, budgets, load throttling and
// realism apply exactly as on the wire; the answers are read with the
// production adapter's rules (package odata: the same $select lists,
// filter literal and error classification), and failures are retried the
// way package graph's Kiota retry handler does (429, 503 and 504, honouring
// Retry-After, at most MaxRetries times). The directorytest conformance
// suite runs against both this client and graph.Client over the
// simulator's TCP listener and holds them to the same answers.
package simdirectory

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/holdfast/holdfast/shared/graph/odata"
	"github.com/holdfast/holdfast/shared/pacing"
	"github.com/holdfast/holdfast/shared/tenant"
)

const (
	defaultMaxRetries = 5
	// Kiota caps retries at 10 and stops once the waits add up to 180 s.
	maxRetriesCap = 10
	maxCumulative = 180 * time.Second
)

// Options configures a Client; the fields mean what they mean in
// graph.Options.
type Options struct {
	// BaseURL is the Graph root including /v1.0; default
	// http://sim.invalid/v1.0 (sim.InProcessHost).
	BaseURL string
	// Transport carries the requests: the simulator's Transport for an
	// in-process directory.
	Transport http.RoundTripper
	// MaxRetries bounds retries on 429/503/504 (default 5, at most 10,
	// negative disables retrying).
	MaxRetries int
	// RetryDelay is the backoff base when an answer has no Retry-After
	// (default 2 s, counted in whole seconds as Kiota does).
	RetryDelay time.Duration
	// Pacing, when set, picks the limiter each request waits for.
	Pacing pacing.Router
}

// Client is the Directory port over the simulator. It is safe for
// concurrent use.
type Client struct {
	base       *url.URL
	http       *http.Client
	maxRetries int
	retry      bool
	delaySecs  int
	calls      atomic.Int64
}

// New returns a Client for opts.
func New(opts Options) (*Client, error) {
	raw := strings.TrimRight(opts.BaseURL, "/")
	if raw == "" {
		raw = "http://sim.invalid/v1.0"
	}
	base, err := url.Parse(raw)
	if err != nil || base.Host == "" {
		return nil, fmt.Errorf("simdirectory: base URL %q must be absolute", raw)
	}
	if opts.Transport == nil {
		return nil, errors.New("simdirectory: a transport is required (sim.Transport)")
	}
	c := &Client{base: base, maxRetries: opts.MaxRetries, retry: true}
	switch {
	case c.maxRetries < 0:
		c.retry = false
	case c.maxRetries == 0:
		c.maxRetries = defaultMaxRetries
	case c.maxRetries > maxRetriesCap:
		c.maxRetries = maxRetriesCap
	}
	switch d := opts.RetryDelay; {
	case d <= 0:
		c.delaySecs = 2
	case d < time.Second:
		c.delaySecs = 1
	default:
		c.delaySecs = int(d / time.Second)
	}
	rt := opts.Transport
	if opts.Pacing != nil {
		rt = pacing.Transport(rt, opts.Pacing)
	}
	c.http = &http.Client{Transport: counting{next: rt, n: &c.calls}, Timeout: 100 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return c, nil
}

// Calls returns the number of requests sent so far, retries included.
func (c *Client) Calls() int64 { return c.calls.Load() }

type counting struct {
	next http.RoundTripper
	n    *atomic.Int64
}

func (t counting) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	return t.next.RoundTrip(r)
}

// GetUser reads one user by object id or UPN.
func (c *Client) GetUser(ctx context.Context, idOrUPN string) (tenant.User, error) {
	if strings.TrimSpace(idOrUPN) == "" {
		return tenant.User{}, errors.New("graph: empty user id")
	}
	var u user
	if err := c.do(ctx, "get user", http.MethodGet, c.url("users/"+url.PathEscape(idOrUPN), sel(odata.UserFields())), nil, &u); err != nil {
		return tenant.User{}, err
	}
	return u.tenant(), nil
}

// FindUserByEmployeeID returns the one active user whose employeeId equals
// employeeID (ErrNotFound for none, ErrConflict for several).
func (c *Client) FindUserByEmployeeID(ctx context.Context, employeeID string) (tenant.User, error) {
	lit, err := odata.EmployeeIDLiteral(employeeID)
	if err != nil {
		return tenant.User{}, err
	}
	q := sel(odata.UserFields())
	q.Set("$filter", "employeeId eq "+lit)
	q.Set("$top", "2") // enough to tell "one" from "several"
	var page userPage
	if err := c.do(ctx, "find user by employeeId", http.MethodGet, c.url("users", q), nil, &page); err != nil {
		return tenant.User{}, err
	}
	switch len(page.Value) {
	case 0:
		return tenant.User{}, odata.NoMatch()
	case 1:
		return page.Value[0].tenant(), nil
	}
	return tenant.User{}, odata.AmbiguousMatch()
}

// GetDeletedUser reads a user from the directory recycle bin.
func (c *Client) GetDeletedUser(ctx context.Context, id string) (tenant.User, error) {
	if strings.TrimSpace(id) == "" {
		return tenant.User{}, errors.New("graph: empty user id")
	}
	var u user
	err := c.do(ctx, "get deleted user", http.MethodGet,
		c.url("directory/deletedItems/"+url.PathEscape(id)+"/microsoft.graph.user", sel(odata.DeletedUserFields())), nil, &u)
	if err != nil {
		return tenant.User{}, err
	}
	return u.tenant(), nil
}

// RestoreDeletedUser restores a soft-deleted user with
// autoReconcileProxyConflict and returns it. Like graph.Client it reads
// the user from the restore answer when that is typed as a user, and
// reads it afresh otherwise.
func (c *Client) RestoreDeletedUser(ctx context.Context, id string) (tenant.User, error) {
	if strings.TrimSpace(id) == "" {
		return tenant.User{}, errors.New("graph: empty user id")
	}
	body, _ := json.Marshal(map[string]bool{"autoReconcileProxyConflict": true})
	var u user
	if err := c.do(ctx, "restore deleted user", http.MethodPost,
		c.url("directory/deletedItems/"+url.PathEscape(id)+"/restore", nil), body, &u); err != nil {
		return tenant.User{}, err
	}
	if u.Type == "#microsoft.graph.user" && u.UPN != nil {
		return u.tenant(), nil
	}
	return c.GetUser(ctx, id)
}

// SetAccountEnabled enables or disables sign-in.
func (c *Client) SetAccountEnabled(ctx context.Context, id string, enabled bool) error {
	if strings.TrimSpace(id) == "" {
		return errors.New("graph: empty user id")
	}
	body, _ := json.Marshal(map[string]any{"accountEnabled": enabled})
	return c.do(ctx, "set accountEnabled", http.MethodPatch, c.url("users/"+url.PathEscape(id), nil), body, nil)
}

// AssignLicenses adds and removes licences by skuId GUID in one call.
func (c *Client) AssignLicenses(ctx context.Context, id string, add, remove []string) error {
	if strings.TrimSpace(id) == "" {
		return errors.New("graph: empty user id")
	}
	type addL struct {
		DisabledPlans []string `json:"disabledPlans"`
		SkuID         string   `json:"skuId"`
	}
	req := struct {
		AddLicenses    []addL   `json:"addLicenses"`
		RemoveLicenses []string `json:"removeLicenses"`
	}{AddLicenses: []addL{}, RemoveLicenses: []string{}} // both are required, even when empty
	for _, s := range add {
		sku, err := uuid.Parse(s)
		if err != nil {
			return fmt.Errorf("graph: skuId %q: %w", s, err)
		}
		req.AddLicenses = append(req.AddLicenses, addL{DisabledPlans: []string{}, SkuID: sku.String()})
	}
	for _, s := range remove {
		sku, err := uuid.Parse(s)
		if err != nil {
			return fmt.Errorf("graph: skuId %q: %w", s, err)
		}
		req.RemoveLicenses = append(req.RemoveLicenses, sku.String())
	}
	body, _ := json.Marshal(req)
	return c.do(ctx, "assign licences", http.MethodPost, c.url("users/"+url.PathEscape(id)+"/assignLicense", nil), body, nil)
}

// SubscribedSKUs lists the tenant's subscriptions with unit counts.
func (c *Client) SubscribedSKUs(ctx context.Context) ([]tenant.SKU, error) {
	var out []tenant.SKU
	next := c.url("subscribedSkus", nil)
	for next != "" {
		var page struct {
			Value []struct {
				SkuID         *string `json:"skuId"`
				SkuPartNumber *string `json:"skuPartNumber"`
				ConsumedUnits *int    `json:"consumedUnits"`
				PrepaidUnits  *struct {
					Enabled *int `json:"enabled"`
				} `json:"prepaidUnits"`
			} `json:"value"`
			NextLink string `json:"@odata.nextLink"`
		}
		if err := c.do(ctx, "subscribed skus", http.MethodGet, next, nil, &page); err != nil {
			return nil, err
		}
		for _, s := range page.Value {
			sku := tenant.SKU{SKUID: guid(s.SkuID), SKUPartNumber: deref(s.SkuPartNumber), Consumed: deref(s.ConsumedUnits)}
			if s.PrepaidUnits != nil {
				sku.Enabled = deref(s.PrepaidUnits.Enabled)
			}
			out = append(out, sku)
		}
		var err error
		if next, err = c.nextLink(page.NextLink); err != nil {
			return out, err
		}
	}
	return out, nil
}

// ListUsers calls fn for every user, following @odata.nextLink. An error
// from fn stops the listing and is returned as is.
func (c *Client) ListUsers(ctx context.Context, fn func(tenant.User) error) error {
	q := sel(odata.UserFields())
	q.Set("$top", strconv.Itoa(odata.PageSize))
	return c.eachUser(ctx, "list users", c.url("users", q), fn)
}

// ListDeletedUsers calls fn for every user in the recycle bin.
func (c *Client) ListDeletedUsers(ctx context.Context, fn func(tenant.User) error) error {
	q := sel(odata.DeletedUserFields())
	q.Set("$top", strconv.Itoa(odata.PageSize))
	return c.eachUser(ctx, "list deleted users", c.url("directory/deletedItems/microsoft.graph.user", q), fn)
}

func (c *Client) eachUser(ctx context.Context, what, next string, fn func(tenant.User) error) error {
	for next != "" {
		var page userPage
		if err := c.do(ctx, what, http.MethodGet, next, nil, &page); err != nil {
			return err
		}
		for _, u := range page.Value {
			if err := fn(u.tenant()); err != nil {
				return err
			}
		}
		var err error
		if next, err = c.nextLink(page.NextLink); err != nil {
			return err
		}
	}
	return nil
}

// UsersDelta runs one round of GET /users/delta, as graph.Client does:
// from the start when link is empty, else from a previous round's
// deltaLink; it calls fn for every entry and returns the round's
// deltaLink. An expired link yields an error wrapping
// tenant.ErrDeltaExpired.
func (c *Client) UsersDelta(ctx context.Context, link string, fn func(tenant.DeltaUser) error) (string, error) {
	next := link
	if next == "" {
		next = c.url("users/delta()", sel(odata.UserFields()))
	} else if _, err := c.nextLink(link); err != nil {
		return "", fmt.Errorf("graph: refusing deltaLink to another origin: %q", link)
	}
	for {
		var page struct {
			userPage
			DeltaLink string `json:"@odata.deltaLink"`
		}
		if err := c.do(ctx, "users delta", http.MethodGet, next, nil, &page); err != nil {
			return "", err
		}
		for _, u := range page.Value {
			d := tenant.DeltaUser{User: u.tenant()}
			if u.Removed != nil {
				d.Removed = removedReason(u.Removed)
			}
			if err := fn(d); err != nil {
				return "", err
			}
		}
		if page.DeltaLink != "" {
			if _, err := c.nextLink(page.DeltaLink); err != nil {
				return "", fmt.Errorf("graph: refusing deltaLink to another origin: %q", page.DeltaLink)
			}
			return page.DeltaLink, nil
		}
		var err error
		if next, err = c.nextLink(page.NextLink); err != nil {
			return "", err
		}
		if next == "" {
			return "", errors.New("graph: users delta page has neither nextLink nor deltaLink")
		}
	}
}

// removedReason reads @removed.reason; anything unreadable counts as
// "deleted" (the stronger claim), as in graph.Client.
func removedReason(raw json.RawMessage) string {
	var r struct {
		Reason string `json:"reason"`
	}
	if json.Unmarshal(raw, &r) != nil || r.Reason == "" {
		return "deleted"
	}
	return r.Reason
}

// nextLink vets a server-supplied continuation link: same scheme and host
// as the base URL, as graph.Client requires.
func (c *Client) nextLink(link string) (string, error) {
	if link == "" {
		return "", nil
	}
	u, err := url.Parse(link)
	if err != nil || !strings.EqualFold(u.Scheme, c.base.Scheme) || !strings.EqualFold(u.Host, c.base.Host) {
		return "", fmt.Errorf("graph: refusing @odata.nextLink to another origin: %q", link)
	}
	return link, nil
}

func sel(fields []string) url.Values {
	return url.Values{"$select": {strings.Join(fields, ",")}}
}

// url joins the base URL, an already escaped path and a query.
func (c *Client) url(escapedPath string, q url.Values) string {
	u := strings.TrimRight(c.base.String(), "/") + "/" + escapedPath
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// do sends one request, retrying as Kiota's retry handler does, and
// decodes a success into out (when not nil) or an error answer into a
// *tenant.ServiceError.
func (c *Client) do(ctx context.Context, op, method, target string, body []byte, out any) error {
	var cumulative time.Duration
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("graph: %s: %w", op, err)
		}
		req.Header.Set("Accept", "application/json")
		// As msgraph-sdk-go's telemetry handler, one id per call; the
		// caller's when it gave one (tenant.WithRequestID).
		rid := tenant.RequestID(ctx)
		if rid == "" {
			rid = uuid.NewString()
		}
		req.Header.Set("client-request-id", rid)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		} else {
			req.Body, req.ContentLength = http.NoBody, 0
		}
		if attempt > 0 {
			req.Header.Set("Retry-Attempt", strconv.Itoa(attempt))
		}
		res, err := c.http.Do(req)
		if err != nil {
			return fmt.Errorf("graph: %s: %w", op, err)
		}
		raw, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
		_ = res.Body.Close()
		if err != nil {
			return fmt.Errorf("graph: %s: reading the answer: %w", op, err)
		}
		if retriable(res.StatusCode) && c.retry && attempt < c.maxRetries && cumulative < maxCumulative {
			d := c.delay(res.Header.Get("Retry-After"), attempt+1)
			cumulative += d
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("graph: %s: %w", op, ctx.Err())
			case <-t.C:
			}
			continue
		}
		if res.StatusCode >= 400 {
			var e struct {
				Error struct {
					Code    string `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			_ = json.Unmarshal(raw, &e)
			return odata.Error(res.StatusCode, e.Error.Code, e.Error.Message)
		}
		if out == nil || len(bytes.TrimSpace(raw)) == 0 {
			return nil
		}
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("graph: %s: decoding the answer: %w", op, err)
		}
		return nil
	}
}

func retriable(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout
}

// delay is Kiota's: Retry-After in whole seconds when present, otherwise
// an exponential backoff from the base delay plus up to a second of jitter.
func (c *Client) delay(retryAfter string, n int) time.Duration {
	if retryAfter != "" {
		if v, err := strconv.ParseFloat(retryAfter, 64); err == nil {
			return time.Duration(v) * time.Second
		}
		if t, err := time.Parse(time.RFC1123, retryAfter); err == nil {
			return time.Until(t)
		}
	}
	return time.Duration(c.delaySecs*(1<<(n-1)))*time.Second + time.Duration(rand.Float64()*1000)*time.Millisecond
}

type userPage struct {
	Value    []user `json:"value"`
	NextLink string `json:"@odata.nextLink"`
}

// user is a Graph user as the $select lists return it.
type user struct {
	Type             string     `json:"@odata.type"`
	ID               *string    `json:"id"`
	UPN              *string    `json:"userPrincipalName"`
	Mail             *string    `json:"mail"`
	DisplayName      *string    `json:"displayName"`
	AccountEnabled   *bool      `json:"accountEnabled"`
	EmployeeID       *string    `json:"employeeId"`
	Department       *string    `json:"department"`
	UsageLocation    *string    `json:"usageLocation"`
	OnPremisesSynced *bool      `json:"onPremisesSyncEnabled"`
	ProxyAddresses   []string   `json:"proxyAddresses"`
	DeletedDateTime  *time.Time `json:"deletedDateTime"`
	// Removed is a users delta entry's @removed annotation.
	Removed          json.RawMessage `json:"@removed"`
	AssignedLicenses []struct {
		SkuID *string `json:"skuId"`
	} `json:"assignedLicenses"`
}

func (u user) tenant() tenant.User {
	out := tenant.User{
		ID: deref(u.ID), UserPrincipalName: deref(u.UPN), Mail: deref(u.Mail), DisplayName: deref(u.DisplayName),
		AccountEnabled: deref(u.AccountEnabled), EmployeeID: deref(u.EmployeeID), Department: deref(u.Department),
		UsageLocation: deref(u.UsageLocation), OnPremisesSynced: deref(u.OnPremisesSynced),
		ProxyAddresses: append([]string(nil), u.ProxyAddresses...),
	}
	for _, l := range u.AssignedLicenses {
		if s := guid(l.SkuID); s != "" {
			out.AssignedSKUs = append(out.AssignedSKUs, s)
		}
	}
	if u.DeletedDateTime != nil {
		d := u.DeletedDateTime.UTC()
		out.DeletedAt = &d
	}
	return out
}

// guid renders a GUID the way the SDK's uuid.UUID does (lower case); an
// unparseable one is dropped, as the SDK would fail to read it.
func guid(s *string) string {
	if s == nil {
		return ""
	}
	u, err := uuid.Parse(*s)
	if err != nil {
		return ""
	}
	return u.String()
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

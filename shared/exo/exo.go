// Package exo is holdfast's Exchange Online adapter. It runs cmdlets through
// the admin API the ExchangeOnlineManagement V3 module itself uses,
// POST {base}/adminapi/beta/{tenant}/InvokeCommand, and translates mailbox,
// hold and restore-request results into the tenant vocabulary.
//
// That endpoint is undocumented (the documented v2.0 Admin API cannot set
// Litigation Hold or run restore requests), so the request shape follows the
// public callers listed in the reference notes: a CmdletInput JSON envelope
// with parameters as JSON values (never text), the APP:SystemMailbox anchor,
// and @odata.nextLink paging that re-POSTs the same body.
//
// Requests go through an azcore pipeline: a bearer token for
// https://outlook.office365.com/.default from an azcore.TokenCredential
// (app permission Exchange.ManageAsApp plus an Exchange RBAC role), and a
// retry policy for 408/429/503/504 that honours Retry-After. When retries
// run out on a 429, or Retry-After asks for more than a minute (better
// rescheduled by the caller than slept through inside a function
// invocation), the error wraps tenant.ErrThrottled.
package exo

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/google/uuid"

	"github.com/holdfast/holdfast/shared/keepalive"
	"github.com/holdfast/holdfast/shared/pacing"
	"github.com/holdfast/holdfast/shared/tenant"
)

// Scope is the only token scope the client asks for.
const Scope = "https://outlook.office365.com/.default"

// DefaultBaseURL is Exchange Online in the global cloud.
const DefaultBaseURL = "https://outlook.office365.com"

// systemMailbox is the app-only routing anchor used by CIPP.
const systemMailbox = "SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}"

const (
	defaultMaxRetries = 5    // the EXO module's DefaultMaxRetryTimes
	defaultPageSize   = 1000 // the EXO module's default and the service maximum
	maxPageSize       = 1000
	// requestTimeout matches the module: one minute over the service's
	// 15-minute cmdlet timeout.
	requestTimeout = 16 * time.Minute
)

// Options configures a Client.
type Options struct {
	// BaseURL is the service root, e.g. https://outlook.office365.com or
	// http://127.0.0.1:PORT. Empty means DefaultBaseURL.
	BaseURL string
	// TenantID is the tenant GUID or its *.onmicrosoft.com domain. Required.
	TenantID string
	// Credential obtains tokens for Scope. Nil means anonymous, which is
	// allowed only when BaseURL's host is a loopback address (the simulator).
	Credential azcore.TokenCredential
	// HTTPClient sends the requests; optional.
	HTTPClient *http.Client
	// MaxRetries bounds retries on 408/429/503/504 (default 5, negative
	// disables retrying).
	MaxRetries int
	// RetryDelay is the backoff base when an answer has no Retry-After
	// (default 2 s, doubled per retry as the EXO module does).
	RetryDelay time.Duration
	// PageSize is sent as Prefer: odata.maxpagesize (1-1000, default 1000).
	PageSize int
	// Pacer, when set, paces every attempt to the tenant's budget; one
	// per instance, shared by every invocation (shared/pacing).
	Pacer *pacing.Limiter
	// SecureStringKey encrypts SecureString parameters (-Password); see
	// package securestring. Nil: cmdlets that need one return
	// tenant.ErrNoSecureStringKey without calling the service.
	SecureStringKey *rsa.PublicKey
}

// Client runs Exchange Online cmdlets. It is safe for concurrent use.
type Client struct {
	pipeline runtime.Pipeline
	endpoint string // .../InvokeCommand
	base     *url.URL
	anchor   string
	pageSize int
	calls    *atomic.Int64
	ssKey    *rsa.PublicKey
}

var (
	tenantRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$`)
	cmdletRE = regexp.MustCompile(`^[A-Z][A-Za-z]+-[A-Z][A-Za-z0-9]+$`)
)

// New returns a Client for opts.
func New(opts Options) (*Client, error) {
	if !tenantRE.MatchString(opts.TenantID) {
		return nil, fmt.Errorf("exo: tenant id %q must be a GUID or domain name", opts.TenantID)
	}
	raw := strings.TrimRight(opts.BaseURL, "/")
	if raw == "" {
		raw = DefaultBaseURL
	}
	base, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("exo: base URL: %w", err)
	}
	if base.Scheme != "https" && base.Scheme != "http" || base.Host == "" {
		return nil, fmt.Errorf("exo: base URL %q must be absolute http(s)", raw)
	}
	loopback := isLoopback(base.Hostname())
	if base.Scheme == "http" && !loopback {
		return nil, fmt.Errorf("exo: plain http is only allowed for loopback hosts, not %q", base.Host)
	}
	if opts.Credential == nil && !loopback {
		return nil, errors.New("exo: a credential is required for non-loopback hosts")
	}

	pageSize := opts.PageSize
	switch {
	case pageSize <= 0:
		pageSize = defaultPageSize
	case pageSize > maxPageSize:
		pageSize = maxPageSize
	}
	retries := opts.MaxRetries
	switch {
	case retries == 0:
		retries = defaultMaxRetries
	case retries < 0:
		retries = -1 // azcore: negative means no retries
	}

	delay := opts.RetryDelay
	if delay <= 0 {
		delay = 2 * time.Second // module backoff: 2 s × 2^retry
	}
	calls := new(atomic.Int64)
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: requestTimeout, Transport: keepalive.Transport(raw)}
	}
	var perRetry []policy.Policy
	if opts.Pacer != nil {
		perRetry = append(perRetry, pacing.Policy(opts.Pacer))
	}
	if opts.Credential != nil {
		perRetry = append(perRetry, runtime.NewBearerTokenPolicy(opts.Credential, []string{Scope},
			&policy.BearerTokenOptions{InsecureAllowCredentialWithHTTP: loopback}))
	}
	pl := runtime.NewPipeline("holdfast/exo", "v1", runtime.PipelineOptions{PerRetry: perRetry}, &policy.ClientOptions{
		Retry: policy.RetryOptions{
			MaxRetries: int32(retries),
			RetryDelay: delay,
			StatusCodes: []int{
				http.StatusRequestTimeout, http.StatusTooManyRequests,
				http.StatusServiceUnavailable, http.StatusGatewayTimeout,
			},
		},
		Transport: countingTransport{hc: hc, n: calls},
	})
	return &Client{
		pipeline: pl,
		endpoint: base.String() + "/adminapi/beta/" + url.PathEscape(opts.TenantID) + "/InvokeCommand",
		base:     base,
		anchor:   "APP:" + systemMailbox + "@" + opts.TenantID,
		pageSize: pageSize,
		calls:    calls,
		ssKey:    opts.SecureStringKey,
	}, nil
}

// Calls returns the number of HTTP requests sent so far, retries included.
func (c *Client) Calls() int64 { return c.calls.Load() }

type countingTransport struct {
	hc *http.Client
	n  *atomic.Int64
}

func (t countingTransport) Do(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	return t.hc.Do(r)
}

// cmdletInput is the request envelope.
type cmdletInput struct {
	CmdletInput struct {
		CmdletName string         `json:"CmdletName"`
		Parameters map[string]any `json:"Parameters"`
	} `json:"CmdletInput"`
}

// page is one InvokeCommand response.
type page struct {
	Value    []json.RawMessage `json:"value"`
	NextLink string            `json:"@odata.nextLink"`
}

// Invoke runs cmdlet with params (JSON values; switches as true) and calls
// fn for each result object across all pages. An error from fn stops the
// run and is returned as is.
func (c *Client) Invoke(ctx context.Context, cmdlet string, params map[string]any, fn func(json.RawMessage) error) error {
	return c.invoke(ctx, cmdlet, params, nil, fn)
}

func (c *Client) invoke(ctx context.Context, cmdlet string, params map[string]any, sel []string, fn func(json.RawMessage) error) error {
	if !cmdletRE.MatchString(cmdlet) {
		return fmt.Errorf("exo: %q is not a cmdlet name", cmdlet)
	}
	var in cmdletInput
	in.CmdletInput.CmdletName = cmdlet
	in.CmdletInput.Parameters = params
	if in.CmdletInput.Parameters == nil {
		in.CmdletInput.Parameters = map[string]any{}
	}
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("exo: %s: encoding parameters: %w", cmdlet, err)
	}
	link := c.endpoint
	if len(sel) > 0 {
		link += "?" + url.Values{"$select": {strings.Join(sel, ",")}}.Encode()
	}
	for link != "" {
		p, err := c.post(ctx, link, cmdlet, body)
		if err != nil {
			return err
		}
		for _, v := range p.Value {
			if err := fn(v); err != nil {
				return err
			}
		}
		link = p.NextLink
		if link != "" && !c.sameOrigin(link) {
			return fmt.Errorf("exo: %s: refusing @odata.nextLink to another origin: %q", cmdlet, link)
		}
	}
	return nil
}

// newRequest builds one InvokeCommand POST with the headers every caller
// of the admin API sends (docs/contracts.md, "Exchange").
func (c *Client) newRequest(ctx context.Context, link, cmdlet string, body []byte) (*policy.Request, error) {
	req, err := runtime.NewRequest(ctx, http.MethodPost, link)
	if err != nil {
		return nil, fmt.Errorf("exo: %s: %w", cmdlet, err)
	}
	h := req.Raw().Header
	h.Set("Accept", "application/json")
	h.Set("X-CmdletName", cmdlet)
	h.Set("X-AnchorMailbox", c.anchor)
	h.Set("Prefer", "odata.maxpagesize="+strconv.Itoa(c.pageSize))
	h.Set("X-ResponseFormat", "json")
	id := tenant.RequestID(ctx)
	if id == "" {
		id = uuid.NewString()
	}
	h.Set("client-request-id", id) // one id per call, kept across retries
	if err := req.SetBody(streaming.NopCloser(bytes.NewReader(body)), "application/json; charset=utf-8"); err != nil {
		return nil, fmt.Errorf("exo: %s: %w", cmdlet, err)
	}
	return req, nil
}

func (c *Client) post(ctx context.Context, link, cmdlet string, body []byte) (page, error) {
	req, err := c.newRequest(ctx, link, cmdlet, body)
	if err != nil {
		return page{}, err
	}
	resp, err := c.pipeline.Do(req)
	if err != nil {
		return page{}, fmt.Errorf("exo: %s: %w", cmdlet, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return page{}, fmt.Errorf("exo: %s: reading response: %w", cmdlet, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return page{}, parseError(resp.StatusCode, resp.Header, data)
	}
	var p page
	if len(bytes.TrimSpace(data)) == 0 {
		return p, nil // 204 or an empty 200 from a Set- cmdlet
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return page{}, fmt.Errorf("exo: %s: decoding response: %w", cmdlet, err)
	}
	return p, nil
}

func (c *Client) sameOrigin(link string) bool {
	u, err := url.Parse(link)
	return err == nil && strings.EqualFold(u.Scheme, c.base.Scheme) && strings.EqualFold(u.Host, c.base.Host)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// RawAnswer is an InvokeCommand answer as it arrived, for `holdfast probe`.
type RawAnswer struct {
	Status int
	Header http.Header
	Body   []byte
}

// ReadRaw runs one read-only cmdlet (Get-*) and returns its first page
// untouched (any status), through the same pipeline as every other call.
// Any other verb is refused before anything is sent: the probe must not
// be able to change the tenant.
func (c *Client) ReadRaw(ctx context.Context, cmdlet string, params map[string]any, sel []string) (RawAnswer, error) {
	if !cmdletRE.MatchString(cmdlet) || !strings.HasPrefix(cmdlet, "Get-") {
		return RawAnswer{}, fmt.Errorf("exo: %q is not a read-only (Get-) cmdlet", cmdlet)
	}
	var in cmdletInput
	in.CmdletInput.CmdletName = cmdlet
	in.CmdletInput.Parameters = params
	if in.CmdletInput.Parameters == nil {
		in.CmdletInput.Parameters = map[string]any{}
	}
	body, err := json.Marshal(in)
	if err != nil {
		return RawAnswer{}, fmt.Errorf("exo: %s: encoding parameters: %w", cmdlet, err)
	}
	link := c.endpoint
	if len(sel) > 0 {
		link += "?" + url.Values{"$select": {strings.Join(sel, ",")}}.Encode()
	}
	req, err := c.newRequest(ctx, link, cmdlet, body)
	if err != nil {
		return RawAnswer{}, err
	}
	resp, err := c.pipeline.Do(req)
	if err != nil {
		return RawAnswer{}, fmt.Errorf("exo: %s: %w", cmdlet, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return RawAnswer{}, fmt.Errorf("exo: %s: reading response: %w", cmdlet, err)
	}
	return RawAnswer{Status: resp.StatusCode, Header: resp.Header.Clone(), Body: data}, nil
}

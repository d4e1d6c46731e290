// Package graph is holdfast's Microsoft Graph adapter: the users, deleted
// users, licences and mail calls it needs, made through the real
// msgraph-sdk-go request builders and translated into the tenant vocabulary.
//
// Only subpackages of msgraph-sdk-go are imported (users, directory,
// subscribedskus, models, models/odataerrors); the root package would pull
// in every request builder Graph has and add minutes to cold builds. The
// request adapter is assembled from msgraph-sdk-go-core and the Kiota JSON
// serializers instead, which is what the root constructor does internally.
//
// The client authenticates with an azcore.TokenCredential (azidentity
// managed identity in production) for the scope
// https://graph.microsoft.com/.default only; the application permissions are
// granted in Entra and listed on each method. Throttling (429) and transient
// 503/504 answers are retried by the Kiota retry middleware, which honours
// Retry-After; when retries run out on a 429 the error wraps
// tenant.ErrThrottled.
package graph

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	absauth "github.com/microsoft/kiota-abstractions-go/authentication"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	kauth "github.com/microsoft/kiota-authentication-azure-go"
	khttp "github.com/microsoft/kiota-http-go"
	kjson "github.com/microsoft/kiota-serialization-json-go"
	core "github.com/microsoftgraph/msgraph-sdk-go-core"

	"github.com/holdfast/holdfast/shared/graph/odata"
	"github.com/holdfast/holdfast/shared/keepalive"
	"github.com/holdfast/holdfast/shared/pacing"
	"github.com/holdfast/holdfast/shared/tenant"
)

// Scope is the only token scope the client asks for.
const Scope = "https://graph.microsoft.com/.default"

// DefaultBaseURL is Graph v1.0 in the global cloud.
const DefaultBaseURL = "https://graph.microsoft.com/v1.0"

const (
	defaultMaxRetries = 5
	// kiota-http-go caps retries at 10 whatever it is told.
	maxRetriesCap       = 10
	pageSize      int32 = odata.PageSize
)

// Options configures a Client.
type Options struct {
	// BaseURL is the Graph root including the version segment, e.g.
	// https://graph.microsoft.com/v1.0 or http://127.0.0.1:PORT/v1.0.
	// Empty means DefaultBaseURL.
	BaseURL string
	// Credential obtains tokens for Scope. Nil means anonymous, which is
	// allowed only when BaseURL's host is a loopback address (the simulator).
	Credential azcore.TokenCredential
	// HTTPClient supplies the transport and timeout; optional.
	HTTPClient *http.Client
	// MaxRetries bounds retries on 429/503/504 (default 5, at most 10,
	// negative disables retrying).
	MaxRetries int
	// RetryDelay is the backoff base when an answer has no Retry-After
	// (default 2 s). The Kiota retry handler counts whole seconds: anything
	// shorter is 1 s.
	RetryDelay time.Duration
	// Pacing, when set, picks the limiter each request waits for (one per
	// budget and instance, shared by every invocation; shared/pacing).
	Pacing pacing.Router
}

// Client calls Microsoft Graph. It is safe for concurrent use.
type Client struct {
	adapter *core.GraphRequestAdapterBase
	baseURL *url.URL
	calls   *atomic.Int64
}

// New returns a Client for opts.
func New(opts Options) (*Client, error) {
	raw := strings.TrimRight(opts.BaseURL, "/")
	if raw == "" {
		raw = DefaultBaseURL
	}
	base, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("graph: base URL: %w", err)
	}
	if base.Scheme != "https" && base.Scheme != "http" || base.Host == "" {
		return nil, fmt.Errorf("graph: base URL %q must be absolute http(s)", raw)
	}
	loopback := isLoopback(base.Hostname())
	if base.Scheme == "http" && !loopback {
		return nil, fmt.Errorf("graph: plain http is only allowed for loopback hosts, not %q", base.Host)
	}

	var auth absauth.AuthenticationProvider
	if opts.Credential == nil {
		if !loopback {
			return nil, errors.New("graph: a credential is required for non-loopback hosts")
		}
		auth = &absauth.AnonymousAuthenticationProvider{}
	} else {
		// Allow only the configured host so a token never follows a link
		// elsewhere.
		auth, err = kauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(
			opts.Credential, []string{Scope}, []string{base.Hostname()})
		if err != nil {
			return nil, fmt.Errorf("graph: auth provider: %w", err)
		}
	}

	calls := new(atomic.Int64)
	httpClient := newHTTPClient(opts, calls)

	// Per-client registries rather than the SDK's package-level defaults,
	// which only the root package's constructor fills in.
	parse := absser.NewParseNodeFactoryRegistry()
	parse.ContentTypeAssociatedFactories["application/json"] = kjson.NewJsonParseNodeFactory()
	write := absser.NewSerializationWriterFactoryRegistry()
	write.ContentTypeAssociatedFactories["application/json"] = kjson.NewJsonSerializationWriterFactory()

	adapter, err := core.NewGraphRequestAdapterBaseWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
		auth, clientOptions(), parse, write, httpClient)
	if err != nil {
		return nil, fmt.Errorf("graph: request adapter: %w", err)
	}
	adapter.SetBaseUrl(base.String())
	return &Client{adapter: adapter, baseURL: base, calls: calls}, nil
}

// Calls returns the number of HTTP requests sent so far, retries included.
//
// Graph: none
func (c *Client) Calls() int64 { return c.calls.Load() }

func clientOptions() core.GraphClientOptions {
	return core.GraphClientOptions{GraphServiceLibraryVersion: "holdfast"}
}

// newHTTPClient builds the Kiota middleware pipeline in a fixed order.
// khttp.GetDefaultMiddlewares builds it from a map, so its order varies from
// run to run; and its compression handler gzips request bodies, which buys
// nothing for the few hundred bytes holdfast sends.
func newHTTPClient(opts Options, calls *atomic.Int64) *http.Client {
	var hc http.Client
	if opts.HTTPClient != nil {
		hc = *opts.HTTPClient
	}
	if hc.Timeout == 0 {
		hc.Timeout = 100 * time.Second
	}
	parent := hc.Transport
	if parent == nil {
		parent = keepalive.Transport(opts.BaseURL)
	}
	if opts.Pacing != nil {
		parent = pacing.Transport(parent, opts.Pacing)
	}

	retries := opts.MaxRetries
	retry := true
	switch {
	case retries < 0:
		retry = false
	case retries == 0:
		retries = defaultMaxRetries
	case retries > maxRetriesCap:
		retries = maxRetriesCap
	}
	co := clientOptions()
	middleware := []khttp.Middleware{
		core.NewGraphTelemetryHandler(&co), // SdkVersion + client-request-id
		requestIDHandler{},                 // the caller's client-request-id instead
		khttp.NewRetryHandlerWithOptions(khttp.RetryHandlerOptions{
			MaxRetries:   retries,
			DelaySeconds: delaySeconds(opts.RetryDelay), // used only when Retry-After is absent
			ShouldRetry: func(time.Duration, int, *http.Request, *http.Response) bool {
				return retry
			},
		}),
		khttp.NewRedirectHandler(),
		khttp.NewParametersNameDecodingHandler(),
		khttp.NewUserAgentHandler(),
	}
	hc.Transport = khttp.NewCustomTransportWithParentTransport(countingTransport{next: parent, n: calls}, middleware...)
	// The redirect middleware follows redirects (and drops Authorization on
	// a host change); net/http must not follow them too.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &hc
}

func delaySeconds(d time.Duration) int {
	switch {
	case d <= 0:
		return 2
	case d < time.Second:
		return 1
	}
	return int(d / time.Second)
}

// requestIDHandler replaces the client-request-id the telemetry handler
// picked with the caller's (tenant.WithRequestID), which the engine also
// writes into the audit row of the write.
type requestIDHandler struct{}

func (requestIDHandler) Intercept(p khttp.Pipeline, i int, req *http.Request) (*http.Response, error) {
	if id := tenant.RequestID(req.Context()); id != "" {
		req.Header.Set("client-request-id", id)
	}
	return p.Next(req, i)
}

// countingTransport counts requests that reach the wire.
type countingTransport struct {
	next http.RoundTripper
	n    *atomic.Int64
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	return t.next.RoundTrip(r)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// sameOrigin reports whether a server-supplied link (an @odata.nextLink)
// points at the configured service, so paging cannot be steered elsewhere.
func (c *Client) sameOrigin(link string) bool {
	u, err := url.Parse(link)
	return err == nil && strings.EqualFold(u.Scheme, c.baseURL.Scheme) && strings.EqualFold(u.Host, c.baseURL.Host)
}

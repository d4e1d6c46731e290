package store

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/holdfast/holdfast/shared/config"
	"github.com/holdfast/holdfast/shared/keepalive"
	"github.com/holdfast/holdfast/shared/ledger"
)

// The Table Storage store is one implementation of the port.
var _ ledger.Store = (*Store)(nil)

// DefaultTablePrefix names the tables holdfastcases, holdfasttimers and
// holdfastrejected.
const DefaultTablePrefix = "holdfast"

// Options configures Open. Give either ConnectionString, or ServiceURL and
// Credential (managed identity in production).
type Options struct {
	// ConnectionString may be UseDevelopmentStorage=true; it is expanded
	// with config.ExpandStorageConnectionString (aztables rejects the
	// shorthand).
	ConnectionString string
	// ServiceURL is the table endpoint, https://<account>.table.core.windows.net.
	ServiceURL string
	Credential azcore.TokenCredential
	// TablePrefix defaults to DefaultTablePrefix; letters and digits,
	// starting with a letter.
	TablePrefix string
	// Counter, if set, counts every HTTP request (retries included).
	Counter *ledger.Counter
	// HTTPClient replaces the default transport.
	HTTPClient *http.Client
}

// Store is the Table Storage repository. It is safe for concurrent use.
type Store struct {
	svc                     *aztables.ServiceClient
	cases, timers, rejected table

	dueQueries, duePages, dueEntities atomic.Int64
}

// QueryStats measures what DueTimers read, i.e. the cost of sweeps.
type QueryStats struct {
	Queries  int64 // DueTimers calls
	Pages    int64 // query pages (HTTP responses) read
	Entities int64 // entities returned by the service
}

// QueryStats returns the DueTimers totals since Open.
func (s *Store) QueryStats() QueryStats {
	return QueryStats{Queries: s.dueQueries.Load(), Pages: s.duePages.Load(), Entities: s.dueEntities.Load()}
}

// Open connects to the table service and creates the tables if missing.
func Open(ctx context.Context, opts Options) (*Store, error) {
	prefix := opts.TablePrefix
	if prefix == "" {
		prefix = DefaultTablePrefix
	}
	if err := validTablePrefix(prefix); err != nil {
		return nil, err
	}

	var endpoint string
	co := &aztables.ClientOptions{}
	// Per retry, not per call: every attempt on the wire is a round trip.
	co.PerRetryPolicies = []policy.Policy{countPolicy{opts.Counter}}

	var svc *aztables.ServiceClient
	var err error
	switch {
	case opts.ConnectionString != "":
		cs := config.ExpandStorageConnectionString(opts.ConnectionString)
		endpoint = connectionStringEndpoint(cs)
		co.Transport = transport(opts.HTTPClient, endpoint)
		svc, err = aztables.NewServiceClientFromConnectionString(cs, co)
	case opts.ServiceURL != "" && opts.Credential != nil:
		endpoint = opts.ServiceURL
		co.Transport = transport(opts.HTTPClient, endpoint)
		svc, err = aztables.NewServiceClient(opts.ServiceURL, opts.Credential, co)
	case opts.ServiceURL != "":
		return nil, errors.New("store: ServiceURL needs a Credential")
	default:
		return nil, errors.New("store: no ConnectionString or ServiceURL")
	}
	if err != nil {
		return nil, fmt.Errorf("store: client: %w", err)
	}

	s := &Store{svc: svc}
	for _, t := range []struct {
		t    *table
		name string
	}{{&s.cases, prefix + "cases"}, {&s.timers, prefix + "timers"}, {&s.rejected, prefix + "rejected"}} {
		*t.t = table{Client: svc.NewClient(t.name), name: t.name}
		if err := s.createTable(ctx, *t.t); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Drop deletes the store's tables. For harnesses that share one Azurite
// between many short runs (Azurite keeps every table in memory); holdfast
// itself never drops its tables.
func (s *Store) Drop(ctx context.Context) error {
	var errs []error
	for _, t := range []table{s.cases, s.timers, s.rejected} {
		if _, err := s.svc.DeleteTable(withOp(ctx, "DeleteTable"), t.name, nil); err != nil && !isCode(err, aztables.ResourceNotFound) {
			errs = append(errs, fmt.Errorf("store: drop %s: %w", t.name, err))
		}
	}
	return errors.Join(errs...)
}

// table is a table client and its name.
type table struct {
	*aztables.Client
	name string
}

func (s *Store) createTable(ctx context.Context, t table) error {
	_, err := s.svc.CreateTable(withOp(ctx, "CreateTable"), t.name, nil)
	if err != nil && !isCode(err, aztables.TableAlreadyExists) {
		return fmt.Errorf("store: create table %s: %w", t.name, err)
	}
	return nil
}

// withTable runs op and, if it failed because the table is gone, creates
// the table and runs op once more. Tables vanish when Azurite restarts (in
// memory) or when an operator deletes one; recreating keeps the store
// usable without a restart of the app. It costs nothing on success.
func (s *Store) withTable(ctx context.Context, t table, op func() error) error {
	err := op()
	if err != nil && s.heal(ctx, t, err) {
		err = op()
	}
	return err
}

// heal reports whether err means t is missing and t was created again.
func (s *Store) heal(ctx context.Context, t table, err error) bool {
	if !tableMissing(err) {
		return false
	}
	return s.createTable(ctx, t) == nil
}

// tableMissing recognizes TableNotFound in the error header and, for
// failed transactions, in the multipart body.
func tableMissing(err error) bool {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return false
	}
	if re.ErrorCode == string(aztables.TableNotFound) {
		return true
	}
	if re.ErrorCode != "" || re.RawResponse == nil {
		return false
	}
	body, perr := runtime.Payload(re.RawResponse)
	if perr != nil {
		return false
	}
	inner, perr := parseBatchResponse(body)
	if perr != nil {
		return false
	}
	for _, r := range inner {
		if r.code == string(aztables.TableNotFound) {
			return true
		}
	}
	return false
}

func validTablePrefix(p string) error {
	// Table names: 3–63 alphanumerics starting with a letter; the longest
	// suffix is "rejected" (8).
	if len(p) > 63-len("rejected") {
		return fmt.Errorf("store: table prefix %q too long", p)
	}
	for i, r := range p {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if !letter && (i == 0 || r < '0' || r > '9') {
			return fmt.Errorf("store: table prefix %q: letters and digits only, starting with a letter", p)
		}
	}
	return nil
}

// connectionStringEndpoint extracts TableEndpoint (or builds it from the
// account name) so the transport can tell Azurite from Azure.
func connectionStringEndpoint(cs string) string {
	var account, suffix string
	for _, p := range strings.Split(cs, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch strings.ToLower(k) {
		case "tableendpoint":
			return v
		case "accountname":
			account = v
		case "endpointsuffix":
			suffix = v
		}
	}
	if suffix == "" {
		suffix = "core.windows.net"
	}
	return "https://" + account + ".table." + suffix
}

// transport returns the caller's client or one that keeps a connection
// per concurrent invocation (package keepalive).
func transport(c *http.Client, endpoint string) policy.Transporter {
	if c != nil {
		return c
	}
	return &http.Client{Transport: keepalive.Transport(endpoint)}
}

// isCode reports whether err is a service error with the given code (from
// the x-ms-error-code header; empty for failed transactions, see Commit).
func isCode(err error, code aztables.TableErrorCode) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.ErrorCode == string(code)
}

func statusOf(err error) int {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

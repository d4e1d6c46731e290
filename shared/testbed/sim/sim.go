// Package sim is the tenant simulator: a local HTTP server that speaks the
// subset of Microsoft Graph v1.0 and of the Exchange Online admin API
// (POST /adminapi/beta/{tenant}/InvokeCommand) that holdfast uses, with the
// services' JSON shapes, error shapes and throttling, and that enforces the
// Microsoft 365 mailbox lifecycle (DESIGN section 1) on a virtual clock.
//
// It is the ground truth of local tests: whether a mailbox that had to be
// kept was purged is a question to Mailboxes(). It plays the directory admin
// too (Admin, POST /_sim/admin) and records the Graph change notifications
// production would receive, in their Event Grid CloudEvents shape (Events).
//
// Lifecycle transitions are evaluated lazily: every API request and every
// control read first applies, in time order and each at its own due time,
// every transition that fell due up to the virtual clock's now. Nothing runs
// in the background, so a test that advances the clock by 40 days and then
// reads sees exactly what the service would show.
//
// The simulator imports nothing from msgraph-sdk-go on purpose: the Graph
// adapter is tested through the real SDK against it, and sharing types would
// hide shape mismatches.
//
// The files are grouped by area, named by prefix: wire_* (HTTP plumbing,
// error shapes, faults and throttling), mailboxes*, restores, users*,
// batch, control* (the /_sim API), plus the core (sim, model, lifecycle)
// and notifications (events, subscriptions, realism); docs/simulator.md
// has the map.
package sim

import (
	crand "crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/clock"
)

// Lifecycle constants of Exchange Online and Entra ID.
const (
	// retentionWindow is the soft-delete window of users (recycle bin) and
	// mailboxes, and the licence grace period.
	retentionWindow = 30 * 24 * time.Hour
	// DefaultHoldPropagation is how long a Litigation Hold takes to protect
	// a mailbox against deletion (Exchange docs: up to 60 minutes).
	DefaultHoldPropagation = 60 * time.Minute
)

// Options configure a Sim.
type Options struct {
	Clock    *clock.Virtual // required
	TenantID string         // GUID; generated from Seed when empty
	Domain   string         // e.g. contoso.test; default contoso.test
	// HoldPropagation: a hold set less than this before a deletion does
	// not protect the mailbox. Default 60m.
	HoldPropagation time.Duration
	Seed            int64 // makes GUIDs, ids and random faults reproducible
	Log             zerolog.Logger
	// AppID is the application id in notification sources
	// (/tenants/<tenant>/applications/<app>); generated when empty.
	AppID string
	// ClientState is the secret the Graph subscription was created with,
	// echoed in every notification; generated when empty (see ClientState).
	ClientState string
}

// Sim is a simulated Microsoft 365 tenant. It is safe for concurrent use.
type Sim struct {
	opts  Options
	clock *clock.Virtual
	log   zerolog.Logger

	mu       sync.Mutex
	rng      *rand.Rand // ids; guarded by mu
	faultRng *rand.Rand // fault draws; guarded by mu
	realRng  *rand.Rand // realism draws (delays, lags); guarded by mu
	skus     []*sku
	users    []*user    // every user ever created, in creation order
	mailbox  []*mailbox // every mailbox ever provisioned, in order
	// mbIndex and userIndex find mailboxes and users by identity (index.go).
	mbIndex   idIndex[*mailbox]
	userIndex idIndex[*user]
	requests  []*restoreReq
	sched     schedule
	events    []json.RawMessage
	seq       int64
	mail      []CapturedMail
	faults    Faults
	budgets   map[string]*budgetState
	budget    *budgetRun // Faults.Budgets in force (budget.go)
	stats     Stats
	holdReqs  map[*mailbox]int
	hooks     []func(RequestInfo)
	subID     string
	// Graph subscriptions created through the API (subscriptions.go); once
	// there is one, only live subscriptions notify.
	subs      []*subscription
	subsOwned bool
	deltaVer  int64           // users/delta change counter
	seeding   map[string]bool // mailbox keys and names taken, during Load only
	failNext  bool            // Faults.RestoreFailOnce armed
	realism   Realism
	pending   []pendingEvent // notifications on their way (Realism.Notifications)
	evSeq     int64
	loads     map[string]*throttleState // Realism.Throttle, by api
	// nextScript: Faults.RestoreStatuses for the next restore request.
	nextScript []string
	// ssKey stands in for Microsoft's SecureString key pair; generated on
	// first use (SecureStringKeyXML or a -Password parameter).
	ssKey *rsa.PrivateKey
}

// New returns a simulator with the default SKUs and no users.
func New(opts Options) *Sim {
	if opts.Clock == nil {
		panic("sim: Options.Clock is required")
	}
	if opts.HoldPropagation <= 0 {
		opts.HoldPropagation = DefaultHoldPropagation
	}
	if opts.Domain == "" {
		opts.Domain = "contoso.test"
	}
	s := &Sim{
		clock:    opts.Clock,
		log:      opts.Log,
		rng:      rand.New(rand.NewPCG(uint64(opts.Seed), 0x686f6c6466617374)),
		faultRng: rand.New(rand.NewPCG(uint64(opts.Seed), 0x6661756c7473)),
		realRng:  rand.New(rand.NewPCG(uint64(opts.Seed), 0x7265616c)),
		budgets:  map[string]*budgetState{},
		holdReqs: map[*mailbox]int{},
	}
	s.stats = newStats()
	if opts.TenantID == "" {
		opts.TenantID = s.newGUID()
	}
	opts.TenantID = strings.ToLower(opts.TenantID)
	if opts.AppID == "" {
		opts.AppID = s.newGUID()
	}
	if opts.ClientState == "" {
		opts.ClientState = s.newGUID()
	}
	s.subID = s.newGUID()
	s.opts = opts
	s.skus = defaultSKUs()
	return s
}

// TenantID returns the simulated tenant's id.
func (s *Sim) TenantID() string { return s.opts.TenantID }

// ClientState returns the clientState carried by every notification; give
// the same value to holdfast's event decoder.
func (s *Sim) ClientState() string { return s.opts.ClientState }

// newGUID returns a random (seeded) version 4 GUID. Callers hold mu or own s
// exclusively.
func (s *Sim) newGUID() string {
	var b [16]byte
	for i := 0; i < 16; i += 8 {
		v := s.rng.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (s *Sim) now() time.Time { return s.clock.Now() }

// Handler serves /v1.0/... (Graph), /adminapi/... (Exchange) and /_sim/...
// (control API).
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1.0/", s.serveGraph)
	mux.HandleFunc("/adminapi/", s.serveExchange)
	s.controlRoutes(mux)
	return mux
}

// OnRequest registers fn, called (outside the simulator's lock) when each
// Graph or Exchange request arrives, before it is processed; inner $batch
// requests are reported one by one.
func (s *Sim) OnRequest(fn func(RequestInfo)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks = append(s.hooks, fn)
}

// RequestInfo describes one API request as it arrives.
type RequestInfo struct {
	API    string         `json:"api"` // "graph" or "exchange"
	Op     string         `json:"op"`  // Graph operation name or cmdlet name
	Method string         `json:"method"`
	Path   string         `json:"path"`
	Params map[string]any `json:"params,omitempty"` // cmdlet parameters
	// ClientRequestID is the client-request-id header of the request.
	ClientRequestID string    `json:"clientRequestId,omitempty"`
	Virtual         time.Time `json:"virtual"` // virtual clock
	Wall            time.Time `json:"wall"`
}

func (s *Sim) notify(ri RequestInfo) {
	s.mu.Lock()
	hooks := slices.Clone(s.hooks)
	s.mu.Unlock()
	if len(hooks) == 0 {
		return
	}
	ri.Virtual = s.now()
	ri.Wall = time.Now()
	for _, h := range hooks {
		h(ri)
	}
}

// HoldRequests returns how many Set-Mailbox requests enabling Litigation
// Hold reached Exchange for the mailbox of upn (original UPN, as in
// Mailboxes).
func (s *Sim) HoldRequests(upn string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for mb, n := range s.holdReqs {
		if strings.EqualFold(mb.reportKey, upn) {
			return n
		}
	}
	return 0
}

// Events returns the directory change notifications emitted so far, in
// order, as CloudEvents 1.0 structured JSON.
func (s *Sim) Events() []json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	return append([]json.RawMessage(nil), s.events...)
}

// DrainEvents returns the notifications delivered by now and forgets them.
// Without Realism.Notifications that is every notification emitted so far,
// in order; with it, each arrives after its drawn delay (NextEventAt).
func (s *Sim) DrainEvents() []json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	return s.takeDue()
}

// SecureStringKeyXML returns the simulator's public key for SecureString
// parameters in the form ExoHelper ships Microsoft's (<RSAKeyValue>), for
// HOLDFAST_EXO_SECURESTRING_KEY.
func (s *Sim) SecureStringKeyXML() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.secureStringKeyLocked()
	return "<RSAKeyValue><Modulus>" + base64.StdEncoding.EncodeToString(k.N.Bytes()) + "</Modulus><Exponent>" +
		base64.StdEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes()) + "</Exponent></RSAKeyValue>"
}

func (s *Sim) secureStringKeyLocked() *rsa.PrivateKey {
	if s.ssKey == nil {
		k, err := rsa.GenerateKey(crand.Reader, 2048)
		if err != nil {
			panic(err) // crypto/rand does not fail on supported platforms
		}
		s.ssKey = k
	}
	return s.ssKey
}

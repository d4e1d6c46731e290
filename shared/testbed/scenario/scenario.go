// Package scenario defines and parses scenario files (DESIGN section 6, a
// contract): a simulated tenant, a timeline of HR events and admin actions
// on the virtual clock, and expectations checked against the simulator,
// which is the ground truth. Package runner plays them.
package scenario

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/holdfast/holdfast/shared/testbed/sim"
)

// Scenario is one parsed file.
type Scenario struct {
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Start       time.Time         `json:"start"`
	Settings    map[string]string `json:"settings,omitempty"` // app setting overrides
	Tenant      sim.TenantSpec    `json:"tenant"`
	// Realism makes the simulator as slow and inconsistent as Microsoft
	// 365 (docs/simulator.md); absent, it answers at its best.
	Realism *sim.Realism `json:"realism,omitempty"`
	Steps   []Step       `json:"steps"`
}

// Step is one timeline entry; exactly one of HR, Admin, Raw, Expect,
// Sweep, Reconcile, Faults is set.
type Step struct {
	At        string   `json:"at"`
	HR        *HREvent `json:"hr,omitempty"`
	Admin     *Admin   `json:"admin,omitempty"`
	Raw       *Raw     `json:"raw,omitempty"`
	Expect    *Expect  `json:"expect,omitempty"`
	Sweep     bool     `json:"sweep,omitempty"`
	Reconcile bool     `json:"reconcile,omitempty"`
	// Faults replaces the simulator's fault configuration (e.g.
	// {"restoreFailOnce": true}).
	Faults *sim.Faults `json:"faults,omitempty"`
	offset time.Duration
	index  int
}

// Offset is the step's time after the scenario start.
func (s Step) Offset() time.Duration { return s.offset }

// Index is the step's position in the file.
func (s Step) Index() int { return s.index }

// HREvent is an HR system message.
type HREvent struct {
	Type             string `json:"type"` // offboarding, offboardingCancelled, rehire
	UPN              string `json:"upn"`
	EmployeeID       string `json:"employeeId,omitempty"`
	LastWorkingDay   string `json:"lastWorkingDay,omitempty"`
	Retention        string `json:"retention,omitempty"`
	HoldDurationDays *int   `json:"holdDurationDays,omitempty"`
	ArchiveTarget    string `json:"archiveTarget,omitempty"`
	Ticket           string `json:"ticket,omitempty"`
	// ID fixes the event id (to play duplicates); default derived.
	ID string `json:"id,omitempty"`
	// Deliveries delivers the same message this many times (default 1).
	Deliveries int `json:"deliveries,omitempty"`
}

// Admin is a directory admin action played on the simulator.
type Admin struct {
	Action string `json:"action"`
	UPN    string `json:"upn"`
	SKU    string `json:"sku,omitempty"`
	// DropEvents loses the directory notifications this action produces
	// (reconciliation must catch it).
	DropEvents bool `json:"dropEvents,omitempty"`
	// Reorder delivers this action's notifications in reverse order, and
	// each twice.
	Reorder bool `json:"reorder,omitempty"`
}

// Raw is a message delivered verbatim (malformed input tests).
type Raw struct {
	Queue     string          `json:"queue"`
	Body      string          `json:"body,omitempty"`
	JSON      json.RawMessage `json:"json,omitempty"`
	MessageID string          `json:"messageId,omitempty"`
}

// Expect checks the world at a moment.
type Expect struct {
	UPN              string `json:"upn,omitempty"`
	MailboxPreserved *bool  `json:"mailboxPreserved,omitempty"`
	Mailbox          string `json:"mailbox,omitempty"` // active|softDeleted|inactive|purged
	ItemsLost        *int   `json:"itemsLost,omitempty"`
	CaseState        string `json:"caseState,omitempty"`
	Alert            string `json:"alert,omitempty"`      // an alert of this kind was sent for the user
	NoAlert          string `json:"noAlert,omitempty"`    // no alert of this kind was sent for the user
	AlertCount       *int   `json:"alertCount,omitempty"` // exactly this many alerts of kind Alert
	Rejected         *int   `json:"rejected,omitempty"`   // rejected events so far
	Action           string `json:"action,omitempty"`     // an audited action happened for the user
	ActionCount      *int   `json:"actionCount,omitempty"`
	HoldRequests     *int   `json:"holdRequests,omitempty"` // Set-Mailbox hold calls seen by the simulator for the user
	// RestoredTo: the user's mailbox content was restored into this
	// mailbox (UPN), whatever became of the source.
	RestoredTo string `json:"restoredTo,omitempty"`
	// Kept: the content survives, in the mailbox itself (not purged) or
	// copied into another mailbox, with nothing lost.
	Kept *bool `json:"kept,omitempty"`
	// HoldDuration: the mailbox's LitigationHoldDuration ("Unlimited",
	// "365.00:00:00").
	HoldDuration string `json:"holdDuration,omitempty"`
	// LiveSubscriptions: the simulator's GET /v1.0/subscriptions lists
	// exactly this many live subscriptions.
	LiveSubscriptions *int `json:"liveSubscriptions,omitempty"`
	// SubscriptionRenewals: holdfast renewed its subscription at least
	// this many times; SubscriptionRecreations: it recreated it exactly
	// this many times; SubscriptionState: holdfast status says this.
	SubscriptionRenewals    *int   `json:"subscriptionRenewals,omitempty"`
	SubscriptionRecreations *int   `json:"subscriptionRecreations,omitempty"`
	SubscriptionState       string `json:"subscriptionState,omitempty"`
}

var offsetRE = regexp.MustCompile(`^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$`)

// ParseOffset reads "2d3h", "45m", "0h".
func ParseOffset(s string) (time.Duration, error) {
	m := offsetRE.FindStringSubmatch(s)
	if m == nil || s == "" {
		return 0, fmt.Errorf("offset %q: want a combination like 2d3h30m", s)
	}
	var d time.Duration
	units := []time.Duration{24 * time.Hour, time.Hour, time.Minute, time.Second}
	for i, u := range units {
		if m[i+1] == "" {
			continue
		}
		n, err := strconv.Atoi(m[i+1])
		if err != nil || n > 100000 {
			return 0, fmt.Errorf("offset %q: number out of range", s)
		}
		d += time.Duration(n) * u
	}
	return d, nil
}

// MaxBytes bounds a scenario file.
const MaxBytes = 4 << 20

// Parse reads and validates a scenario.
func Parse(b []byte) (*Scenario, error) {
	if len(b) > MaxBytes {
		return nil, fmt.Errorf("scenario larger than %d bytes", MaxBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var sc Scenario
	if err := dec.Decode(&sc); err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	if sc.Name == "" {
		return nil, errors.New("scenario: name is required")
	}
	if sc.Start.IsZero() {
		return nil, errors.New("scenario: start is required (RFC 3339)")
	}
	sc.Start = sc.Start.UTC()
	if sc.Realism != nil {
		if err := sc.Realism.Validate(); err != nil {
			return nil, fmt.Errorf("scenario: realism: %w", err)
		}
	}
	upns := map[string]bool{}
	for _, u := range sc.Tenant.Users {
		if u.UPN == "" {
			return nil, errors.New("scenario: a tenant user has no upn")
		}
		upns[u.UPN] = true
	}
	for i := range sc.Steps {
		st := &sc.Steps[i]
		st.index = i
		d, err := ParseOffset(st.At)
		if err != nil {
			return nil, fmt.Errorf("step %d: %w", i, err)
		}
		st.offset = d
		n := 0
		for _, set := range []bool{st.HR != nil, st.Admin != nil, st.Raw != nil, st.Expect != nil, st.Sweep, st.Reconcile, st.Faults != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			return nil, fmt.Errorf("step %d: exactly one of hr, admin, raw, expect, sweep, reconcile, faults", i)
		}
		switch {
		case st.HR != nil:
			switch st.HR.Type {
			case "offboarding", "offboardingCancelled", "rehire":
			default:
				return nil, fmt.Errorf("step %d: hr.type %q: want offboarding, offboardingCancelled or rehire", i, st.HR.Type)
			}
			if st.HR.UPN == "" && st.HR.EmployeeID == "" {
				return nil, fmt.Errorf("step %d: hr needs upn or employeeId", i)
			}
		case st.Admin != nil:
			switch st.Admin.Action {
			case "removeLicense", "assignLicense", "deleteUser", "restoreUser", "purgeUser", "removeMailbox", "removeHold", "resyncUser":
			case "removeSubscription", "removeSubscriptionNotify":
				// Graph drops holdfast's subscription: no user involved.
				if st.Admin.UPN != "" {
					return nil, fmt.Errorf("step %d: admin.action %s takes no upn", i, st.Admin.Action)
				}
				continue
			default:
				return nil, fmt.Errorf("step %d: admin.action %q is not supported", i, st.Admin.Action)
			}
			if !upns[st.Admin.UPN] {
				return nil, fmt.Errorf("step %d: admin.upn %q is not a tenant user", i, st.Admin.UPN)
			}
		case st.Faults != nil:
			if err := st.Faults.Validate(); err != nil {
				return nil, fmt.Errorf("step %d: faults: %w", i, err)
			}
		case st.Raw != nil:
			if st.Raw.Queue != "hr-offboarding" && st.Raw.Queue != "directory-events" {
				return nil, fmt.Errorf("step %d: raw.queue must be hr-offboarding or directory-events", i)
			}
		}
	}
	sort.SliceStable(sc.Steps, func(i, j int) bool { return sc.Steps[i].offset < sc.Steps[j].offset })
	return &sc, nil
}

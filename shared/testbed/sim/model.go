package sim

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// TenantSpec seeds the simulated tenant (the scenario "tenant" object).
type TenantSpec struct {
	Users []UserSpec `json:"users"`
	SKUs  []SKUSpec  `json:"skus"`
}

// UserSpec is one seeded user.
type UserSpec struct {
	UPN                  string   `json:"upn"`
	DisplayName          string   `json:"displayName"`
	Licenses             []string `json:"licenses"` // skuPartNumber
	MailboxItems         int      `json:"mailboxItems"`
	Archive              bool     `json:"archive"`
	ArchiveItems         int      `json:"archiveItems"`
	AutoExpandingArchive bool     `json:"autoExpandingArchive"`
	Department           string   `json:"department"`
	EmployeeID           string   `json:"employeeId"`
	// UsageLocation defaults to "US"; Graph refuses licence assignment
	// without one.
	UsageLocation string `json:"usageLocation"`
	// Synced marks a user synchronised from on-premises AD
	// (onPremisesSyncEnabled).
	Synced bool `json:"synced"`
	// Deleted seeds a pre-existing state, DeletedDaysAgo days ago:
	// "softDeleted" (user in the recycle bin), "purged" (user hard-deleted;
	// the mailbox follows the lifecycle rules), "inactive" (deleted while
	// held), "unlicensed" (licences in Licenses removed that long ago).
	Deleted        string `json:"deleted"`
	DeletedDaysAgo int    `json:"deletedDaysAgo"`
	// LitigationHold seeds a hold placed long ago (in effect).
	LitigationHold bool `json:"litigationHold"`
	// AccountEnabled defaults to true.
	AccountEnabled *bool `json:"accountEnabled,omitempty"`
}

// SKUSpec is one subscription.
type SKUSpec struct {
	PartNumber             string `json:"partNumber"`
	Units                  int    `json:"units"`
	IncludesLitigationHold bool   `json:"includesLitigationHold"`
	// SKUID defaults to the well-known id for known part numbers, else a
	// generated one.
	SKUID string `json:"skuId,omitempty"`
	// NoExchange marks a SKU without an Exchange Online plan (assigning it
	// does not provision a mailbox).
	NoExchange bool `json:"noExchange,omitempty"`
}

type servicePlan struct{ ID, Name string }

type sku struct {
	ID, PartNumber string
	Units          int
	Hold           bool
	Exchange       bool
	Plans          []servicePlan
}

var (
	planExchangeEnterprise = servicePlan{"efb87545-963c-4e0d-99df-69c6916d9eb0", "EXCHANGE_S_ENTERPRISE"}
	planExchangeStandard   = servicePlan{"9aaf7827-d63c-4b61-89c3-182f06f82e5c", "EXCHANGE_S_STANDARD"}
)

var wellKnownSKUs = map[string]sku{
	"ENTERPRISEPACK":     {ID: "6fd2c87f-b296-42f0-b197-1e91e994b900", Hold: true, Exchange: true, Plans: []servicePlan{planExchangeEnterprise}},
	"SPE_E5":             {ID: "06ebc4ee-1bb5-47dd-8120-11324bc54e06", Hold: true, Exchange: true, Plans: []servicePlan{planExchangeEnterprise}},
	"EXCHANGESTANDARD":   {ID: "4b9405b0-7788-4568-add1-99614e613b69", Hold: false, Exchange: true, Plans: []servicePlan{planExchangeStandard}},
	"EXCHANGEENTERPRISE": {ID: "19ec0d23-8335-4cbd-94ac-6050e30712fa", Hold: true, Exchange: true, Plans: []servicePlan{planExchangeEnterprise}},
}

const defaultUnits = 10000

func defaultSKUs() []*sku {
	var out []*sku
	for _, pn := range []string{"ENTERPRISEPACK", "SPE_E5", "EXCHANGESTANDARD", "EXCHANGEENTERPRISE"} {
		k := wellKnownSKUs[pn]
		k.PartNumber = pn
		k.Units = defaultUnits
		out = append(out, &k)
	}
	return out
}

type assigned struct {
	SKU           *sku
	DisabledPlans []string
}

type userState int

const (
	userActive  userState = iota
	userDeleted           // in the recycle bin
	userPurged            // hard-deleted
)

type user struct {
	ID, UPN, DisplayName, Mail string
	Department, EmployeeID     string
	UsageLocation              string
	AccountEnabled, Synced     bool
	Licenses                   []assigned
	state                      userState
	deletedAt                  time.Time
	licensesAtDelete           []assigned // come back on restore
	mailbox                    *mailbox
	disableAt                  *time.Time // New-Mailbox -InactiveMailbox: disabled without a licence by then
	created                    time.Time
	lastRemoved                []*sku // for assignLicense without a SKU
	deltaVer                   int64  // Sim.deltaVer at the user's last change (users/delta)
}

func (u *user) hasExchange() bool {
	for _, a := range u.Licenses {
		if a.SKU.Exchange {
			return true
		}
	}
	return false
}

func (u *user) holdAllowed() bool {
	for _, a := range u.Licenses {
		if a.SKU.Hold {
			return true
		}
	}
	return false
}

// deletedUPN is how Entra shows a deleted user's UPN: the object id without
// dashes, prefixed to the original UPN, so that the UPN is free for reuse.
func (u *user) deletedUPN() string {
	return strings.ReplaceAll(u.ID, "-", "") + u.UPN
}

type mbState string

const (
	mbActive      mbState = "active"
	mbSoftDeleted mbState = "softDeleted"
	mbInactive    mbState = "inactive"
	mbPurged      mbState = "purged"
)

// received is content a restore request copied into a mailbox.
type received struct {
	From             string `json:"from"` // source mailbox report key
	Request          string `json:"request"`
	Items            int    `json:"items"`
	TargetRootFolder string `json:"targetRootFolder,omitempty"`
	TargetIsArchive  bool   `json:"targetIsArchive"`
	SourceIsArchive  bool   `json:"sourceIsArchive"`
}

type mailbox struct {
	reportKey                 string // original UPN (UPN#2... when reused)
	user                      *user  // current owner; nil after the owner was hard-deleted
	userID                    string // ExternalDirectoryObjectId (cleared with the Entra object)
	Guid                      string
	ExchangeGuid, ArchiveGuid string
	Name, Alias, DisplayName  string
	UPN, PrimarySMTP          string
	DN, LegacyDN              string
	x500                      []string // extra X500 proxies added with Set-Mailbox -EmailAddresses @{Add=...}
	hasArchive, autoExpanding bool
	items, archiveItems       int
	state                     mbState
	created                   time.Time

	holdEnabled                    bool
	holdSetAt                      time.Time
	holdDuration                   string
	holdOwner                      string
	retentionComment, retentionURL string
	inPlaceHolds                   []string
	retentionHold                  bool
	retainDeleted                  string

	unlicensedSince *time.Time // licence grace started
	graceKept       bool       // grace ended while held: kept
	softDeletedAt   *time.Time
	byRemove        bool
	byDisable       bool
	purgeAt         *time.Time
	wasInactive     bool

	lostAt       *time.Time
	itemsLost    int
	savedPrimary int // items copied out by completed restores
	savedArchive int
	restoredTo   []string
	received     []received
	recoveredTo  string
	lostReason   string

	view     *lagView  // Exchange has not caught up with the directory yet
	holdView *holdView // nor with the last Set-Mailbox hold change
}

func (m *mailbox) holdEffectiveAt() *time.Time {
	if !m.holdEnabled {
		return nil
	}
	t := m.holdSetAt
	return &t
}

func (m *mailbox) anyHold() bool { return m.holdEnabled || len(m.inPlaceHolds) > 0 }

// restoreReq is a MailboxRestoreRequest.
type restoreReq struct {
	Name, Guid, BatchName    string
	source, target           *mailbox
	sourceKey                string
	TargetRootFolder         string
	SourceIsArchive          bool
	TargetIsArchive          bool
	AllowLegacyDNMismatch    bool
	ConflictResolutionOption string
	ExcludeDumpster          bool
	status                   string // every Get-MailboxRestoreRequest -Status value, plus Removed
	items                    int
	// script: statuses still to pass through (Faults.RestoreStatuses);
	// troubleAt is when the next one begins, resumeAt ends a timed pause
	// (Retrying, Synced), pausedAt/pausedPct freeze progress meanwhile,
	// doneAt ends CompletionInProgress, warning finishes as
	// CompletedWithWarning with skipped items not copied.
	script                   []string
	troubleAt, resumeAt      *time.Time
	pausedAt                 time.Time
	pausedPct                int
	doneAt                   time.Time
	warning                  bool
	skipped                  int
	queuedAt, startAt, endAt time.Time
	failAt                   *time.Time
	completedAt, failedAt    *time.Time
	failureType, failureMsg  string
	removed                  bool
	failOnce                 bool
	targetKey                string
}

// MailboxReport is the simulator's ground truth about one mailbox.
type MailboxReport struct {
	UPN            string `json:"upn"`
	State          string `json:"state"` // active|softDeleted|inactive|purged
	ItemsPreserved int    `json:"itemsPreserved"`
	ItemsLost      int    `json:"itemsLost"`
	// Holds lists "LitigationHold" and any InPlaceHolds entries.
	Holds          []string `json:"holds"`
	Licensed       bool     `json:"licensed"`
	LitigationHold bool     `json:"litigationHold"`
	// HoldDuration is LitigationHoldDuration ("Unlimited" or "N.00:00:00")
	// while the hold is on.
	HoldDuration    string     `json:"holdDuration,omitempty"`
	HoldSetAt       *time.Time `json:"holdSetAt,omitempty"`
	HoldEffectiveAt *time.Time `json:"holdEffectiveAt,omitempty"`
	PurgeAt         *time.Time `json:"purgeAt,omitempty"`
	// RestoredTo lists the target UPNs that received its content.
	RestoredTo []string `json:"restoredTo,omitempty"`
	// Received lists content restored into this mailbox.
	Received []received `json:"received,omitempty"`
	// RecoveredTo is the UPN of the account New-Mailbox -InactiveMailbox
	// created for it.
	RecoveredTo          string     `json:"recoveredTo,omitempty"`
	UserID               string     `json:"userId,omitempty"`
	UserState            string     `json:"userState"` // active|deleted|purged|none
	AccountEnabled       bool       `json:"accountEnabled"`
	CurrentUPN           string     `json:"currentUpn,omitempty"`
	ExchangeGuid         string     `json:"exchangeGuid"`
	DeletedAt            *time.Time `json:"deletedAt,omitempty"`
	LicenceGraceEndsAt   *time.Time `json:"licenceGraceEndsAt,omitempty"`
	AutoExpandingArchive bool       `json:"autoExpandingArchive"`
	LostAt               *time.Time `json:"lostAt,omitempty"`
	LostReason           string     `json:"lostReason,omitempty"`
}

func tp(t time.Time) *time.Time { return &t }

func (s *Sim) report(m *mailbox) MailboxReport {
	r := MailboxReport{
		UPN: m.reportKey, State: string(m.state), ItemsLost: m.itemsLost,
		LitigationHold: m.holdEnabled, RestoredTo: append([]string(nil), m.restoredTo...),
		Received: append([]received(nil), m.received...), RecoveredTo: m.recoveredTo,
		ExchangeGuid: m.ExchangeGuid, AutoExpandingArchive: m.autoExpanding,
		UserState: "none", CurrentUPN: m.UPN, LostAt: m.lostAt, LostReason: m.lostReason,
		PurgeAt: m.purgeAt, Holds: []string{},
	}
	if m.holdEnabled {
		r.Holds = append(r.Holds, "LitigationHold")
		r.HoldSetAt = tp(m.holdSetAt)
		r.HoldDuration = m.holdDuration
		r.HoldEffectiveAt = tp(m.holdSetAt.Add(s.opts.HoldPropagation))
	}
	r.Holds = append(r.Holds, m.inPlaceHolds...)
	if m.state == mbPurged {
		r.ItemsPreserved = m.savedPrimary + m.savedArchive
	} else {
		r.ItemsPreserved = m.items + m.archiveItems
	}
	if u := m.user; u != nil {
		r.UserID = u.ID
		r.Licensed = u.state == userActive && u.hasExchange()
		r.AccountEnabled = u.AccountEnabled && u.state == userActive
		switch u.state {
		case userActive:
			r.UserState = "active"
		case userDeleted:
			r.UserState = "deleted"
			r.DeletedAt = tp(u.deletedAt)
		case userPurged:
			r.UserState = "purged"
			r.DeletedAt = tp(u.deletedAt)
		}
	}
	if m.softDeletedAt != nil && r.DeletedAt == nil {
		r.DeletedAt = m.softDeletedAt
	}
	if m.unlicensedSince != nil && m.state == mbActive {
		r.LicenceGraceEndsAt = tp(m.unlicensedSince.Add(retentionWindow))
	}
	return r
}

// Mailboxes returns the ground truth for every mailbox ever provisioned,
// keyed by the owner's original UPN (a second mailbox for the same UPN, e.g.
// after a re-sync, is keyed "upn#2").
func (s *Sim) Mailboxes() map[string]MailboxReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	out := make(map[string]MailboxReport, len(s.mailbox))
	for _, m := range s.mailbox {
		out[m.reportKey] = s.report(m)
	}
	return out
}

// Load seeds users and, when given, replaces the SKU list. Seeded state
// emits no notifications.
func (s *Sim) Load(spec TenantSpec) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	if len(spec.SKUs) > 0 {
		var skus []*sku
		for _, k := range spec.SKUs {
			if k.PartNumber == "" {
				return errors.New("sim: sku without partNumber")
			}
			n := &sku{PartNumber: k.PartNumber, Units: k.Units, Hold: k.IncludesLitigationHold, Exchange: !k.NoExchange, ID: strings.ToLower(k.SKUID)}
			if wk, ok := wellKnownSKUs[k.PartNumber]; ok {
				if n.ID == "" {
					n.ID = wk.ID
				}
				n.Plans = wk.Plans
			}
			if n.ID == "" {
				n.ID = s.newGUID()
			}
			if n.Plans == nil && n.Exchange {
				n.Plans = []servicePlan{planExchangeStandard}
				if n.Hold {
					n.Plans = []servicePlan{planExchangeEnterprise}
				}
			}
			if old := s.skuByPart(k.PartNumber); old != nil {
				// keep the identity of SKUs users already hold
				*old = *n
				n = old
			}
			skus = append(skus, n)
		}
		s.skus = skus
	}
	now := s.now()
	// Seeded history is not news: notifications it would produce are
	// dropped, and Exchange has long caught up with it.
	keep := s.realism
	s.realism = Realism{}
	defer func() { s.realism = keep }()
	nev := len(s.events)
	defer func() { s.events = s.events[:nev] }()
	// Active UPNs, lower-cased: the duplicate check is a map lookup, so
	// seeding a 100,000-user tenant is linear.
	active := map[string]bool{}
	for _, u := range s.users {
		if u.state == userActive {
			active[strings.ToLower(u.UPN)] = true
		}
	}
	// Mailbox keys and names taken (seeding), kept for this Load only: a
	// name freed by a purge during seeding stays taken, which only renames
	// a later seeded duplicate alias.
	s.seeding = map[string]bool{}
	for _, m := range s.mailbox {
		s.seeding["k:"+strings.ToLower(m.reportKey)] = true
		if m.state != mbPurged {
			s.seeding["n:"+strings.ToLower(m.Name)] = true
		}
	}
	defer func() { s.seeding = nil }()
	for i, us := range spec.Users {
		if err := s.seedUser(us, now, active); err != nil {
			return fmt.Errorf("sim: users[%d] (%s): %w", i, us.UPN, err)
		}
	}
	s.advanceLocked() // seeded deadlines already past play out quietly too
	return nil
}

func (s *Sim) skuByPart(pn string) *sku {
	for _, k := range s.skus {
		if strings.EqualFold(k.PartNumber, pn) {
			return k
		}
	}
	return nil
}

func (s *Sim) skuByID(id string) *sku {
	for _, k := range s.skus {
		if strings.EqualFold(k.ID, id) {
			return k
		}
	}
	return nil
}

func (s *Sim) consumed(k *sku) int {
	n := 0
	for _, u := range s.users {
		if u.state != userActive {
			continue
		}
		for _, a := range u.Licenses {
			if a.SKU == k {
				n++
			}
		}
	}
	return n
}

func (s *Sim) activeUserByUPN(upn string) *user {
	for _, u := range s.userCandidates(upn) {
		if u.state == userActive && strings.EqualFold(u.UPN, upn) {
			return u
		}
	}
	return nil
}

func (s *Sim) seedUser(us UserSpec, now time.Time, active map[string]bool) error {
	upn := strings.TrimSpace(us.UPN)
	if upn == "" || !strings.Contains(upn, "@") {
		return errors.New("upn must be user@domain")
	}
	if active[strings.ToLower(upn)] {
		return errors.New("an active user with this UPN exists")
	}
	if us.Deleted == "" || us.Deleted == "unlicensed" {
		active[strings.ToLower(upn)] = true
	}
	u := s.newUser(upn, us.DisplayName, now)
	u.Department, u.EmployeeID, u.Synced = us.Department, us.EmployeeID, us.Synced
	u.UsageLocation = us.UsageLocation
	if u.UsageLocation == "" {
		u.UsageLocation = "US"
	}
	if us.AccountEnabled != nil {
		u.AccountEnabled = *us.AccountEnabled
	}
	var lic []assigned
	for _, pn := range us.Licenses {
		k := s.skuByPart(pn)
		if k == nil {
			return fmt.Errorf("unknown licence %q", pn)
		}
		lic = append(lic, assigned{SKU: k, DisabledPlans: []string{}})
	}
	switch us.Deleted {
	case "", "softDeleted", "purged", "inactive", "unlicensed":
	default:
		return fmt.Errorf("unknown deleted state %q", us.Deleted)
	}
	when := now.Add(-time.Duration(us.DeletedDaysAgo) * 24 * time.Hour)
	hasMailbox := false
	for _, a := range lic {
		hasMailbox = hasMailbox || a.SKU.Exchange
	}
	u.Licenses = lic
	if hasMailbox {
		m := s.provision(u, when.Add(-365*24*time.Hour))
		m.items, m.hasArchive = us.MailboxItems, us.Archive || us.AutoExpandingArchive || us.ArchiveItems > 0
		if m.hasArchive {
			m.ArchiveGuid = s.newGUID()
			m.archiveItems = us.ArchiveItems
		}
		m.autoExpanding = us.AutoExpandingArchive
		if us.LitigationHold || us.Deleted == "inactive" {
			m.holdEnabled = true
			m.holdSetAt = when.Add(-365 * 24 * time.Hour)
			m.holdDuration = "Unlimited"
			m.holdOwner = "admin@" + s.opts.Domain
		}
	}
	s.addUser(u)
	switch us.Deleted {
	case "unlicensed":
		u.lastRemoved = nil
		for _, a := range u.Licenses {
			u.lastRemoved = append(u.lastRemoved, a.SKU)
		}
		u.Licenses = nil
		if m := u.mailbox; m != nil {
			m.unlicensedSince = tp(when)
			s.touch(m)
		}
	case "softDeleted", "inactive":
		s.deleteUser(u, when, false)
	case "purged":
		s.deleteUser(u, when, false)
		s.hardDeleteUser(u, when, false)
	}
	s.touch(u)
	return nil
}

// newUser creates an active user (not yet appended to s.users).
func (s *Sim) newUser(upn, display string, now time.Time) *user {
	if display == "" {
		display = strings.SplitN(upn, "@", 2)[0]
	}
	return &user{ID: s.newGUID(), UPN: upn, DisplayName: display, Mail: upn, AccountEnabled: true, created: now}
}

// provision creates u's mailbox.
func (s *Sim) provision(u *user, created time.Time) *mailbox {
	alias := strings.SplitN(u.UPN, "@", 2)[0]
	keyTaken, nameTaken := func(k string) bool { return s.mailboxByKey(k) != nil }, func(n string) bool { return s.mailboxByName(n) != nil }
	if s.seeding != nil {
		// Load: map lookups, so a 100,000-user tenant seeds in linear time.
		keyTaken = func(k string) bool { return s.seeding["k:"+strings.ToLower(k)] }
		nameTaken = func(n string) bool { return s.seeding["n:"+strings.ToLower(n)] }
	}
	key := u.UPN
	n := 1
	for keyTaken(key) {
		n++
		key = fmt.Sprintf("%s#%d", u.UPN, n)
	}
	name := alias
	for i := 2; nameTaken(name); i++ {
		name = fmt.Sprintf("%s%d", alias, i)
	}
	if s.seeding != nil {
		s.seeding["k:"+strings.ToLower(key)], s.seeding["n:"+strings.ToLower(name)] = true, true
	}
	m := &mailbox{
		reportKey: key, user: u, userID: u.ID, Guid: s.newGUID(), ExchangeGuid: s.newGUID(),
		ArchiveGuid: zeroGUID, Name: name, Alias: name, DisplayName: u.DisplayName,
		UPN: u.UPN, PrimarySMTP: u.UPN, state: mbActive, created: created,
		holdDuration: "Unlimited", retainDeleted: "14.00:00:00",
	}
	m.DN = fmt.Sprintf("CN=%s,OU=%s,OU=Microsoft Exchange Hosted Organizations,DC=NAMPR01A001,DC=PROD,DC=OUTLOOK,DC=COM", name, s.opts.Domain)
	m.LegacyDN = "/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=" +
		strings.ReplaceAll(s.newGUID(), "-", "") + "-" + alias
	u.mailbox = m
	s.mailbox = append(s.mailbox, m)
	s.indexMailbox(m)
	return m
}

const zeroGUID = "00000000-0000-0000-0000-000000000000"

func (s *Sim) mailboxByKey(k string) *mailbox {
	for _, m := range s.mailbox {
		if strings.EqualFold(m.reportKey, k) {
			return m
		}
	}
	return nil
}

func (s *Sim) mailboxByName(n string) *mailbox {
	for _, m := range s.mailbox {
		if m.state != mbPurged && strings.EqualFold(m.Name, n) {
			return m
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

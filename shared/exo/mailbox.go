package exo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/holdfast/holdfast/shared/securestring"
	"github.com/holdfast/holdfast/shared/tenant"
)

// mailboxFields is the $select list for Get-Mailbox: what tenant.Mailbox
// carries. Without it the service returns a few hundred properties a row.
var mailboxFields = []string{
	"ExchangeGuid", "ArchiveGuid", "DistinguishedName", "LegacyExchangeDN",
	"PrimarySmtpAddress", "EmailAddresses", "UserPrincipalName", "Alias", "ExternalDirectoryObjectId",
	"RecipientTypeDetails", "LitigationHoldEnabled", "LitigationHoldDate",
	"LitigationHoldDuration", "RetentionComment", "InPlaceHolds", "IsInactiveMailbox",
	"IsSoftDeletedByRemove", "IsSoftDeletedByDisable", "WhenSoftDeleted",
	"AutoExpandingArchiveEnabled", "ArchiveStatus",
}

func scopeParams(scope tenant.MailboxScope, p map[string]any) error {
	switch scope {
	case tenant.ScopeActive:
	case tenant.ScopeSoftDeleted:
		p["SoftDeletedMailbox"] = true
	case tenant.ScopeInactiveOnly:
		p["InactiveMailboxOnly"] = true
	case tenant.ScopeIncludeInactive:
		p["IncludeInactiveMailbox"] = true
	default:
		return fmt.Errorf("exo: unknown mailbox scope %d", scope)
	}
	return nil
}

func notFound(what string) error {
	return &tenant.ServiceError{Service: "exchange", Status: http.StatusOK, Code: "NoResult",
		Message: what + " returned no object", Kind: tenant.ErrNotFound}
}

// GetMailbox runs Get-Mailbox -Identity in scope. ErrNotFound when nothing
// matches; ErrConflict when the identity matches several mailboxes (an
// active and an inactive mailbox can share an SMTP address; use the
// ExchangeGuid or DistinguishedName to tell them apart).
func (c *Client) GetMailbox(ctx context.Context, identity string, scope tenant.MailboxScope) (tenant.Mailbox, error) {
	if strings.TrimSpace(identity) == "" {
		return tenant.Mailbox{}, errors.New("exo: empty mailbox identity")
	}
	p := map[string]any{"Identity": identity}
	if err := scopeParams(scope, p); err != nil {
		return tenant.Mailbox{}, err
	}
	var found []tenant.Mailbox
	err := c.invoke(ctx, "Get-Mailbox", p, mailboxFields, func(raw json.RawMessage) error {
		m, err := parseMailbox(raw)
		found = append(found, m)
		return err
	})
	if err != nil {
		return tenant.Mailbox{}, err
	}
	switch len(found) {
	case 0:
		return tenant.Mailbox{}, notFound("Get-Mailbox")
	case 1:
		return found[0], nil
	default:
		return tenant.Mailbox{}, &tenant.ServiceError{Service: "exchange", Status: http.StatusOK, Code: "Ambiguous",
			Message: fmt.Sprintf("identity matches %d mailboxes", len(found)), Kind: tenant.ErrConflict}
	}
}

// ListMailboxes runs Get-Mailbox -ResultSize Unlimited in scope and calls
// fn for each mailbox.
func (c *Client) ListMailboxes(ctx context.Context, scope tenant.MailboxScope, fn func(tenant.Mailbox) error) error {
	p := map[string]any{"ResultSize": "Unlimited"}
	if err := scopeParams(scope, p); err != nil {
		return err
	}
	return c.invoke(ctx, "Get-Mailbox", p, mailboxFields, func(raw json.RawMessage) error {
		m, err := parseMailbox(raw)
		if err != nil {
			return err
		}
		return fn(m)
	})
}

// SetLitigationHold runs Set-Mailbox with the hold settings. On an inactive
// mailbox (-InactiveMailbox) only the hold flag and duration may change, so
// the retention comment is not sent there. A licence without Litigation
// Hold yields ErrHoldNotAllowed.
func (c *Client) SetLitigationHold(ctx context.Context, h tenant.HoldRequest) error {
	if strings.TrimSpace(h.Identity) == "" {
		return errors.New("exo: empty mailbox identity")
	}
	if h.DurationDays < 0 {
		return fmt.Errorf("exo: negative hold duration %d", h.DurationDays)
	}
	p := map[string]any{"Identity": h.Identity, "LitigationHoldEnabled": h.Enabled}
	if h.Enabled {
		if h.DurationDays == 0 {
			p["LitigationHoldDuration"] = "Unlimited"
		} else {
			p["LitigationHoldDuration"] = h.DurationDays
		}
		if h.Comment != "" && !h.Inactive {
			p["RetentionComment"] = h.Comment
		}
	}
	if h.Inactive {
		p["InactiveMailbox"] = true
	}
	if h.RequestID != "" {
		ctx = tenant.WithRequestID(ctx, h.RequestID)
	}
	return c.Invoke(ctx, "Set-Mailbox", p, discard)
}

// AddX500Address adds "X500:<legacyDN>" to the proxy addresses of the
// active mailbox identity, with Set-Mailbox -EmailAddresses @{Add=...}: the
// hashtable travels as a JSON object carrying
// "@odata.type":"#Exchange.GenericHashTable" (ExoHelper, CIPP). Learn's
// New-MailboxRestoreRequest page names this as the replacement for
// -AllowLegacyDNMismatch. An address another recipient holds yields
// ErrConflict.
func (c *Client) AddX500Address(ctx context.Context, identity, legacyDN string) error {
	if strings.TrimSpace(identity) == "" || !strings.HasPrefix(legacyDN, "/") {
		return fmt.Errorf("exo: AddX500Address needs an identity and a LegacyExchangeDN, got %q", legacyDN)
	}
	p := map[string]any{"Identity": identity, "EmailAddresses": map[string]any{
		"@odata.type": "#Exchange.GenericHashTable",
		"Add":         []string{"X500:" + legacyDN},
	}}
	return c.Invoke(ctx, "Set-Mailbox", p, discard)
}

// NewRestoreRequest starts New-MailboxRestoreRequest. BadItemLimit and
// LargeItemLimit are on-premises only and never sent. A taken name yields
// ErrConflict.
func (c *Client) NewRestoreRequest(ctx context.Context, r tenant.RestoreRequest) (tenant.RestoreStatus, error) {
	if r.Name == "" || r.SourceMailbox == "" || r.TargetMailbox == "" {
		return tenant.RestoreStatus{}, errors.New("exo: restore request needs Name, SourceMailbox and TargetMailbox")
	}
	p := map[string]any{"Name": r.Name, "SourceMailbox": r.SourceMailbox, "TargetMailbox": r.TargetMailbox}
	if r.TargetRootFolder != "" {
		p["TargetRootFolder"] = r.TargetRootFolder
	}
	if r.SourceIsArchive {
		p["SourceIsArchive"] = true
	}
	if r.TargetIsArchive {
		p["TargetIsArchive"] = true
	}
	if r.AllowLegacyDNMismatch {
		p["AllowLegacyDNMismatch"] = true
	}
	st := tenant.RestoreStatus{Name: r.Name, Status: "Queued"}
	err := c.Invoke(ctx, "New-MailboxRestoreRequest", p, func(raw json.RawMessage) error {
		got, err := parseRestore(raw)
		if err != nil {
			return err
		}
		if got.Name == "" {
			got.Name = r.Name
		}
		st = got
		return nil
	})
	if err != nil {
		return tenant.RestoreStatus{}, err
	}
	return st, nil
}

// GetRestoreRequests runs Get-MailboxRestoreRequest -Name. No match is an
// empty list, not an error: callers use it to ask "did I already start
// this?".
func (c *Client) GetRestoreRequests(ctx context.Context, name string) ([]tenant.RestoreStatus, error) {
	if name == "" {
		return nil, errors.New("exo: empty restore request name")
	}
	var out []tenant.RestoreStatus
	err := c.Invoke(ctx, "Get-MailboxRestoreRequest", map[string]any{"Name": name, "ResultSize": "Unlimited"},
		func(raw json.RawMessage) error {
			st, err := parseRestore(raw)
			out = append(out, st)
			return err
		})
	if err != nil {
		if errors.Is(err, tenant.ErrNotFound) {
			return nil, nil
		}
		return nil, err
	}
	return out, nil
}

// GetRestoreStatistics runs Get-MailboxRestoreRequestStatistics -Identity
// (RequestGuid or Alias\Name).
func (c *Client) GetRestoreStatistics(ctx context.Context, identity string) (tenant.RestoreStatus, error) {
	if identity == "" {
		return tenant.RestoreStatus{}, errors.New("exo: empty restore request identity")
	}
	var st *tenant.RestoreStatus
	err := c.Invoke(ctx, "Get-MailboxRestoreRequestStatistics", map[string]any{"Identity": identity},
		func(raw json.RawMessage) error {
			s, err := parseRestore(raw)
			if st == nil {
				st = &s
			}
			return err
		})
	if err != nil {
		return tenant.RestoreStatus{}, err
	}
	if st == nil {
		return tenant.RestoreStatus{}, notFound("Get-MailboxRestoreRequestStatistics")
	}
	return *st, nil
}

// ResumeRestoreRequest runs Resume-MailboxRestoreRequest -Identity
// (RequestGuid or Alias\Name), which Learn documents for requests that
// were suspended or failed; holdfast uses it for AutoSuspended ones.
func (c *Client) ResumeRestoreRequest(ctx context.Context, identity string) error {
	if identity == "" {
		return errors.New("exo: empty restore request identity")
	}
	return c.Invoke(ctx, "Resume-MailboxRestoreRequest", map[string]any{"Identity": identity}, discard)
}

// password returns a fresh strong password, encrypted as the admin API
// expects a SecureString. The clear text never leaves this function: the
// new account's password is unknown to everyone, and an admin resets it
// before anyone signs in.
func (c *Client) password() (string, error) {
	if c.ssKey == nil {
		return "", tenant.ErrNoSecureStringKey
	}
	p, err := securestring.NewPassword()
	if err != nil {
		return "", fmt.Errorf("exo: %w", err)
	}
	return securestring.Encrypt(c.ssKey, p)
}

// UndoSoftDeletedMailbox runs Undo-SoftDeletedMailbox -SoftDeletedObject
// -WindowsLiveID -Password, the form Microsoft documents for restoring a
// mailbox removed in Exchange (within 30 days of Remove-Mailbox). Learn
// requires WindowsLiveID and Password when the account was not deleted
// with the mailbox; holdfast always sends them, the pessimistic choice.
// Without a SecureString key it returns tenant.ErrNoSecureStringKey.
func (c *Client) UndoSoftDeletedMailbox(ctx context.Context, softDeletedObject, windowsLiveID string) error {
	if strings.TrimSpace(softDeletedObject) == "" || strings.TrimSpace(windowsLiveID) == "" {
		return errors.New("exo: Undo-SoftDeletedMailbox needs the soft-deleted object and a WindowsLiveID")
	}
	pw, err := c.password()
	if err != nil {
		return err
	}
	return c.Invoke(ctx, "Undo-SoftDeletedMailbox", map[string]any{
		"SoftDeletedObject": softDeletedObject, "WindowsLiveID": windowsLiveID, "Password": pw,
	}, discard)
}

// NewMailboxFromInactive recovers an inactive mailbox into a new account
// (New-Mailbox -InactiveMailbox, identity by DistinguishedName or
// ExchangeGuid). -Password is required in that parameter set (Learn); the
// account must change it at first sign-in and is created unlicensed:
// assign a licence within 30 days. Without a SecureString key it returns
// tenant.ErrNoSecureStringKey.
func (c *Client) NewMailboxFromInactive(ctx context.Context, inactiveIdentity, name, upn string) (tenant.Mailbox, error) {
	if inactiveIdentity == "" || name == "" || upn == "" {
		return tenant.Mailbox{}, errors.New("exo: New-Mailbox -InactiveMailbox needs identity, name and UPN")
	}
	pw, err := c.password()
	if err != nil {
		return tenant.Mailbox{}, err
	}
	p := map[string]any{"InactiveMailbox": inactiveIdentity, "Name": name, "MicrosoftOnlineServicesID": upn,
		"Password": pw, "ResetPasswordOnNextLogon": true}
	var mb *tenant.Mailbox
	err = c.Invoke(ctx, "New-Mailbox", p, func(raw json.RawMessage) error {
		m, err := parseMailbox(raw)
		if mb == nil {
			mb = &m
		}
		return err
	})
	if err != nil {
		return tenant.Mailbox{}, err
	}
	if mb == nil {
		// Some cmdlets answer with an empty value list; read the result.
		return c.GetMailbox(ctx, upn, tenant.ScopeActive)
	}
	return *mb, nil
}

func discard(json.RawMessage) error { return nil }

// obj is one result row, read leniently: the admin API's JSON types for
// several properties are not documented (see the reference notes). It is
// decoded once, numbers kept as their text, so reading a property does not
// parse it again (a Get-Mailbox row used to be scanned once per property).
type obj map[string]any

// parseObj decodes one row; null is a row with no properties.
func parseObj(raw []byte) (obj, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var o obj
	if err := dec.Decode(&o); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the row's object")
	}
	return o, nil
}

func (o obj) str(k string) string {
	switch v := o[k].(type) {
	case string:
		return v
	case json.Number:
		return string(v) // numbers as their text
	case bool:
		return strconv.FormatBool(v)
	}
	return "" // absent, null, objects and arrays
}

func (o obj) boolean(k string) (bool, error) {
	switch v := o[k].(type) {
	case nil:
		return false, nil
	case bool:
		return v, nil
	}
	b, err := strconv.ParseBool(o.str(k))
	if err != nil {
		return false, fmt.Errorf("exo: %s: not a boolean: %v", k, o[k])
	}
	return b, nil
}

// strings reads an array of strings; elements of other types read as "",
// anything but an array (null included) as none.
func (o obj) strings(k string) []string {
	a, ok := o[k].([]any)
	if !ok {
		return nil
	}
	ss := make([]string, len(a))
	for i, v := range a {
		ss[i], _ = v.(string)
	}
	return ss
}

func (o obj) time(k string) (*time.Time, error) {
	s := o.str(k)
	if s == "" {
		return nil, nil
	}
	t, err := ParseTime(s)
	if err != nil {
		return nil, fmt.Errorf("exo: %s: %w", k, err)
	}
	return &t, nil
}

var msDateRE = regexp.MustCompile(`^/Date\((-?\d+)([+-]\d{4})?\)/$`)

// ParseTime reads the date forms the admin API returns:
// "2022-09-21T08:07:47.0000000+00:00" (Get-Mailbox), "...Z" (the *UTC
// variants), "2006-01-02T15:04:05.0000000" with no offset (read as UTC),
// and the legacy "/Date(ms)/" form. The result is in UTC.
func ParseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.ParseInLocation("2006-01-02T15:04:05.999999999", s, time.UTC); err == nil {
		return t, nil
	}
	if m := msDateRE.FindStringSubmatch(s); m != nil {
		ms, err := strconv.ParseInt(m[1], 10, 64)
		if err == nil {
			return time.UnixMilli(ms).UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("unrecognised date %q", s)
}

func parseMailbox(raw json.RawMessage) (tenant.Mailbox, error) {
	o, err := parseObj(raw)
	if err != nil {
		return tenant.Mailbox{}, fmt.Errorf("exo: mailbox: %w", err)
	}
	m := tenant.Mailbox{
		ExchangeGUID:              o.str("ExchangeGuid"),
		ArchiveGUID:               o.str("ArchiveGuid"),
		DistinguishedName:         o.str("DistinguishedName"),
		LegacyExchangeDN:          o.str("LegacyExchangeDN"),
		PrimarySMTPAddress:        o.str("PrimarySmtpAddress"),
		EmailAddresses:            o.strings("EmailAddresses"),
		UserPrincipalName:         o.str("UserPrincipalName"),
		Alias:                     o.str("Alias"),
		ExternalDirectoryObjectID: o.str("ExternalDirectoryObjectId"),
		RecipientTypeDetails:      o.str("RecipientTypeDetails"),
		LitigationHoldDuration:    holdDuration(o.str("LitigationHoldDuration")),
		RetentionComment:          o.str("RetentionComment"),
		InPlaceHolds:              o.strings("InPlaceHolds"),
		ArchiveStatus:             o.str("ArchiveStatus"),
	}
	var errs []error
	for _, f := range [...]struct {
		k   string
		dst *bool
	}{
		{"LitigationHoldEnabled", &m.LitigationHoldEnabled},
		{"IsInactiveMailbox", &m.IsInactiveMailbox},
		{"IsSoftDeletedByRemove", &m.IsSoftDeletedByRemove},
		{"IsSoftDeletedByDisable", &m.IsSoftDeletedByDisable},
		{"AutoExpandingArchiveEnabled", &m.AutoExpandingArchive},
	} {
		b, err := o.boolean(f.k)
		*f.dst = b
		errs = append(errs, err)
	}
	m.LitigationHoldDate, err = o.time("LitigationHoldDate")
	errs = append(errs, err)
	m.WhenSoftDeleted, err = o.time("WhenSoftDeleted")
	errs = append(errs, err)
	return m, errors.Join(errs...)
}

// holdDuration normalises LitigationHoldDuration: "Unlimited" (any case)
// or a TimeSpan "N.00:00:00"; a bare day count becomes the TimeSpan form.
func holdDuration(s string) string {
	if strings.EqualFold(s, "unlimited") {
		return "Unlimited"
	}
	if n, err := strconv.Atoi(s); err == nil {
		return strconv.Itoa(n) + ".00:00:00"
	}
	return s
}

// HoldDays reads a LitigationHoldDuration: 0 and true for "Unlimited",
// N and true for "N.00:00:00", false when it is neither.
func HoldDays(d string) (int, bool) {
	if strings.EqualFold(d, "unlimited") {
		return 0, true
	}
	days, rest, _ := strings.Cut(d, ".")
	n, err := strconv.Atoi(days)
	if err != nil || n < 0 || rest != "" && rest != "00:00:00" {
		return 0, false
	}
	return n, true
}

func parseRestore(raw json.RawMessage) (tenant.RestoreStatus, error) {
	o, err := parseObj(raw)
	if err != nil {
		return tenant.RestoreStatus{}, fmt.Errorf("exo: restore request: %w", err)
	}
	st := tenant.RestoreStatus{
		Name:         o.str("Name"),
		RequestGUID:  o.str("RequestGuid"),
		Status:       o.str("Status"),
		StatusDetail: o.str("StatusDetail"),
		TargetAlias:  o.str("TargetAlias"),
	}
	if pc := strings.TrimSuffix(strings.TrimSpace(o.str("PercentComplete")), "%"); pc != "" {
		f, err := strconv.ParseFloat(pc, 64)
		if err != nil {
			return st, fmt.Errorf("exo: PercentComplete %q: %w", pc, err)
		}
		st.PercentComplete = int(f)
	}
	return st, nil
}

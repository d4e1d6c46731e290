package sim

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/holdfast/holdfast/shared/contract"
	"github.com/holdfast/holdfast/shared/securestring"
)

// exError is a cmdlet failure, rendered in the admin API's error shape:
// {"error":{"code","message","details":[{"code":"<ErrorCategory>","target",
// "message":"<ErrorId>|<ExceptionClass>|<text>"}],"innererror":{...}}}.
type exError struct {
	status   int
	category int // System.Management.Automation.ErrorCategory
	class    string
	msg      string
	target   string
}

// PowerShell ErrorCategory values used here.
const (
	catInvalidArgument  = 5
	catInvalidOperation = 7
	catObjectNotFound   = 13
	catResourceExists   = 20
	catNotSpecified     = 0
)

const (
	clsNotFound   = "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"
	clsAmbiguous  = "Microsoft.Exchange.Configuration.Tasks.ManagementObjectAmbiguousException"
	clsParam      = "System.Management.Automation.ParameterBindingException"
	clsCmdlet     = "System.Management.Automation.CommandNotFoundException"
	clsInvalidOp  = "Microsoft.Exchange.Configuration.Tasks.TaskInvalidOperationException"
	clsArgument   = "Microsoft.Exchange.Configuration.Tasks.TaskArgumentException"
	clsRecipient  = "Microsoft.Exchange.Management.Tasks.RecipientTaskException"
	clsNameUnique = "Microsoft.Exchange.MailboxReplicationService.NameMustBeUniquePermanentException"
	clsExists     = "Microsoft.Exchange.Data.Directory.ADObjectAlreadyExistsException"
)

func (e *exError) errorID() string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(e.class))
	return fmt.Sprintf("Ex%06X", h.Sum32()&0xffffff)
}

func notFoundErr(id string) *exError {
	return &exError{status: 404, category: catObjectNotFound, class: clsNotFound, target: id,
		msg: fmt.Sprintf("The operation couldn't be performed because object '%s' couldn't be found on 'NAMPR01A001DC01.PROD.OUTLOOK.COM'.", id)}
}

func paramErr(format string, args ...any) *exError {
	return &exError{status: 400, category: catInvalidArgument, class: clsParam, msg: fmt.Sprintf(format, args...)}
}

func opErr(target, format string, args ...any) *exError {
	return &exError{status: 400, category: catInvalidOperation, class: clsInvalidOp, target: target, msg: fmt.Sprintf(format, args...)}
}

// params holds a cmdlet's parameters under their canonical names.
type params map[string]json.RawMessage

func (p params) has(n string) bool { _, ok := p[n]; return ok }

func (p params) str(n string) (string, bool, *exError) {
	raw, ok := p[n]
	if !ok {
		return "", false, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, true, nil
	}
	var num json.Number
	if err := json.Unmarshal(raw, &num); err == nil {
		return num.String(), true, nil
	}
	return "", false, paramErr("Cannot bind parameter '%s'. Cannot convert the value to type \"System.String\".", n)
}

// boolean reads a bool or switch parameter (true, "true", "$true").
func (p params) boolean(n string) (bool, *exError) {
	raw, ok := p[n]
	if !ok {
		return false, nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err == nil {
		return b, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		switch strings.ToLower(strings.TrimPrefix(s, "$")) {
		case "true", "1":
			return true, nil
		case "false", "0":
			return false, nil
		}
	}
	return false, paramErr("Cannot process argument transformation on parameter '%s'. Cannot convert value \"%s\" to type \"System.Boolean\".", n, string(raw))
}

type cmdletFunc func(s *Sim, p params) ([]map[string]any, []string, *exError)

type cmdlet struct {
	name     string
	params   []string
	required []string
	run      cmdletFunc
}

var cmdlets = []cmdlet{
	{"Get-Mailbox", []string{"Identity", "InactiveMailboxOnly", "SoftDeletedMailbox", "IncludeInactiveMailbox", "ResultSize", "Filter", "RecipientTypeDetails"}, nil, (*Sim).xGetMailbox},
	{"Set-Mailbox", []string{"Identity", "LitigationHoldEnabled", "LitigationHoldDuration", "LitigationHoldOwner", "RetentionComment", "RetentionUrl", "InactiveMailbox", "RetentionHoldEnabled", "SingleItemRecoveryEnabled", "EmailAddresses", "Force", "Confirm"}, []string{"Identity"}, (*Sim).xSetMailbox},
	{"New-MailboxRestoreRequest", []string{"Name", "SourceMailbox", "TargetMailbox", "TargetRootFolder", "SourceRootFolder", "IncludeFolders", "ExcludeFolders", "SourceIsArchive", "TargetIsArchive", "AllowLegacyDNMismatch", "ConflictResolutionOption", "AssociatedMessagesCopyOption", "ExcludeDumpster", "BatchName", "AcceptLargeDataLoss", "CompletedRequestAgeLimit", "Suspend", "Priority"}, []string{"SourceMailbox", "TargetMailbox"}, (*Sim).xNewRestore},
	{"Get-MailboxRestoreRequest", []string{"Identity", "Name", "Status", "TargetMailbox", "BatchName", "Suspend", "HighPriority", "ResultSize"}, nil, (*Sim).xGetRestore},
	{"Get-MailboxRestoreRequestStatistics", []string{"Identity", "IncludeReport", "IncludeSkippedItems", "DiagnosticInfo", "ReportOnly"}, []string{"Identity"}, (*Sim).xRestoreStats},
	{"Resume-MailboxRestoreRequest", []string{"Identity", "Confirm"}, []string{"Identity"}, (*Sim).xResumeRestore},
	{"Remove-MailboxRestoreRequest", []string{"Identity", "Confirm", "Force"}, []string{"Identity"}, (*Sim).xRemoveRestore},
	{"Undo-SoftDeletedMailbox", []string{"SoftDeletedObject", "DisplayName", "Name", "Password", "WindowsLiveID", "PublicFolder", "Confirm"}, []string{"SoftDeletedObject"}, (*Sim).xUndoSoftDeleted},
	{"New-Mailbox", []string{"InactiveMailbox", "Name", "MicrosoftOnlineServicesID", "DisplayName", "FirstName", "LastName", "Password", "ResetPasswordOnNextLogon", "Alias", "PrimarySmtpAddress"}, []string{"Name"}, (*Sim).xNewMailbox},
	{"Remove-Mailbox", []string{"Identity", "PermanentlyDelete", "Confirm", "Force"}, []string{"Identity"}, (*Sim).xRemoveMailbox},
}

func findCmdlet(name string) *cmdlet {
	for i := range cmdlets {
		if strings.EqualFold(cmdlets[i].name, name) {
			return &cmdlets[i]
		}
	}
	return nil
}

var invokePath = regexp.MustCompile(`^/adminapi/beta/([^/]+)/InvokeCommand$`)

func (s *Sim) serveExchange(w http.ResponseWriter, r *http.Request) {
	m := invokePath.FindStringSubmatch(r.URL.Path)
	if m == nil {
		s.writeExchange(w, r, 404, map[string]any{"error": map[string]any{"code": "NotFound", "message": "The requested resource does not exist."}}, 0)
		return
	}
	if r.Method != http.MethodPost {
		s.writeExchange(w, r, 405, map[string]any{"error": map[string]any{"code": "MethodNotAllowed", "message": "The requested HTTP method is not supported; use POST."}}, 0)
		return
	}
	if t := strings.ToLower(m[1]); t != s.opts.TenantID && t != strings.ToLower(s.opts.Domain) &&
		!strings.HasSuffix(t, ".onmicrosoft.com") {
		s.writeExchange(w, r, 400, map[string]any{"error": map[string]any{"code": "BadRequest", "message": "The tenant '" + m[1] + "' is not served by this endpoint."}}, 0)
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var body struct {
		CmdletInput *struct {
			CmdletName string                     `json:"CmdletName"`
			Parameters map[string]json.RawMessage `json:"Parameters"`
		} `json:"CmdletInput"`
	}
	if err := json.Unmarshal(raw, &body); err != nil || body.CmdletInput == nil || body.CmdletInput.CmdletName == "" {
		s.writeExchange(w, r, 400, map[string]any{"error": map[string]any{"code": "BadRequest", "message": "The request body must be {\"CmdletInput\":{\"CmdletName\":...,\"Parameters\":{...}}}."}}, 0)
		return
	}
	in := body.CmdletInput
	c := findCmdlet(in.CmdletName)
	op := in.CmdletName
	if c != nil {
		op = c.name
	}
	info := map[string]any{}
	for k, v := range in.Parameters {
		var x any
		_ = json.Unmarshal(v, &x)
		info[k] = x
	}
	s.notify(RequestInfo{API: "exchange", Op: op, Method: r.Method, Path: r.URL.Path, Params: info})
	v := s.decide("exchange", op)
	if v.latency > 0 {
		t := time.NewTimer(v.latency)
		select {
		case <-r.Context().Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	switch v.status {
	case 429:
		s.writeExchange(w, r, 429, map[string]any{"error": map[string]any{"code": "TooManyRequests",
			"message": "You have reached the maximum number of concurrent requests per tenant. Please wait and try again."}}, v.retryAfter)
		return
	case 503:
		s.writeExchange(w, r, 503, map[string]any{"error": map[string]any{"code": "ServiceUnavailable",
			"message": "The service is temporarily unavailable. Please try again later."}}, 0)
		return
	}
	values, warnings, xerr := s.invoke(c, in.CmdletName, in.Parameters)
	if xerr != nil {
		s.countError("exchange", op)
		// The header ExoHelper reads; its value form is UNVERIFIED (assumed:
		// the short class name).
		w.Header().Set("x-ExceptionType", xerr.class[strings.LastIndexByte(xerr.class, '.')+1:])
		s.writeExchange(w, r, xerr.status, s.exErrorBody(xerr), 0)
		return
	}
	size := 1000
	if pref := r.Header.Get("Prefer"); pref != "" {
		for _, part := range strings.Split(pref, ";") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(part), "odata.maxpagesize="); ok {
				if n, err := strconv.Atoi(v); err == nil && n >= 1 {
					size = min(n, 1000)
				}
			}
		}
	}
	from := 0
	if tok := r.URL.Query().Get("$skiptoken"); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 {
			s.writeExchange(w, r, 400, map[string]any{"error": map[string]any{"code": "BadRequest", "message": "Invalid $skiptoken."}}, 0)
			return
		}
		from = min(n, len(values))
	}
	to := min(from+size, len(values))
	if warnings == nil {
		warnings = []string{}
	}
	page := values[from:to]
	if sel := r.URL.Query().Get("$select"); sel != "" {
		// Only the page is projected: projecting every row for every page
		// made paging a large tenant quadratic.
		page = project(page, strings.Split(sel, ","))
	}
	vals := make([]any, 0, to-from)
	for _, v := range page {
		vals = append(vals, v)
	}
	out := map[string]any{
		"@odata.context":               baseURL(r) + "/adminapi/beta/" + m[1] + "/$metadata#Collection(Exchange.GenericHashTable)",
		"adminapi.warnings@odata.type": "#Collection(String)",
		"@adminapi.warnings":           warnings,
		"value":                        vals,
	}
	if to < len(values) {
		q := url.Values{}
		for k, v := range r.URL.Query() {
			q[k] = v
		}
		q.Set("$skiptoken", strconv.Itoa(to))
		out["@odata.nextLink"] = baseURL(r) + r.URL.Path + "?" + q.Encode()
	}
	s.writeExchange(w, r, 200, out, 0)
}

// invoke validates parameters and runs the cmdlet under the lock.
func (s *Sim) invoke(c *cmdlet, name string, raw map[string]json.RawMessage) ([]map[string]any, []string, *exError) {
	if c == nil {
		return nil, nil, &exError{status: 400, category: catObjectNotFound, class: clsCmdlet, target: name,
			msg: fmt.Sprintf("The term '%s' is not recognized as a name of a cmdlet, function, script file, or executable program.", name)}
	}
	p := params{}
	for k, v := range raw {
		if strings.Contains(k, "@odata") {
			continue // type annotations such as "X@odata.type"
		}
		canon := ""
		for _, n := range c.params {
			if strings.EqualFold(n, k) {
				canon = n
			}
		}
		if canon == "" {
			return nil, nil, &exError{status: 400, category: catInvalidArgument, class: clsParam, target: k,
				msg: fmt.Sprintf("A parameter cannot be found that matches parameter name '%s'.", k)}
		}
		p[canon] = v
	}
	var missing []string
	for _, n := range c.required {
		if !p.has(n) {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return nil, nil, paramErr("Cannot process command because of one or more missing mandatory parameters: %s.", strings.Join(missing, " "))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	return c.run(s, p)
}

// exErrorBody renders a cmdlet failure in the captured admin API shape
// (contract.ExoErrorBody; Microsoft365DSC issue 2998): a generic
// error.message, details[0].code "Context" (not an ErrorCategory), the
// exception class only inside details[0].message, and innererror naming the
// OData wrapper, not the cmdlet's exception.
func (s *Sim) exErrorBody(e *exError) map[string]any {
	code := "BadRequest"
	if e.status == http.StatusNotFound {
		code = "NotFound"
	}
	body := contract.ExoErrorBody{Error: contract.ExoError{
		Code:    code,
		Message: "Error executing cmdlet",
		Details: []contract.ExoErrorDetail{{Code: "Context", Target: e.target,
			Message: e.errorID() + "|" + e.class + "|" + e.msg}},
		InnerError: &contract.ExoInnerError{Message: "Error executing cmdlet",
			Type:       "Microsoft.Exchange.Admin.OData.Core.ODataServiceException",
			StackTrace: "   at Microsoft.Exchange.AdminApi.CommandInvocation.CommandInvocation.InvokeCommand(QueryContext queryContext, CmdletInvokeInputType cmdletInvokeInputType)"},
	}}
	b, _ := json.Marshal(body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

func (s *Sim) writeExchange(w http.ResponseWriter, r *http.Request, status int, body map[string]any, retryAfter int) {
	s.mu.Lock()
	reqID := s.newGUID()
	s.mu.Unlock()
	h := w.Header()
	h.Set("request-id", reqID)
	h.Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	s.exchangeRateHeaders(h)
	if retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(retryAfter))
	}
	b, _ := json.Marshal(body)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func project(values []map[string]any, sel []string) []map[string]any {
	out := make([]map[string]any, 0, len(values))
	for _, v := range values {
		p := map[string]any{}
		for _, k := range sel {
			k = strings.TrimSpace(k)
			for vk, vv := range v {
				if strings.EqualFold(vk, k) {
					p[vk] = vv
				}
			}
		}
		out = append(out, p)
	}
	return out
}

// --- identity resolution ---

type scope int

const (
	scopeActive scope = iota
	scopeSoftDeleted
	scopeInactiveOnly
	scopeIncludeInactive
	scopeAnyDeleted // soft-deleted or inactive (restore sources)
)

func (s *Sim) inScope(m *mailbox, sc scope) bool {
	active := m.state == mbActive && m.user != nil && m.user.state == userActive
	switch sc {
	case scopeActive:
		return active
	case scopeSoftDeleted, scopeAnyDeleted:
		return m.state == mbSoftDeleted || m.state == mbInactive
	case scopeInactiveOnly:
		return m.state == mbInactive
	case scopeIncludeInactive:
		return active || m.state == mbInactive
	}
	return false
}

func identityMatches(m *mailbox, id string) bool {
	for _, v := range []string{m.ExchangeGuid, m.Guid, m.DN, m.LegacyDN, m.UPN, m.PrimarySMTP, m.Alias, m.Name, m.userID} {
		if v != "" && strings.EqualFold(v, id) {
			return true
		}
	}
	return false
}

func (s *Sim) resolve(id string, sc scope) (*mailbox, *exError) {
	var in []*mailbox
	for _, m := range s.mailbox {
		if s.inScope(m, sc) {
			in = append(in, m)
		}
	}
	return resolveIn(in, id)
}

// resolveIn finds the one mailbox of ms that id names.
func resolveIn(ms []*mailbox, id string) (*mailbox, *exError) {
	id = strings.TrimSpace(id)
	var found []*mailbox
	for _, m := range ms {
		if identityMatches(m, id) {
			found = append(found, m)
		}
	}
	switch len(found) {
	case 0:
		return nil, notFoundErr(id)
	case 1:
		return found[0], nil
	}
	return nil, &exError{status: 400, category: catInvalidArgument, class: clsAmbiguous, target: id,
		msg: fmt.Sprintf("The operation couldn't be performed because '%s' matches multiple entries.", id)}
}

var guidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// dnOrGUID reports whether id is a DistinguishedName or a GUID: the only
// identities that are unique among active and inactive mailboxes.
func dnOrGUID(id string) bool {
	return guidRe.MatchString(id) || strings.HasPrefix(strings.ToUpper(id), "CN=")
}

// --- formats ---

func exDate(t time.Time) string    { return t.UTC().Format("2006-01-02T15:04:05.0000000+00:00") }
func exDateUTC(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.0000000Z") }

func exDatePtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return exDate(*t)
}

func exDateUTCPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return exDateUTC(*t)
}

func (s *Sim) mailboxJSON(m *mailbox) map[string]any {
	var holdDate any
	if m.holdEnabled {
		holdDate = exDate(m.holdSetAt)
	}
	archiveStatus, archiveState, archiveName := "None", "None", []any{}
	if m.hasArchive {
		archiveStatus, archiveState = "Active", "HostedProvisioned"
		archiveName = []any{"In-Place Archive - " + m.DisplayName}
	}
	softStatus := 0
	if m.state == mbSoftDeleted || m.state == mbInactive {
		softStatus = 1
	}
	holds := append([]any{}, anySlice(m.inPlaceHolds)...)
	caps := []any{}
	if m.user != nil && m.user.state == userActive {
		for _, a := range m.user.Licenses {
			for _, p := range a.SKU.Plans {
				switch p.Name {
				case planExchangeEnterprise.Name:
					caps = append(caps, "BPOS_S_Enterprise")
				case planExchangeStandard.Name:
					caps = append(caps, "BPOS_S_Standard")
				}
			}
		}
	}
	accountDisabled := m.user == nil || m.user.state != userActive || !m.user.AccountEnabled
	return map[string]any{
		"Identity": m.Name, "Id": m.Name, "Name": m.Name, "Alias": m.Alias, "DisplayName": m.DisplayName,
		"UserPrincipalName": m.UPN, "PrimarySmtpAddress": m.PrimarySMTP, "WindowsEmailAddress": m.PrimarySMTP,
		"MicrosoftOnlineServicesID": m.UPN,
		"EmailAddresses":            append([]any{"SMTP:" + m.PrimarySMTP}, anySlice(m.x500)...),
		"Guid":                      m.Guid, "Guid@odata.type": "#Guid", "ExchangeObjectId": m.Guid,
		"ExchangeGuid": m.ExchangeGuid, "ExchangeGuid@odata.type": "#Guid",
		"ArchiveGuid": m.ArchiveGuid, "ArchiveGuid@odata.type": "#Guid",
		"ArchiveStatus": archiveStatus, "ArchiveState": archiveState, "ArchiveName": archiveName,
		"AutoExpandingArchiveEnabled": m.autoExpanding,
		"DistinguishedName":           m.DN, "LegacyExchangeDN": m.LegacyDN,
		"ExternalDirectoryObjectId": m.userID,
		"RecipientType":             "UserMailbox", "RecipientTypeDetails": "UserMailbox",
		"LitigationHoldEnabled": m.holdEnabled, "LitigationHoldDate": holdDate,
		"LitigationHoldDuration": m.holdDuration, "LitigationHoldOwner": m.holdOwner,
		"RetentionComment": m.retentionComment, "RetentionUrl": m.retentionURL,
		"InPlaceHolds": holds, "ComplianceTagHoldApplied": false, "DelayHoldApplied": false,
		"DelayReleaseHoldApplied": false, "WasInactiveMailbox": m.wasInactive,
		"InactiveMailboxRetireTime": nil, "OrphanSoftDeleteTrackingTime": nil,
		"IsInactiveMailbox": m.state == mbInactive, "IsSoftDeletedByRemove": m.byRemove && m.state != mbActive,
		"IsSoftDeletedByDisable": m.byDisable && m.state != mbActive,
		"WhenSoftDeleted":        exDatePtr(m.softDeletedAt), "WhenSoftDeletedUTC": exDateUTCPtr(m.softDeletedAt),
		"RecipientSoftDeletedStatus": softStatus,
		"RetentionHoldEnabled":       m.retentionHold, "RetainDeletedItemsFor": m.retainDeleted,
		"SingleItemRecoveryEnabled": true, "PersistedCapabilities": caps,
		"IsDirSynced": m.user != nil && m.user.Synced, "AccountDisabled": accountDisabled,
		"IsMailboxEnabled": true,
		"WhenCreated":      exDate(m.created), "WhenCreatedUTC": exDateUTC(m.created),
		"WhenChanged": exDate(s.now()), "WhenChangedUTC": exDateUTC(s.now()),
		"Database": "NAMPR01DG001-db001",
	}
}

func anySlice(ss []string) []any {
	out := make([]any, 0, len(ss))
	for _, s := range ss {
		out = append(out, s)
	}
	return out
}

// --- cmdlets ---

func (s *Sim) xGetMailbox(p params) ([]map[string]any, []string, *exError) {
	if p.has("Filter") {
		return nil, nil, paramErr("The simulator does not evaluate OPATH -Filter; use -Identity or a scope switch.")
	}
	if p.has("RecipientTypeDetails") {
		return nil, nil, paramErr("The simulator does not support -RecipientTypeDetails; every mailbox is a UserMailbox.")
	}
	sc := scopeActive
	n := 0
	for _, sw := range []struct {
		name string
		sc   scope
	}{{"SoftDeletedMailbox", scopeSoftDeleted}, {"InactiveMailboxOnly", scopeInactiveOnly}, {"IncludeInactiveMailbox", scopeIncludeInactive}} {
		on, err := p.boolean(sw.name)
		if err != nil {
			return nil, nil, err
		}
		if on {
			sc = sw.sc
			n++
		}
	}
	if n > 1 {
		return nil, nil, paramErr("Parameter set cannot be resolved using the specified named parameters.")
	}
	limit := 1000
	if rs, ok, err := p.str("ResultSize"); err != nil {
		return nil, nil, err
	} else if ok {
		if strings.EqualFold(rs, "Unlimited") {
			limit = -1
		} else if v, err := strconv.Atoi(rs); err == nil && v > 0 {
			limit = v
		} else {
			return nil, nil, paramErr("Cannot bind parameter 'ResultSize'. Cannot convert value \"%s\" to type \"Microsoft.Exchange.Data.Unlimited`1[System.UInt32]\".", rs)
		}
	}
	// Get-Mailbox shows what Exchange knows, which may lag behind the
	// directory (Realism.ExchangeLag); other cmdlets act on the truth.
	var shown []*mailbox
	for _, m := range s.mailbox {
		if v := s.shown(m); v != nil && s.inScope(v, sc) {
			shown = append(shown, v)
		}
	}
	if id, ok, err := p.str("Identity"); err != nil {
		return nil, nil, err
	} else if ok {
		m, xerr := resolveIn(shown, id)
		if xerr != nil {
			return nil, nil, xerr
		}
		return []map[string]any{s.mailboxJSON(m)}, nil, nil
	}
	var out []map[string]any
	var warn []string
	for _, m := range shown {
		if limit >= 0 && len(out) == limit {
			warn = append(warn, "There are more results available than are currently displayed. To view them, increase the value for the ResultSize parameter.")
			break
		}
		out = append(out, s.mailboxJSON(m))
	}
	return out, warn, nil
}

func parseHoldDuration(p params) (string, bool, *exError) {
	raw, ok := p["LitigationHoldDuration"]
	if !ok {
		return "", false, nil
	}
	var n int
	if err := json.Unmarshal(raw, &n); err == nil {
		if n < 1 {
			return "", false, paramErr("Cannot process argument transformation on parameter 'LitigationHoldDuration'. The value must be a positive number of days or Unlimited.")
		}
		return fmt.Sprintf("%d.00:00:00", n), true, nil
	}
	var str string
	if err := json.Unmarshal(raw, &str); err == nil {
		if strings.EqualFold(str, "Unlimited") {
			return "Unlimited", true, nil
		}
		if v, err := strconv.Atoi(str); err == nil && v > 0 {
			return fmt.Sprintf("%d.00:00:00", v), true, nil
		}
	}
	return "", false, paramErr("Cannot process argument transformation on parameter 'LitigationHoldDuration'. Cannot convert value %s to type \"Microsoft.Exchange.Data.Unlimited`1[Microsoft.Exchange.Data.EnhancedTimeSpan]\".", string(raw))
}

func (s *Sim) xSetMailbox(p params) ([]map[string]any, []string, *exError) {
	id, _, err := p.str("Identity")
	if err != nil {
		return nil, nil, err
	}
	inactive, err := p.boolean("InactiveMailbox")
	if err != nil {
		return nil, nil, err
	}
	var m *mailbox
	var xerr *exError
	if inactive {
		if !dnOrGUID(id) {
			return nil, nil, &exError{status: 400, category: catInvalidArgument, class: clsArgument, target: id,
				msg: "When you use the InactiveMailbox switch, identify the mailbox by its DistinguishedName or ExchangeGuid value."}
		}
		for _, n := range []string{"RetentionHoldEnabled", "SingleItemRecoveryEnabled"} {
			if p.has(n) {
				return nil, nil, opErr(id, "Only Litigation Hold settings can be changed on an inactive mailbox; '%s' can't be used with the InactiveMailbox switch.", n)
			}
		}
		m, xerr = s.resolve(id, scopeInactiveOnly)
	} else {
		m, xerr = s.resolve(id, scopeActive)
	}
	if xerr != nil {
		return nil, nil, xerr
	}
	enable, hasEnable := false, p.has("LitigationHoldEnabled")
	if hasEnable {
		if enable, err = p.boolean("LitigationHoldEnabled"); err != nil {
			return nil, nil, err
		}
	}
	if hasEnable && enable {
		s.holdReqs[m]++
	}
	dur, hasDur, err := parseHoldDuration(p)
	if err != nil {
		return nil, nil, err
	}
	if hasEnable && enable && !inactive && !m.holdEnabled && !m.user.holdAllowed() {
		return nil, nil, &exError{status: 400, category: catInvalidOperation, class: clsRecipient, target: id,
			msg: fmt.Sprintf("The mailbox '%s' doesn't have a license that allows Litigation Hold. Litigation Hold requires Exchange Online Plan 2, or Exchange Online Plan 1 with the Exchange Online Archiving add-on.", id)}
	}
	var owner, comment, rurl string
	var hasOwner, hasComment, hasURL bool
	if owner, hasOwner, err = p.str("LitigationHoldOwner"); err != nil {
		return nil, nil, err
	}
	if comment, hasComment, err = p.str("RetentionComment"); err != nil {
		return nil, nil, err
	}
	if rurl, hasURL, err = p.str("RetentionUrl"); err != nil {
		return nil, nil, err
	}
	var rh, sir bool
	if rh, err = p.boolean("RetentionHoldEnabled"); err != nil {
		return nil, nil, err
	}
	if _, err = p.boolean("SingleItemRecoveryEnabled"); err != nil {
		return nil, nil, err
	}
	_ = sir
	var addX500 []string
	if p.has("EmailAddresses") {
		if inactive {
			return nil, nil, opErr(id, "Only Litigation Hold settings can be changed on an inactive mailbox; 'EmailAddresses' can't be used with the InactiveMailbox switch.")
		}
		if addX500, xerr = s.emailAddressesAdd(m, id, p["EmailAddresses"]); xerr != nil {
			return nil, nil, xerr
		}
	}
	now := s.now()
	for _, a := range addX500 {
		if !slices.ContainsFunc(m.x500, func(x string) bool { return strings.EqualFold(x, a) }) {
			m.x500 = append(m.x500, a)
		}
	}
	var warn []string
	if hasEnable {
		switch {
		case enable && !m.holdEnabled:
			s.startHoldLag(m, now)
			s.setHold(m, now)
			warn = append(warn, "The Litigation Hold setting may take up to 60 minutes to take effect.")
		case !enable && m.holdEnabled:
			s.startHoldLag(m, now)
			s.removeHold(m, now)
		}
	}
	if hasDur {
		m.holdDuration = dur
	}
	if hasOwner {
		m.holdOwner = owner
	}
	if hasComment {
		m.retentionComment = comment
	}
	if hasURL {
		m.retentionURL = rurl
	}
	if p.has("RetentionHoldEnabled") {
		m.retentionHold = rh
	}
	return nil, warn, nil
}

// emailAddressesAdd reads -EmailAddresses in the add/remove form Learn
// documents (@{Add=...}), which the REST surface carries as an object with
// "@odata.type":"#Exchange.GenericHashTable" (ExoHelper, CIPP). Only X500
// additions are modelled; anything else is refused rather than ignored. An
// X500 address another recipient already has is a conflict, as proxy
// addresses are unique.
func (s *Sim) emailAddressesAdd(target *mailbox, id string, raw json.RawMessage) ([]string, *exError) {
	var h map[string]json.RawMessage
	if json.Unmarshal(raw, &h) != nil {
		return nil, paramErr("Cannot process argument transformation on parameter 'EmailAddresses'. holdfast's simulator only models the @{Add=...} form.")
	}
	var typ string
	if json.Unmarshal(h["@odata.type"], &typ) != nil || typ != "#Exchange.GenericHashTable" {
		return nil, paramErr("Cannot process argument transformation on parameter 'EmailAddresses'. A hashtable needs \"@odata.type\":\"#Exchange.GenericHashTable\".")
	}
	var adds []string
	for k, v := range h {
		switch strings.ToLower(k) {
		case "@odata.type":
		case "add":
			var one string
			if json.Unmarshal(v, &one) == nil {
				adds = append(adds, one)
			} else if json.Unmarshal(v, &adds) != nil {
				return nil, paramErr("Cannot process argument transformation on parameter 'EmailAddresses'. Add must be an address or a list of addresses.")
			}
		default:
			return nil, paramErr("Cannot process argument transformation on parameter 'EmailAddresses'. The simulator models Add only, not '%s'.", k)
		}
	}
	for _, a := range adds {
		if len(a) < 6 || !strings.EqualFold(a[:5], "X500:") {
			return nil, paramErr("The simulator models X500 proxy addresses only, not '%s'.", a)
		}
		for _, o := range s.mailbox {
			if o != target && o.state == mbActive && slices.ContainsFunc(o.x500, func(x string) bool { return strings.EqualFold(x, a) }) {
				return nil, &exError{status: 400, category: catResourceExists, class: clsRecipient, target: id,
					msg: fmt.Sprintf("The proxy address \"%s\" is already being used by the proxy addresses or LegacyExchangeDN of \"%s\". Please choose another proxy address.", a, o.Name)}
			}
		}
	}
	return adds, nil
}

var conflictOptions = []string{"ForceCopy", "KeepAll", "KeepLatestItem", "KeepSourceItem", "KeepTargetItem", "UpdateFromSource"}

func (s *Sim) xNewRestore(p params) ([]map[string]any, []string, *exError) {
	src, _, err := p.str("SourceMailbox")
	if err != nil {
		return nil, nil, err
	}
	tgt, _, err := p.str("TargetMailbox")
	if err != nil {
		return nil, nil, err
	}
	flags := map[string]bool{}
	for _, n := range []string{"SourceIsArchive", "TargetIsArchive", "AllowLegacyDNMismatch", "ExcludeDumpster", "Suspend", "AcceptLargeDataLoss"} {
		b, err := p.boolean(n)
		if err != nil {
			return nil, nil, err
		}
		flags[n] = b
	}
	cro, hasCRO, err := p.str("ConflictResolutionOption")
	if err != nil {
		return nil, nil, err
	}
	if hasCRO {
		ok := false
		for _, o := range conflictOptions {
			if strings.EqualFold(o, cro) {
				cro, ok = o, true
			}
		}
		if !ok {
			return nil, nil, paramErr("Cannot process argument transformation on parameter 'ConflictResolutionOption'. Cannot convert value \"%s\" to type \"Microsoft.Exchange.MailboxReplicationService.ConflictResolutionOption\". Valid values: %s.", cro, strings.Join(conflictOptions, ", "))
		}
	} else {
		cro = "KeepSourceItem"
	}
	source, xerr := s.resolve(src, scopeAnyDeleted)
	if xerr != nil {
		return nil, nil, xerr
	}
	target, xerr := s.resolve(tgt, scopeActive)
	if xerr != nil {
		return nil, nil, xerr
	}
	if source.autoExpanding {
		return nil, nil, opErr(src, "The source mailbox has an auto-expanding archive. Inactive or soft-deleted mailboxes with auto-expanding archiving can't be restored; use a content search export instead.")
	}
	if flags["SourceIsArchive"] && !source.hasArchive {
		return nil, nil, opErr(src, "The source mailbox '%s' doesn't have an archive.", src)
	}
	if flags["TargetIsArchive"] && !target.hasArchive {
		return nil, nil, opErr(tgt, "The target mailbox '%s' doesn't have an archive.", tgt)
	}
	// Learn: the source's LegacyExchangeDN must be on the target as its
	// LegacyExchangeDN or as an X500 proxy address, unless the switch is
	// given (which is being deprecated in the cloud).
	if !flags["AllowLegacyDNMismatch"] && !strings.EqualFold(source.LegacyDN, target.LegacyDN) &&
		!slices.ContainsFunc(target.x500, func(x string) bool { return strings.EqualFold(x, "X500:"+source.LegacyDN) }) {
		return nil, nil, opErr(tgt, "The LegacyExchangeDN of the source mailbox isn't present on the target mailbox as its LegacyExchangeDN or as an X500 proxy address. Use the AllowLegacyDNMismatch switch to restore anyway.")
	}
	name, hasName, err := p.str("Name")
	if err != nil {
		return nil, nil, err
	}
	taken := func(n string) bool {
		for _, r := range s.requests {
			if !r.removed && r.target == target && strings.EqualFold(r.Name, n) {
				return true
			}
		}
		return false
	}
	if hasName {
		if taken(name) {
			return nil, nil, &exError{status: 400, category: catResourceExists, class: clsNameUnique, target: tgt,
				msg: fmt.Sprintf("The name must be unique per target mailbox. There is already a request called '%s\\%s'.", target.Alias, name)}
		}
	} else {
		name = "MailboxRestore"
		for i := 1; taken(name); i++ {
			if i > 9 {
				return nil, nil, &exError{status: 400, category: catResourceExists, class: clsNameUnique, target: tgt,
					msg: "Couldn't find a unique name for the restore request; specify -Name."}
			}
			name = fmt.Sprintf("MailboxRestore%d", i)
		}
	}
	trf, _, err := p.str("TargetRootFolder")
	if err != nil {
		return nil, nil, err
	}
	batch, _, err := p.str("BatchName")
	if err != nil {
		return nil, nil, err
	}
	now := s.now()
	r := &restoreReq{Name: name, Guid: s.newGUID(), BatchName: batch, source: source, target: target,
		sourceKey: source.reportKey, targetKey: target.reportKey, TargetRootFolder: trf,
		SourceIsArchive: flags["SourceIsArchive"], TargetIsArchive: flags["TargetIsArchive"],
		AllowLegacyDNMismatch: flags["AllowLegacyDNMismatch"], ConflictResolutionOption: cro,
		ExcludeDumpster: flags["ExcludeDumpster"], status: "Queued", queuedAt: now}
	// The Mailbox Replication Service queues requests: 1 to 15 minutes,
	// fixed per request so runs repeat.
	h := fnv.New32a()
	_, _ = h.Write([]byte(r.Guid))
	r.startAt = now.Add(time.Minute + time.Duration(h.Sum32()%15)*time.Minute)
	if len(s.nextScript) > 0 {
		for _, st := range s.nextScript {
			if st == "CompletedWithWarning" {
				r.warning = true
			} else {
				r.script = append(r.script, st)
			}
		}
		s.nextScript = nil
	}
	if flags["Suspend"] {
		r.status = "Suspended"
	}
	if s.failNext {
		r.failOnce = true
		s.failNext = false
	}
	s.requests = append(s.requests, r)
	s.touch(r)
	return []map[string]any{s.restoreJSON(r)}, nil, nil
}

func (s *Sim) restoreJSON(r *restoreReq) map[string]any {
	return map[string]any{
		"Name": r.Name, "Identity": r.target.Alias + "\\" + r.Name, "RequestGuid": r.Guid, "Status": r.status,
		"TargetMailbox": r.target.Alias, "SourceMailbox": r.source.ExchangeGuid, "BatchName": r.BatchName,
		"RequestStyle": "IntraOrg", "Direction": "Pull", "Flags": "IntraOrg, Pull", "Suspend": r.status == "Suspended",
		"TargetIsArchive": r.TargetIsArchive, "SourceIsArchive": r.SourceIsArchive, "WhenCreated": exDate(r.queuedAt),
	}
}

// statusDetail values are UNVERIFIED beyond their names appearing in
// public scripts; holdfast only records them.
func statusDetail(r *restoreReq) string {
	switch r.status {
	case "InProgress":
		return "CopyingMessages"
	case "Retrying":
		return "StalledDueToTarget_MdbAvailability"
	case "Synced":
		return "IncrementalSync"
	case "CompletionInProgress":
		return "Finalization"
	case "Failed":
		return "FailedOther"
	}
	return r.status
}

func (s *Sim) statsJSON(r *restoreReq) map[string]any {
	now := s.now()
	n := r.items
	if r.status != "Completed" {
		n = r.source.items
		if r.SourceIsArchive {
			n = r.source.archiveItems
		}
	}
	pct := r.percent(now)
	const itemBytes = 75 * 1024
	size := func(b int64) string { return fmt.Sprintf("%.3f MB (%s bytes)", float64(b)/(1<<20), commas(b)) }
	transferred := int64(n) * itemBytes * int64(pct) / 100
	var start, done, failed any
	if r.status != "Queued" && !(r.status == "Suspended" && r.startAt.IsZero()) {
		start = exDate(r.startAt)
	}
	done = exDatePtr(r.completedAt)
	failed = exDatePtr(r.failedAt)
	var msg any
	if r.failureMsg != "" {
		msg = r.failureMsg
	}
	var ft any
	if r.failureType != "" {
		ft = r.failureType
	}
	return map[string]any{
		"Name": r.Name, "Identity": r.target.Alias + "\\" + r.Name, "RequestGuid": r.Guid, "Status": r.status,
		"StatusDetail": statusDetail(r), "PercentComplete": pct, "TargetAlias": r.target.Alias,
		"TargetMailboxIdentity": r.target.Name, "SourceMailboxIdentity": r.source.Name, "BatchName": r.BatchName,
		"TargetRootFolder": r.TargetRootFolder, "SourceIsArchive": r.SourceIsArchive, "TargetIsArchive": r.TargetIsArchive,
		"AllowLegacyDNMismatch": r.AllowLegacyDNMismatch, "ConflictResolutionOption": r.ConflictResolutionOption,
		"ExcludeDumpster": r.ExcludeDumpster, "EstimatedTransferSize": size(int64(n) * itemBytes),
		"EstimatedTransferItemCount": n, "ItemsTransferred": int64(n) * int64(pct) / 100,
		"BytesTransferred": size(transferred), "BytesTransferredPerMinute": size(int64(itemBytes) * 1000 / 10),
		"QueuedTimestamp": exDate(r.queuedAt), "StartTimestamp": start, "CompletionTimestamp": done,
		"FailureTimestamp": failed, "FailureType": ft, "Message": msg, "DataConsistencyScore": "Perfect",
	}
}

func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func (s *Sim) findRequest(id string) (*restoreReq, *exError) {
	for _, r := range s.requests {
		if r.removed {
			continue
		}
		if strings.EqualFold(r.Guid, id) || strings.EqualFold(r.target.Alias+"\\"+r.Name, id) {
			return r, nil
		}
	}
	return nil, notFoundErr(id)
}

func (s *Sim) xGetRestore(p params) ([]map[string]any, []string, *exError) {
	id, hasID, err := p.str("Identity")
	if err != nil {
		return nil, nil, err
	}
	status, hasStatus, err := p.str("Status")
	if err != nil {
		return nil, nil, err
	}
	if hasID && (hasStatus || p.has("Name") || p.has("TargetMailbox") || p.has("BatchName")) {
		return nil, nil, paramErr("Parameter set cannot be resolved using the specified named parameters.")
	}
	if hasID {
		r, xerr := s.findRequest(id)
		if xerr != nil {
			return nil, nil, xerr
		}
		return []map[string]any{s.restoreJSON(r)}, nil, nil
	}
	name, hasName, err := p.str("Name")
	if err != nil {
		return nil, nil, err
	}
	batch, hasBatch, err := p.str("BatchName")
	if err != nil {
		return nil, nil, err
	}
	var target *mailbox
	if t, ok, err := p.str("TargetMailbox"); err != nil {
		return nil, nil, err
	} else if ok {
		m, xerr := s.resolve(t, scopeActive)
		if xerr != nil {
			return nil, nil, xerr
		}
		target = m
	}
	out := []map[string]any{}
	for _, r := range s.requests {
		if r.removed || hasStatus && !strings.EqualFold(r.status, status) || hasName && !strings.EqualFold(r.Name, name) ||
			hasBatch && !strings.EqualFold(r.BatchName, batch) || target != nil && r.target != target {
			continue
		}
		out = append(out, s.restoreJSON(r))
	}
	return out, nil, nil
}

func (s *Sim) xRestoreStats(p params) ([]map[string]any, []string, *exError) {
	for _, n := range []string{"IncludeReport", "IncludeSkippedItems", "ReportOnly"} {
		if _, err := p.boolean(n); err != nil {
			return nil, nil, err
		}
	}
	id, _, err := p.str("Identity")
	if err != nil {
		return nil, nil, err
	}
	r, xerr := s.findRequest(id)
	if xerr != nil {
		return nil, nil, xerr
	}
	return []map[string]any{s.statsJSON(r)}, nil, nil
}

func (s *Sim) xResumeRestore(p params) ([]map[string]any, []string, *exError) {
	id, _, err := p.str("Identity")
	if err != nil {
		return nil, nil, err
	}
	r, xerr := s.findRequest(id)
	if xerr != nil {
		return nil, nil, xerr
	}
	// Learn: Resume-MailboxRestoreRequest resumes a request that was
	// suspended or failed; AutoSuspended is the service's suspension.
	if r.status != "Failed" && r.status != "Suspended" && r.status != "AutoSuspended" {
		return nil, nil, opErr(id, "The request '%s' can't be resumed because it's %s.", id, r.status)
	}
	if r.source.state == mbPurged || r.target.state == mbPurged {
		return nil, nil, opErr(id, "The source or target mailbox of '%s' no longer exists.", id)
	}
	now := s.now()
	r.status, r.failedAt, r.failAt, r.failureType, r.failureMsg = "Queued", nil, nil, "", ""
	r.troubleAt, r.resumeAt = nil, nil
	r.startAt = now.Add(time.Minute)
	s.touch(r)
	return nil, nil, nil
}

func (s *Sim) xRemoveRestore(p params) ([]map[string]any, []string, *exError) {
	id, _, err := p.str("Identity")
	if err != nil {
		return nil, nil, err
	}
	r, xerr := s.findRequest(id)
	if xerr != nil {
		return nil, nil, xerr
	}
	r.removed = true
	if restoreActive(r.status) {
		r.status = "Removed" // stops the schedule; content is not copied
	}
	return nil, nil, nil
}

// checkPassword enforces -Password as the admin API receives a
// SecureString (package securestring): base64 of an RSA PKCS#1 v1.5
// ciphertext under the simulator's public key (SecureStringKeyXML), holding
// a strong password. Plain text is refused: the real service's handling of
// it is UNVERIFIED, and holdfast must never depend on it.
func (s *Sim) checkPassword(p params) *exError {
	if !p.has("Password") {
		return paramErr("Cannot process command because of one or more missing mandatory parameters: Password.")
	}
	v, _, xerr := p.str("Password")
	if xerr != nil {
		return xerr
	}
	ct, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return paramErr("Cannot process argument transformation on parameter 'Password'. The value is not an encrypted SecureString.")
	}
	//lint:ignore SA1019 the service's padding (see package securestring).
	pt, err := rsa.DecryptPKCS1v15(nil, s.secureStringKeyLocked(), ct)
	if err != nil {
		return paramErr("Cannot process argument transformation on parameter 'Password'. The value could not be decrypted with the service's key.")
	}
	if !securestring.Strong(string(pt)) {
		return &exError{status: 400, category: catInvalidArgument, class: clsArgument,
			msg: "The password does not comply with the password complexity requirements."}
	}
	return nil
}

func (s *Sim) xUndoSoftDeleted(p params) ([]map[string]any, []string, *exError) {
	id, _, err := p.str("SoftDeletedObject")
	if err != nil {
		return nil, nil, err
	}
	// Microsoft's documented form passes -WindowsLiveID and -Password; the
	// simulator requires the password always, the pessimistic reading.
	if xerr := s.checkPassword(p); xerr != nil {
		return nil, nil, xerr
	}
	m, xerr := s.resolve(id, scopeSoftDeleted)
	if xerr != nil {
		return nil, nil, xerr
	}
	now := s.now()
	if !m.byRemove {
		return nil, nil, opErr(id, "The mailbox was soft-deleted by deleting its user account in Microsoft Entra ID. Restore the user account instead; restoring from a different source than the deletion fails.")
	}
	if m.softDeletedAt != nil && now.Sub(*m.softDeletedAt) > retentionWindow {
		return nil, nil, notFoundErr(id)
	}
	u := m.user
	switch {
	case u != nil && u.state == userDeleted:
		if err := s.restoreUser(u, now); err != nil {
			return nil, nil, opErr(id, "%v", err)
		}
	default:
		upn, ok, err := p.str("WindowsLiveID")
		if err != nil {
			return nil, nil, err
		}
		if !ok || !p.has("Password") {
			return nil, nil, paramErr("The user account of this mailbox no longer exists; specify WindowsLiveID and Password to create one.")
		}
		if s.activeUserByUPN(upn) != nil {
			return nil, nil, &exError{status: 400, category: catResourceExists, class: clsExists, target: upn, msg: fmt.Sprintf("The WindowsLiveID '%s' is already in use.", upn)}
		}
		nu := s.newUser(upn, m.DisplayName, now)
		s.users = append(s.users, nu)
		s.adopt(m, nu)
		m.unlicensedSince = tp(now)
		s.touch(m)
		s.emit(nu, "updated", now)
	}
	return []map[string]any{s.mailboxJSON(m)}, nil, nil
}

// adopt attaches mailbox m to user nu, active.
func (s *Sim) adopt(m *mailbox, nu *user) {
	nu.mailbox = m
	m.user, m.userID = nu, nu.ID
	m.UPN, m.PrimarySMTP = nu.UPN, nu.UPN
	m.state = mbActive
	m.softDeletedAt, m.purgeAt = nil, nil
	m.byRemove, m.byDisable = false, false
}

func (s *Sim) xNewMailbox(p params) ([]map[string]any, []string, *exError) {
	id, ok, err := p.str("InactiveMailbox")
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, paramErr("The simulator supports New-Mailbox only with -InactiveMailbox (recovering an inactive mailbox).")
	}
	if !dnOrGUID(id) {
		return nil, nil, &exError{status: 400, category: catInvalidArgument, class: clsArgument, target: id,
			msg: "Identify the inactive mailbox by its DistinguishedName or ExchangeGuid value."}
	}
	upn, ok, err := p.str("MicrosoftOnlineServicesID")
	if err != nil {
		return nil, nil, err
	}
	if !ok || !strings.Contains(upn, "@") {
		return nil, nil, paramErr("Cannot process command because of one or more missing mandatory parameters: MicrosoftOnlineServicesID.")
	}
	name, _, err := p.str("Name")
	if err != nil {
		return nil, nil, err
	}
	// Learn: -Password is required in the InactiveMailbox parameter set.
	if xerr := s.checkPassword(p); xerr != nil {
		return nil, nil, xerr
	}
	if _, err := p.boolean("ResetPasswordOnNextLogon"); err != nil {
		return nil, nil, err
	}
	m, xerr := s.resolve(id, scopeInactiveOnly)
	if xerr != nil {
		return nil, nil, xerr
	}
	if m.userID != "" {
		return nil, nil, opErr(id, "The inactive mailbox can't be recovered because its user account is still in the Microsoft Entra ID recycle bin (ExternalDirectoryObjectId is set). Restore the user account instead, or recover the mailbox after the 30-day soft-deletion period.")
	}
	if m.autoExpanding {
		return nil, nil, opErr(id, "Inactive mailboxes with auto-expanding archiving can't be recovered.")
	}
	if s.activeUserByUPN(upn) != nil {
		return nil, nil, &exError{status: 400, category: catResourceExists, class: clsExists, target: upn, msg: fmt.Sprintf("The MicrosoftOnlineServicesID '%s' is already in use.", upn)}
	}
	if s.mailboxByName(name) != nil {
		return nil, nil, &exError{status: 400, category: catResourceExists, class: clsExists, target: name, msg: fmt.Sprintf("The name '%s' is already being used. Please try another name.", name)}
	}
	now := s.now()
	display, _, _ := p.str("DisplayName")
	if display == "" {
		display = name
	}
	nu := s.newUser(upn, display, now)
	// New accounts get no usage location: assigning a licence needs one.
	nu.disableAt = tp(now.Add(retentionWindow))
	s.users = append(s.users, nu)
	s.adopt(m, nu)
	alias, ok, _ := p.str("Alias")
	if !ok {
		alias, _, _ = strings.Cut(upn, "@")
	}
	m.Name, m.Alias, m.DisplayName = name, alias, display
	m.holdEnabled, m.holdSetAt = false, time.Time{}        // recovery removes Litigation Hold...
	m.retentionHold, m.retainDeleted = true, "30.00:00:00" // ...and sets a 30-day RetentionHold
	m.recoveredTo = upn
	m.unlicensedSince = nil
	s.touch(nu)
	s.touch(m)
	s.emit(nu, "updated", now) // creations arrive as updated
	return []map[string]any{s.mailboxJSON(m)}, nil, nil
}

func (s *Sim) xRemoveMailbox(p params) ([]map[string]any, []string, *exError) {
	id, _, err := p.str("Identity")
	if err != nil {
		return nil, nil, err
	}
	perm, err := p.boolean("PermanentlyDelete")
	if err != nil {
		return nil, nil, err
	}
	now := s.now()
	held := func(m *mailbox) *exError {
		return opErr(id, "The mailbox '%s' can't be permanently deleted because it's on hold (Litigation Hold, eDiscovery hold or a retention policy). Remove the holds first.", id)
	}
	if !perm {
		m, xerr := s.resolve(id, scopeActive)
		if xerr != nil {
			return nil, nil, xerr
		}
		s.deleteUser(m.user, now, true) // the Entra user goes to the recycle bin too
		return nil, nil, nil
	}
	if m, xerr := s.resolve(id, scopeActive); xerr == nil {
		if m.anyHold() {
			return nil, nil, held(m)
		}
		s.deleteUser(m.user, now, true)
		s.purgeMailbox(m, now, "Remove-Mailbox -PermanentlyDelete")
		return nil, nil, nil
	}
	m, xerr := s.resolve(id, scopeSoftDeleted)
	if xerr != nil {
		return nil, nil, xerr
	}
	if m.state == mbInactive || m.anyHold() {
		return nil, nil, held(m)
	}
	s.purgeMailbox(m, now, "Remove-Mailbox -PermanentlyDelete")
	return nil, nil, nil
}

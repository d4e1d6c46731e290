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
	"strconv"
	"strings"
	"time"

	"github.com/holdfast/holdfast/shared/contract"
	"github.com/holdfast/holdfast/shared/securestring"
)

// Area wire (Exchange): InvokeCommand dispatch, the cmdlet table,
// parameter binding, the admin API's error shape and date formats.

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
	s.notify(RequestInfo{API: "exchange", Op: op, Method: r.Method, Path: r.URL.Path, Params: info,
		ClientRequestID: r.Header.Get("client-request-id")})
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

// --- formats ---

func exDate(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.0000000+00:00") }

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

func anySlice(ss []string) []any {
	out := make([]any, 0, len(ss))
	for _, s := range ss {
		out = append(out, s)
	}
	return out
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

package exo

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/holdfast/holdfast/shared/contract"
	"github.com/holdfast/holdfast/shared/tenant"
)

// maxRaw bounds the verbatim response kept for an unclassified error.
const maxRaw = 2048

// signals is everything a failed answer says about what went wrong, read
// in the order ExoHelper's Get-ExoException and CIPP's New-ExoRequest use:
// details[0].message split on '|' into ErrorId, exception class and text;
// else innererror.internalexception.message; else error.message.
type signals struct {
	status int
	header string // x-ExceptionType
	id     string // ErrorId, e.g. Ex6F9304 (a hash, kept for the audit only)
	class  string // exception class, short name
	text   string // the human message
	code   string // error.code, e.g. NotFound, BadRequest
	inner  string // innererror.type, short name
}

func readSignals(status int, h http.Header, data []byte) signals {
	s := signals{status: status, header: shortClass(strings.TrimSpace(h.Get("x-ExceptionType")))}
	var b contract.ExoErrorBody
	if json.Unmarshal(data, &b) != nil {
		if len(data) <= 512 && isPrintable(string(data)) {
			s.text = strings.TrimSpace(string(data)) // a plain-text answer
		}
		return s
	}
	e := b.Error
	s.code = e.Code
	if len(e.Details) > 0 && e.Details[0].Message != "" {
		parts := strings.SplitN(e.Details[0].Message, "|", 3)
		if len(parts) == 3 {
			s.id, s.class, s.text = parts[0], shortClass(parts[1]), parts[2]
		} else {
			s.text = e.Details[0].Message
		}
	}
	if e.InnerError != nil {
		s.inner = shortClass(e.InnerError.Type)
		if ie := e.InnerError.InternalException; ie != nil {
			if s.text == "" {
				s.text = ie.Message
			}
			if s.class == "" {
				s.class = shortClass(ie.Type)
			}
		}
	}
	if s.text == "" {
		s.text = e.Message
	}
	return s
}

// parseError builds a *tenant.ServiceError from a failed response.
func parseError(status int, h http.Header, data []byte) error {
	s := readSignals(status, h, data)
	msg := strings.TrimSpace(s.text)
	if msg == "" {
		msg = http.StatusText(status)
	}
	code := s.id
	if code == "" {
		code = s.class
	}
	if code == "" {
		code = s.code
	}
	kind := classify(s)
	se := &tenant.ServiceError{Service: "exchange", Status: status, Code: code, Message: msg, Kind: kind}
	if kind == nil {
		se.Kind, se.Unclassified, se.Raw = tenant.ErrTransient, true, raw(h, data)
	}
	return se
}

// classify applies the rules in docs/contracts.md ("Exchange error
// classification"), most specific signal first. nil: no rule matched.
func classify(s signals) error {
	class := s.class
	if class == "" {
		class = s.header // the header names the class when the body does not
	}
	lc, lt := strings.ToLower(class), strings.ToLower(s.text)
	has := func(str string, subs ...string) bool {
		for _, sub := range subs {
			if strings.Contains(str, sub) {
				return true
			}
		}
		return false
	}
	switch {
	// E1 throttling: 429 (module, ExoHelper), or the tenant concurrency
	// message whatever the status (ExoHelper Invoke-ExoCommand.ps1).
	case s.status == http.StatusTooManyRequests || has(lt, "maximum number of concurrent requests"):
		return tenant.ErrThrottled
	// E2 transient server exceptions: the module's retry list, ExoHelper's
	// UnableToWriteToAad and "issue may be transient".
	case transientClass(lc) || strings.HasSuffix(lc, "transientexception") || has(lt, "may be transient"):
		return tenant.ErrTransient
	// E3 transient statuses (ExoHelper's retryable 408/503/504, plus 502).
	case s.status == http.StatusRequestTimeout || s.status == http.StatusBadGateway ||
		s.status == http.StatusServiceUnavailable || s.status == http.StatusGatewayTimeout:
		return tenant.ErrTransient
	// E4 not found: the exception class (captured body, Microsoft365DSC
	// issue 2998). A bare 404 without it is not enough: a moved endpoint
	// answers 404 too, and "not found" can end a case.
	case lc == "managementobjectnotfoundexception":
		return tenant.ErrNotFound
	// E4b the restore LegacyExchangeDN check (wording after Learn's
	// -AllowLegacyDNMismatch description; UNVERIFIED).
	case has(lt, "legacyexchangedn") && has(lt, "allowlegacydnmismatch", "isn't present", "is not present", "doesn't match", "does not match"):
		return tenant.ErrLegacyDNMismatch
	// E5 ambiguous identity: several recipients match.
	case lc == "managementobjectambiguousexception":
		return tenant.ErrConflict
	// E6 licence without Litigation Hold (message text; UNVERIFIED wording).
	case has(lt, "litigation hold") && has(lt, "licen", "isn't available", "is not available", "not allowed", "not permitted", "plan 2"):
		return tenant.ErrHoldNotAllowed
	// E7 name or object conflicts (class names; message text UNVERIFIED).
	case conflictClass(lc) || s.status == http.StatusConflict ||
		has(lt, "already exists", "already in use", "already being used", "used by another", "already a request"):
		return tenant.ErrConflict
	// E8 documented refusals (auto-expanding archive, held mailbox purge).
	case has(lt, "auto-expanding archiv", "autoexpanding archiv", "restore the user account instead") ||
		has(lt, "on hold", "under hold") && has(lt, "can't", "cannot", "not allowed"):
		return tenant.ErrRefused
	}
	return nil
}

// transientClass: server exceptions the ExchangeOnlineManagement module
// retries (as listed in the reference notes), plus ExoHelper's
// UnableToWriteToAadException.
func transientClass(lc string) bool {
	switch lc {
	case "dcoverloadedexception", "suitabilitydirectoryexception", "serverinmmexception",
		"adserversettingschangedexception", "storagetransientexception", "unabletowritetoaadexception":
		return true
	}
	return false
}

// conflictClass: exceptions for an object or request name that exists.
func conflictClass(lc string) bool {
	return lc == "adobjectalreadyexistsexception" || lc == "namemustbeuniquepermanentexception"
}

// shortClass trims a .NET namespace: a.b.ManagementObjectNotFoundException
// becomes ManagementObjectNotFoundException.
func shortClass(s string) string {
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// raw keeps the answer for the audit: the exception header and the body,
// bounded, with control characters replaced so it cannot forge log lines.
func raw(h http.Header, data []byte) string {
	s := string(data)
	if t := h.Get("x-ExceptionType"); t != "" {
		s = "x-ExceptionType=" + t + " " + s
	}
	if len(s) > maxRaw {
		s = s[:maxRaw] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

func isPrintable(s string) bool {
	for _, r := range s {
		if r < 0x20 && r != '\n' && r != '\r' && r != '\t' {
			return false
		}
	}
	return true
}

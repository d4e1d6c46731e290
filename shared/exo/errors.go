package exo

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/holdfast/holdfast/shared/tenant"
)

// errorBody is the admin API error shape, as parsed by the EXO module,
// CIPP's New-ExoRequest and ExoHelper's Get-ExoException.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Details []struct {
			Code    string `json:"code"`
			Target  string `json:"target"`
			Message string `json:"message"`
		} `json:"details"`
		InnerError struct {
			Type              string `json:"type"`
			InternalException struct {
				Message string `json:"message"`
			} `json:"internalexception"`
		} `json:"innererror"`
	} `json:"error"`
}

// parseError builds a *tenant.ServiceError from a failed response.
// details[0].message is "<ErrorId>|<ExceptionClassName>|<human message>";
// when it is missing the innererror's exception message, then error.message,
// stand in for the human message.
func parseError(status int, data []byte) error {
	var b errorBody
	_ = json.Unmarshal(data, &b) // a non-JSON body still yields a status-based error
	e := b.Error
	var id, class, msg, category string
	if len(e.Details) > 0 {
		category = e.Details[0].Code
	}
	if len(e.Details) > 0 && e.Details[0].Message != "" {
		parts := strings.SplitN(e.Details[0].Message, "|", 3)
		switch len(parts) {
		case 3:
			id, class, msg = parts[0], parts[1], parts[2]
		case 2:
			id, msg = parts[0], parts[1]
		default:
			msg = parts[0]
		}
	}
	if msg == "" {
		msg = e.InnerError.InternalException.Message
	}
	if msg == "" {
		msg = e.Message
	}
	if msg == "" && len(data) <= 512 && !json.Valid(data) && isPrintable(string(data)) {
		msg = string(data) // a proxy's plain-text error page, say
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	code := id
	if code == "" {
		code = shortClass(class)
	}
	if code == "" {
		code = e.Code
	}
	return &tenant.ServiceError{
		Service: "exchange",
		Status:  status,
		Code:    code,
		Message: strings.TrimSpace(msg),
		Kind:    classify(status, category, strings.Join([]string{id, class, e.Code, e.InnerError.Type}, " "), msg),
	}
}

// classify maps an Exchange failure onto a tenant sentinel. Exchange puts
// the useful signal in the exception class, the PowerShell ErrorCategory
// (details[0].code) and the message text, not in the HTTP status (most
// failures are 400), so all are consulted.
func classify(status int, category, ids, msg string) error {
	li := strings.ToLower(ids)
	lm := strings.ToLower(msg)
	has := func(s string, subs ...string) bool {
		for _, sub := range subs {
			if strings.Contains(s, sub) {
				return true
			}
		}
		return false
	}
	switch {
	case status == http.StatusTooManyRequests:
		return tenant.ErrThrottled
	case has(li, "managementobjectnotfound") || status == http.StatusNotFound ||
		category == categoryObjectNotFound && !has(li, "commandnotfound") ||
		has(lm, "couldn't be found", "could not be found", "wasn't found"):
		return tenant.ErrNotFound
	case has(li, "litigationhold", "holdnotallowed") ||
		has(lm, "litigation hold") && has(lm, "licen", "isn't available", "is not available", "not allowed", "not permitted", "plan 2"):
		return tenant.ErrHoldNotAllowed
	case status == http.StatusConflict || category == categoryResourceExists ||
		has(li, "alreadyexists", "namemustbeunique", "duplicate", "conflict", "managementobjectambiguous") ||
		has(lm, "already exists", "already in use", "already being used", "used by another", "already a request"):
		return tenant.ErrConflict
	case has(li, "refused", "permanentlydelete") ||
		has(lm, "auto-expanding archiv", "autoexpanding archiv", "restore the user account instead") ||
		has(lm, "on hold", "under hold") && has(lm, "can't", "cannot", "not allowed"):
		return tenant.ErrRefused
	}
	return nil
}

// PowerShell ErrorCategory values, as details[0].code carries them.
const (
	categoryObjectNotFound = "13"
	categoryResourceExists = "20"
)

// shortClass trims a .NET namespace: a.b.ManagementObjectNotFoundException
// becomes ManagementObjectNotFoundException.
func shortClass(s string) string {
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		return s[i+1:]
	}
	return s
}

func isPrintable(s string) bool {
	for _, r := range s {
		if r < 0x20 && r != '\n' && r != '\r' && r != '\t' {
			return false
		}
	}
	return true
}

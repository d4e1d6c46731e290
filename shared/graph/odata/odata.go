// Package odata holds the parts of holdfast's Graph adapter that need no
// SDK: which fields it selects, how it writes a filter literal, and how a
// Graph failure maps onto the tenant vocabulary. Package graph uses them
// with msgraph-sdk-go; the test bed's in-process directory uses the same
// rules without it, so both read Graph's answers the same way.
package odata

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/holdfast/holdfast/shared/tenant"
)

// PageSize is the largest $top Graph accepts for users and deletedItems.
const PageSize = 999

// UserFields is the $select list: only what tenant.User carries.
func UserFields() []string {
	return []string{
		"id", "userPrincipalName", "mail", "displayName", "accountEnabled",
		"employeeId", "department", "usageLocation", "assignedLicenses",
		"onPremisesSyncEnabled",
	}
}

// DeletedUserFields adds the recycle-bin timestamp and the proxy
// addresses: a deleted user's UPN is rewritten (object id in front), so
// finding one by the address HR knows needs mail and proxyAddresses.
func DeletedUserFields() []string {
	return append(UserFields(), "deletedDateTime", "proxyAddresses")
}

// maxEmployeeID is generous: Entra limits employeeId to 16 characters.
const maxEmployeeID = 64

// EmployeeIDLiteral validates an employeeId and renders it as an OData
// string literal. The charset check keeps odd input out of the filter
// altogether; doubling the quote is what makes the literal safe even so.
func EmployeeIDLiteral(s string) (string, error) {
	if s == "" || len(s) > maxEmployeeID {
		return "", fmt.Errorf("graph: employeeId must be 1-%d characters", maxEmployeeID)
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune(" ._-@/'", r)
		if !ok {
			return "", fmt.Errorf("graph: employeeId contains %q, which is not allowed", r)
		}
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'", nil
}

// Classify maps a Graph failure onto a tenant sentinel, or nil when none
// fits. Graph reports most refusals as 400 Request_BadRequest, so the
// message text decides; the phrases are those Graph returns for the cases
// holdfast acts on.
func Classify(status int, code, msg string) error {
	lc := strings.ToLower(code)
	lm := strings.ToLower(msg)
	switch {
	// An expired delta token: 400 syncStateNotFound for directory objects
	// (Microsoft 365 Dev Blog, 2020-07-03), 410 Gone with syncStateNotFound or
	// resyncRequired elsewhere (Learn: delta query overview). Checked before
	// 404 so a 410 is never read as "no such object".
	case lc == "syncstatenotfound" || lc == "resyncrequired" || lc == "syncstateinvalid" || status == http.StatusGone:
		return tenant.ErrDeltaExpired
	case status == http.StatusNotFound || lc == "request_resourcenotfound" || lc == "resourcenotfound":
		return tenant.ErrNotFound
	case status == http.StatusTooManyRequests:
		return tenant.ErrThrottled
	case strings.Contains(lm, "does not have any available licenses") ||
		strings.Contains(lm, "no available licenses") ||
		strings.Contains(lm, "not enough licenses") || lc == "countviolation":
		return tenant.ErrNoLicenceUnits
	case status == http.StatusConflict || lc == "request_objectconflict" || lc == "objectconflict" ||
		strings.Contains(lm, "already exists") || strings.Contains(lm, "conflicting object"):
		return tenant.ErrConflict
	}
	return nil
}

// Error is the *tenant.ServiceError for a Graph error answer.
func Error(status int, code, msg string) error {
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &tenant.ServiceError{Service: "graph", Status: status, Code: code, Message: msg, Kind: Classify(status, code, msg)}
}

// NoMatch is FindUserByEmployeeID's answer when no user matches.
func NoMatch() error {
	return &tenant.ServiceError{Service: "graph", Status: http.StatusOK, Code: "NoMatch",
		Message: "no user has this employeeId", Kind: tenant.ErrNotFound}
}

// AmbiguousMatch is FindUserByEmployeeID's answer when several users match
// (employeeId is not unique in Entra).
func AmbiguousMatch() error {
	return &tenant.ServiceError{Service: "graph", Status: http.StatusOK, Code: "AmbiguousMatch",
		Message: "several users have this employeeId", Kind: tenant.ErrConflict}
}

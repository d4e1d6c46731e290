package events

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Bounds on dates and times in events. Anything outside is far more likely a
// producer bug (epoch zero, year 9999, swapped day and month) than a fact.
const (
	maxPast       = 5 * 365 * 24 * time.Hour // times and last working days: not older than ~5 years
	maxFutureSkew = 24 * time.Hour           // occurred-at times: at most a day ahead (clock skew)
	maxLWDFuture  = 2 * 365 * 24 * time.Hour // last working day: at most ~2 years ahead

	maxHoldDays   = 36500 // 100 years; 0 means unlimited
	maxIDLen      = 256
	maxSourceLen  = 1024
	maxSKUs       = 64
	maxClientLen  = 255
	maxUPNLen     = 113 // Entra: 64 before '@', 48 after
	maxUPNLocal   = 64
	maxUPNDomain  = 48
	maxTokenLen   = 64 // employeeId, policy name, ticket
	nilGUID       = "00000000-0000-0000-0000-000000000000"
	upnLocalExtra = "'.-_!#^~" // Entra UPN rules, besides A-Z a-z 0-9
)

// checkGUID validates a GUID in its canonical 8-4-4-4-12 hex form
// (equivalent to ^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$) and
// returns it lower-cased: case keys are tenant + object id, and Graph writes
// ids in lower case, so an upper-case id from HR must land on the same case.
// Braces, "urn:uuid:" and the nil GUID are refused.
func checkGUID(field, s string) (string, *Rejection) {
	if !isGUID(s) {
		return "", reject(CodeInvalidField, field, "%s must be a GUID like 0f8fad5b-d9cb-469f-a165-70867728950e, got %s", field, quote(s))
	}
	s = strings.ToLower(s)
	if s == nilGUID {
		return "", reject(CodeInvalidField, field, "%s is the nil GUID, which never names a real object", field)
	}
	return s, nil
}

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isHex(c) {
				return false
			}
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// checkUPN validates a user principal name by Entra's rules: local@domain,
// at most 64 + 1 + 48 = 113 characters, local part of A-Z a-z 0-9 and
// ' . - _ ! # ^ ~, no '.' at either end of the local part or doubled, and a
// domain of at least two DNS labels. Anything else (spaces, double quotes,
// parentheses, semicolons, '$', backticks, control characters, non-ASCII) is
// refused. The apostrophe stays: Entra allows it (o'brien@contoso.com), and
// refusing a real leaver's offboarding would leave their mailbox unprotected.
// Downstream code never splices identities into filters or cmdlet text, so
// the apostrophe is harmless there.
func checkUPN(field, s string) *Rejection {
	bad := func(why string) *Rejection {
		return reject(CodeInvalidField, field, "%s %s is not a valid user principal name: %s", field, quote(s), why)
	}
	// Characters first: for a hostile value the offending character is the
	// useful part of the answer, not the structural problem it causes.
	for _, r := range s {
		if r > '~' || !isAlnum(byte(r)) && r != '@' && strings.IndexRune(upnLocalExtra, r) < 0 {
			return bad(fmt.Sprintf("character %+q is not allowed (only letters, digits and ' . - _ ! # ^ ~ before '@', a domain name after it)", r))
		}
	}
	if len(s) > maxUPNLen {
		return bad("longer than 113 characters")
	}
	at := strings.IndexByte(s, '@')
	if at < 0 {
		return bad("it has no '@'")
	}
	if strings.IndexByte(s[at+1:], '@') >= 0 {
		return bad("it has more than one '@'")
	}
	local, domain := s[:at], s[at+1:]
	switch {
	case local == "":
		return bad("nothing before '@'")
	case len(local) > maxUPNLocal:
		return bad("more than 64 characters before '@'")
	case len(domain) > maxUPNDomain:
		return bad("more than 48 characters after '@'")
	case local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, ".."):
		return bad("a '.' may not start or end the name or be doubled")
	}
	if !isDomain(domain) {
		return bad("the part after '@' must be a domain name like contoso.com")
	}
	return nil
}

// isDomain checks a DNS name of two or more labels of letters, digits and
// inner hyphens.
func isDomain(d string) bool {
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			if !isAlnum(l[i]) && l[i] != '-' {
				return false
			}
		}
	}
	return true
}

// isToken checks [A-Za-z0-9] plus extra, length 1..maxTokenLen.
func isToken(s, extra string) bool {
	if s == "" || len(s) > maxTokenLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && strings.IndexByte(extra, c) < 0 {
			return false
		}
	}
	return true
}

// checkEmployeeID: [A-Za-z0-9._-]{1,64}.
func checkEmployeeID(field, s string) *Rejection {
	if !isToken(s, "._-") {
		return reject(CodeInvalidField, field, "%s %s must be 1 to 64 letters, digits, '.', '_' or '-'", field, quote(s))
	}
	return nil
}

// checkPolicy: "retain", "release" or a named policy [a-z0-9-]{1,64}.
func checkPolicy(field, s string) *Rejection {
	ok := isToken(s, "-")
	if ok && strings.ToLower(s) != s {
		ok = false
	}
	if !ok {
		return reject(CodeInvalidField, field, "%s %s must be \"retain\", \"release\" or a policy name of 1 to 64 lower-case letters, digits and '-'", field, quote(s))
	}
	return nil
}

// checkTicket: a ticket reference such as HR-1234 or INC0012345; it ends up
// in the Litigation Hold retention comment, so keep it plain.
func checkTicket(field, s string) *Rejection {
	if !isToken(s, "._:/#-") || !isAlnum(s[0]) {
		return reject(CodeInvalidField, field, "%s %s must be 1 to 64 characters: letters, digits and . _ : / # - (starting with a letter or digit)", field, quote(s))
	}
	return nil
}

// checkEventID: CloudEvents only asks for a non-empty string; holdfast also
// keeps it printable ASCII and short, because it becomes a dedupe key and is
// shown to admins.
func checkEventID(s string) *Rejection {
	if len(s) > maxIDLen {
		return reject(CodeInvalidField, "id", "id is longer than %d characters", maxIDLen)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' {
			return reject(CodeInvalidField, "id", "id %s may contain only printable ASCII characters without spaces", quote(s))
		}
	}
	return nil
}

// checkSource: a non-empty URI-reference (RFC 3986), no whitespace or
// control characters.
func checkSource(s string) *Rejection {
	if len(s) > maxSourceLen {
		return reject(CodeInvalidField, "source", "source is longer than %d characters", maxSourceLen)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' {
			return reject(CodeInvalidField, "source", "source %s must be a URI-reference without spaces or control characters", quote(s))
		}
	}
	if _, err := url.Parse(s); err != nil {
		return reject(CodeInvalidField, "source", "source %s is not a valid URI-reference", quote(s))
	}
	return nil
}

// parseTime parses an RFC 3339 timestamp and checks it lies within
// [now-maxPast, now+maxFutureSkew]. Fractional seconds of any length are
// accepted (Graph writes seven digits).
func parseTime(field, s string, now time.Time) (time.Time, *Rejection) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, reject(CodeInvalidField, field, "%s %s is not an RFC 3339 timestamp like 2026-03-06T17:00:00Z", field, quote(s))
	}
	t = t.UTC()
	if t.Before(now.Add(-maxPast)) {
		return time.Time{}, reject(CodeOutOfRange, field, "%s %s is more than 5 years in the past", field, quote(s))
	}
	if t.After(now.Add(maxFutureSkew)) {
		return time.Time{}, reject(CodeOutOfRange, field, "%s %s is in the future (more than 24 hours ahead of now)", field, quote(s))
	}
	return t, nil
}

// parseTimeLoose parses an RFC 3339 timestamp without bounds, for fields
// holdfast only carries (subscription expiry).
func parseTimeLoose(field, s string) *Rejection {
	if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
		return reject(CodeInvalidField, field, "%s %s is not an RFC 3339 timestamp", field, quote(s))
	}
	return nil
}

// checkDate parses a calendar date YYYY-MM-DD within
// [now-maxPast, now+maxLWDFuture].
func checkDate(field, s string, now time.Time) *Rejection {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return reject(CodeInvalidField, field, "%s %s must be a date in the form YYYY-MM-DD", field, quote(s))
	}
	// Whole days: the bounds are truncated to midnight UTC so a date's
	// acceptance does not depend on the hour the event arrives.
	if d.Before(now.Add(-maxPast).Truncate(24 * time.Hour)) {
		return reject(CodeOutOfRange, field, "%s %s is more than 5 years in the past", field, quote(s))
	}
	if d.After(now.Add(maxLWDFuture).Truncate(24 * time.Hour)) {
		return reject(CodeOutOfRange, field, "%s %s is more than 2 years in the future", field, quote(s))
	}
	return nil
}

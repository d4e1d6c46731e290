package sim

import (
	"errors"
	"strings"
)

// Area users: the $filter scanner of GET /users.

// userFilter is the only $filter shape the simulator accepts on /users:
// one property compared for equality with one string literal.
type userFilter struct {
	Prop  string // canonical: userPrincipalName, employeeId, id
	Value string
}

var filterProps = map[string]string{
	"userprincipalname": "userPrincipalName",
	"employeeid":        "employeeId",
	"id":                "id",
}

var (
	errFilterSyntax      = errors.New("invalid filter clause")
	errFilterUnsupported = errors.New("unsupported filter")
)

// parseUserFilter parses `<prop> eq '<literal>'`, where a quote inside the
// literal is doubled (OData). It is a scanner, not a pattern match, so a
// value such as `x' or 1 eq 1` can only ever be a literal: either the
// client escaped it (and it is one string) or it did not (and the trailing
// text is a syntax error). Nothing else is accepted.
func parseUserFilter(src string) (userFilter, error) {
	p := strings.TrimLeft(src, " ")
	i := 0
	for i < len(p) && (p[i] >= 'a' && p[i] <= 'z' || p[i] >= 'A' && p[i] <= 'Z') {
		i++
	}
	if i == 0 {
		return userFilter{}, errFilterSyntax
	}
	prop, ok := filterProps[strings.ToLower(p[:i])]
	if !ok {
		return userFilter{}, errFilterUnsupported
	}
	p = p[i:]
	rest := strings.TrimLeft(p, " ")
	if len(rest) == len(p) || !strings.HasPrefix(rest, "eq ") {
		if strings.HasPrefix(rest, "ne ") || strings.HasPrefix(rest, "startswith") || strings.HasPrefix(rest, "in ") {
			return userFilter{}, errFilterUnsupported
		}
		return userFilter{}, errFilterSyntax
	}
	p = strings.TrimLeft(rest[len("eq"):], " ")
	if !strings.HasPrefix(p, "'") {
		return userFilter{}, errFilterSyntax
	}
	var b strings.Builder
	j := 1
	closed := false
	for j < len(p) {
		c := p[j]
		if c == '\'' {
			if j+1 < len(p) && p[j+1] == '\'' {
				b.WriteByte('\'')
				j += 2
				continue
			}
			closed = true
			j++
			break
		}
		b.WriteByte(c)
		j++
	}
	if !closed || strings.TrimSpace(p[j:]) != "" {
		return userFilter{}, errFilterSyntax
	}
	return userFilter{Prop: prop, Value: b.String()}, nil
}

func (f userFilter) match(u *user) bool {
	switch f.Prop {
	case "userPrincipalName":
		return strings.EqualFold(u.UPN, f.Value)
	case "employeeId":
		return u.EmployeeID != "" && strings.EqualFold(u.EmployeeID, f.Value)
	case "id":
		return strings.EqualFold(u.ID, f.Value)
	}
	return false
}

package sim

import (
	"net/url"
	"strings"
	"testing"
)

func TestParseUserFilter(t *testing.T) {
	tests := []struct {
		in      string
		want    userFilter
		wantErr error
	}{
		{"userPrincipalName eq 'ann@contoso.test'", userFilter{"userPrincipalName", "ann@contoso.test"}, nil},
		{"employeeId eq 'E-1'", userFilter{"employeeId", "E-1"}, nil},
		{"id eq '0b7e7b5e-0000-4000-8000-000000000000'", userFilter{"id", "0b7e7b5e-0000-4000-8000-000000000000"}, nil},
		{"employeeId eq 'O''Brien'", userFilter{"employeeId", "O'Brien"}, nil},
		// An escaped injection attempt is one literal.
		{"userPrincipalName eq 'x'' or 1 eq 1'", userFilter{"userPrincipalName", "x' or 1 eq 1"}, nil},
		// An unescaped one leaves trailing logic: rejected, never evaluated.
		{"userPrincipalName eq 'x' or 1 eq 1", userFilter{}, errFilterSyntax},
		{"userPrincipalName eq 'x' or userPrincipalName eq 'y'", userFilter{}, errFilterSyntax},
		{"userPrincipalName eq 'x", userFilter{}, errFilterSyntax},
		{"userPrincipalName eq x", userFilter{}, errFilterSyntax},
		{"displayName eq 'x'", userFilter{}, errFilterUnsupported},
		{"userPrincipalName ne 'x'", userFilter{}, errFilterUnsupported},
		{"startswith(userPrincipalName,'a')", userFilter{}, errFilterUnsupported},
		{"", userFilter{}, errFilterSyntax},
	}
	for _, tc := range tests {
		got, err := parseUserFilter(tc.in)
		if err != tc.wantErr || got != tc.want {
			t.Errorf("parseUserFilter(%q) = %+v, %v; want %+v, %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestGraphFilterInjectionIsLiteral(t *testing.T) {
	e := newEnv(t, seed("ann@contoso.test", 1), seed("bob@contoso.test", 1))
	// Properly escaped: a literal that matches nobody.
	q := url.Values{"$filter": {"userPrincipalName eq 'x'' or 1 eq 1'"}}
	st, out := e.graph("GET", "/users?"+q.Encode(), nil)
	if st != 200 || len(out["value"].([]any)) != 0 {
		t.Fatalf("escaped: %d %v", st, out)
	}
	// Not escaped: a 400, never a match-all.
	q = url.Values{"$filter": {"userPrincipalName eq 'x' or 1 eq 1"}}
	if st, out := e.graph("GET", "/users?"+q.Encode(), nil); st != 400 {
		t.Fatalf("unescaped: %d %v", st, out)
	}
	q = url.Values{"$filter": {"employeeId eq 'bob'"}, "$select": {"id,userPrincipalName,employeeId"}}
	st, out = e.graph("GET", "/users?"+q.Encode(), nil)
	vals := out["value"].([]any)
	if st != 200 || len(vals) != 1 || vals[0].(map[string]any)["userPrincipalName"] != "bob@contoso.test" {
		t.Fatalf("employeeId: %d %v", st, out)
	}
	if !strings.Contains(out["@odata.context"].(string), "$metadata#users(id,userPrincipalName,employeeId)") {
		t.Fatalf("context %v", out["@odata.context"])
	}
}

package events

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// guidRE is the strict pattern isGUID implements by hand.
var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func TestIsGUIDMatchesRegexp(t *testing.T) {
	inputs := []string{
		testUser, strings.ToUpper(testUser), "", nilGUID, "{" + testUser + "}", "urn:uuid:" + testUser,
		testUser + "\n", " " + testUser, strings.ReplaceAll(testUser, "-", ""), testUser[:35] + "g",
		"0f8fad5b-d9cb-469f-a165-70867728950", "0f8fad5bd-9cb-469f-a165-70867728950e", "0f8fad5b-d9cb-469f-a165-70867728950ee",
		"0f8fad5b_d9cb_469f_a165_70867728950e", "０f8fad5b-d9cb-469f-a165-70867728950e",
	}
	for _, s := range inputs {
		if got, want := isGUID(s), guidRE.MatchString(s); got != want {
			t.Errorf("isGUID(%q) = %v, regexp says %v", s, got, want)
		}
	}
}

func FuzzIsGUID(f *testing.F) {
	f.Add(testUser)
	f.Add("{" + testUser + "}")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := isGUID(s), guidRE.MatchString(s); got != want {
			t.Fatalf("isGUID(%q) = %v, regexp says %v", s, got, want)
		}
	})
}

func TestCheckUPN(t *testing.T) {
	tests := []struct {
		upn string
		ok  bool
	}{
		{"ann@contoso.test", true},
		{"Ann.Smith@Contoso.onmicrosoft.com", true},
		{"o'brien@contoso.test", true},
		{"a!#^~_-b@sub-domain.contoso.test", true},
		{strings.Repeat("a", 64) + "@" + strings.Repeat("b", 43) + ".test", true}, // 64 + 1 + 48 = 113
		{strings.Repeat("a", 65) + "@contoso.test", false},
		{"a@" + strings.Repeat("b", 44) + ".test", false}, // 49 after '@'
		{"", false},
		{"@contoso.test", false},
		{"ann@", false},
		{"ann@contoso", false},
		{"ann@contoso..test", false},
		{"ann@-contoso.test", false},
		{"ann@contoso-.test", false},
		{"ann@con_toso.test", false},
		{".ann@contoso.test", false},
		{"ann.@contoso.test", false},
		{"a..nn@contoso.test", false},
		{"ann@contoso.test@x.test", false},
		{"ann smith@contoso.test", false},
		{`"ann"@contoso.test`, false},
		{"ann;x@contoso.test", false},
		{"ann@contoso.test\n", false},
		{"ann@contoso.test\r", false},
		{"$(whoami)@contoso.test", false},
		{"ann`n@contoso.test", false},
		{"ann(x)@contoso.test", false},
		{"ann%x@contoso.test", false},
		{"ann*@contoso.test", false},
		{"ann/x@contoso.test", false},
		{"ann\\x@contoso.test", false},
		{"ann,x@contoso.test", false},
		{"ann+tag@contoso.test", false}, // '+' is not in Entra's UPN set
		{"änn@contoso.test", false},
		{"ann@contoső.test", false},
		{"ann@contoso.test' or 1 eq 1", false},
		{"ann' or 1 eq 1@contoso.test", false},
	}
	for _, tt := range tests {
		rej := checkUPN("upn", tt.upn)
		if (rej == nil) != tt.ok {
			t.Errorf("checkUPN(%q): accepted=%v, want %v (%v)", tt.upn, rej == nil, tt.ok, rej)
		}
		if rej != nil && rej.Code != CodeInvalidField {
			t.Errorf("checkUPN(%q): code %s", tt.upn, rej.Code)
		}
	}
}

func TestTokenFields(t *testing.T) {
	tests := []struct {
		name  string
		check func(string, string) *Rejection
		value string
		ok    bool
	}{
		{"employeeId", checkEmployeeID, "E123", true},
		{"employeeId", checkEmployeeID, "emp.0001_a-b", true},
		{"employeeId", checkEmployeeID, strings.Repeat("9", 64), true},
		{"employeeId", checkEmployeeID, strings.Repeat("9", 65), false},
		{"employeeId", checkEmployeeID, "E 123", false},
		{"employeeId", checkEmployeeID, "E123'", false},
		{"employeeId", checkEmployeeID, "E/1", false},
		{"retention", checkPolicy, "retain", true},
		{"retention", checkPolicy, "release", true},
		{"retention", checkPolicy, "legal-hold-7y", true},
		{"retention", checkPolicy, "Legal", false},
		{"retention", checkPolicy, "legal_7y", false},
		{"retention", checkPolicy, strings.Repeat("a", 65), false},
		{"ticket", checkTicket, "HR-1234", true},
		{"ticket", checkTicket, "INC0012345", true},
		{"ticket", checkTicket, "JIRA:HR/12#3", true},
		{"ticket", checkTicket, "-HR", false},
		{"ticket", checkTicket, "HR 1", false},
		{"ticket", checkTicket, "HR'1", false},
	}
	for _, tt := range tests {
		if rej := tt.check(tt.name, tt.value); (rej == nil) != tt.ok {
			t.Errorf("%s %q: accepted=%v, want %v (%v)", tt.name, tt.value, rej == nil, tt.ok, rej)
		}
	}
}

func TestTimeBounds(t *testing.T) {
	now := testNow
	tests := []struct {
		value string
		code  string // "" = accepted
	}{
		{now.Format(time.RFC3339), ""},
		{now.Add(maxFutureSkew).Format(time.RFC3339), ""},
		{now.Add(maxFutureSkew + time.Second).Format(time.RFC3339), CodeOutOfRange},
		{now.Add(-maxPast).Format(time.RFC3339), ""},
		{now.Add(-maxPast - time.Second).Format(time.RFC3339), CodeOutOfRange},
		{"2026-03-01T13:00:00+02:00", ""}, // offsets are converted to UTC
		{"2026-03-01T10:24:31.3062901Z", ""},
		{"2026-03-01 10:24:31Z", CodeInvalidField},
		{"2026-03-01T10:24:31", CodeInvalidField}, // no zone
		{"2026-13-01T10:24:31Z", CodeInvalidField},
		{"1772360671", CodeInvalidField},
	}
	for _, tt := range tests {
		got, rej := parseTime("t", tt.value, now)
		switch {
		case tt.code == "" && rej != nil:
			t.Errorf("parseTime(%q): %v", tt.value, rej)
		case tt.code != "" && (rej == nil || rej.Code != tt.code):
			t.Errorf("parseTime(%q) = %v, %v; want code %s", tt.value, got, rej, tt.code)
		case rej == nil && got.Location() != time.UTC:
			t.Errorf("parseTime(%q) not in UTC", tt.value)
		}
	}
	dates := []struct {
		value string
		code  string
	}{
		{"2026-03-06", ""},
		{"2021-03-02", ""}, // inside 5 × 365 days before 2026-03-01
		{"2021-03-01", CodeOutOfRange},
		{"2028-02-29", ""},
		{"2028-03-01", CodeOutOfRange},
		{"2026-3-6", CodeInvalidField},
		{"2026-02-29", CodeInvalidField},
	}
	for _, tt := range dates {
		rej := checkDate("d", tt.value, now)
		if got := ""; rej != nil {
			got = rej.Code
			if got != tt.code {
				t.Errorf("checkDate(%q) code %s, want %q", tt.value, got, tt.code)
			}
		} else if tt.code != "" {
			t.Errorf("checkDate(%q) accepted, want %s", tt.value, tt.code)
		}
	}
}

func TestQuoteIsSafe(t *testing.T) {
	for _, s := range []string{"a\nb", "\u0430", strings.Repeat("é", 100), "\x00\x1b[31m"} {
		q := quote(s)
		for _, r := range q {
			if r < ' ' || r == 0x7f {
				t.Errorf("quote(%q) = %q contains a control character", s, q)
			}
		}
		if len(q) > 250 { // 48 input bytes, each escaped to at most 4 output bytes, plus quotes
			t.Errorf("quote(%q) is %d bytes long", s, len(q))
		}
	}
}

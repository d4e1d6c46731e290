package customhandler

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseTimeSpan parses a .NET TimeSpan in the forms host.json uses:
// "hh:mm:ss", "d.hh:mm:ss", "hh:mm", either with an optional ".fffffff"
// fraction of seconds, a bare day count "d", and a leading "-". host.json's
// functionTimeout "-1" therefore parses as -24h; callers treat any
// negative value as "no timeout", as the host does.
func ParseTimeSpan(s string) (time.Duration, error) {
	in := s
	s = strings.TrimSpace(s)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	bad := func() (time.Duration, error) { return 0, fmt.Errorf("customhandler: %q is not a TimeSpan", in) }
	if s == "" {
		return bad()
	}
	var d time.Duration
	if !strings.Contains(s, ":") {
		days, err := digits(s, 10675199)
		if err != nil {
			return bad()
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var days int64
		if dot, colon := strings.IndexByte(s, '.'), strings.IndexByte(s, ':'); dot >= 0 && dot < colon {
			var err error
			if days, err = digits(s[:dot], 106751); err != nil {
				return bad()
			}
			s = s[dot+1:]
		}
		parts := strings.Split(s, ":")
		if len(parts) < 2 || len(parts) > 3 {
			return bad()
		}
		var frac time.Duration
		if last := parts[len(parts)-1]; len(parts) == 3 && strings.Contains(last, ".") {
			sec, f, _ := strings.Cut(last, ".")
			if f == "" || len(f) > 7 {
				return bad()
			}
			n, err := digits(f, 9999999)
			if err != nil {
				return bad()
			}
			for i := len(f); i < 9; i++ {
				n *= 10
			}
			frac, parts[2] = time.Duration(n), sec
		}
		limits := [...]int64{23, 59, 59}
		units := [...]time.Duration{time.Hour, time.Minute, time.Second}
		for i, p := range parts {
			n, err := digits(p, limits[i])
			if err != nil || len(p) > 2 {
				return bad()
			}
			d += time.Duration(n) * units[i]
		}
		d += time.Duration(days)*24*time.Hour + frac
	}
	if neg {
		d = -d
	}
	return d, nil
}

// digits parses a non-empty run of ASCII digits no larger than max.
func digits(s string, max int64) (int64, error) {
	if s == "" || len(s) > 19 {
		return 0, strconv.ErrSyntax
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, strconv.ErrSyntax
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > max {
		return 0, strconv.ErrRange
	}
	return n, nil
}

package retention

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
)

var policyName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

// LoadPolicyFile reads named policies, e.g.
//
//	{"policies": {"legal": {"retention": "retain", "holdDurationDays": 3650},
//	              "contractor": {"retention": "release"}}}
//
// An HR event names one of them in its retention field.
func LoadPolicyFile(path string) (map[string]NamedPolicy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy file: %w", err)
	}
	var f struct {
		Policies map[string]NamedPolicy `json:"policies"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("policy file %s: %w", path, err)
	}
	return ValidatePolicies(f.Policies)
}

// ValidatePolicies checks names and values of named policies.
func ValidatePolicies(ps map[string]NamedPolicy) (map[string]NamedPolicy, error) {
	for name, p := range ps {
		if !policyName.MatchString(name) || name == Retain || name == Release {
			return nil, fmt.Errorf("policy name %q: use lower-case letters, digits and dashes, not retain/release", name)
		}
		if p.Retention != Retain && p.Retention != Release {
			return nil, fmt.Errorf("policy %q: retention must be retain or release", name)
		}
		if p.HoldDurationDays != nil && (*p.HoldDurationDays < 0 || *p.HoldDurationDays > 36500) {
			return nil, fmt.Errorf("policy %q: holdDurationDays out of range", name)
		}
		if p.RescueMode != "" && p.RescueMode != "undelete" && p.RescueMode != "copy-to-archive" {
			return nil, fmt.Errorf("policy %q: rescueMode must be undelete or copy-to-archive", name)
		}
	}
	return ps, nil
}

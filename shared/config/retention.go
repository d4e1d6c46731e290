package config

import "github.com/holdfast/holdfast/shared/retention"

// Retention turns the policy settings into the domain policy, with the
// named policies of PolicyFile. The served binary and the engine test bed
// both build their policy here.
func (p Policy) Retention() (retention.Policy, error) {
	pol := retention.Policy{
		DefaultRetention: p.DefaultRetention, HoldDurationDays: p.HoldDurationDays, HoldPropagation: p.HoldPropagation,
		ExchangeLag: p.ExchangeLag, WarnThresholds: p.WarnThresholds, RescueMode: p.RescueMode, RescueMargin: p.RescueMargin, ArchiveTarget: p.ArchiveTarget,
	}
	if p.PolicyFile != "" {
		named, err := retention.LoadPolicyFile(p.PolicyFile)
		if err != nil {
			return pol, err
		}
		pol.Named = named
	}
	return pol, nil
}

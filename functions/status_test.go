package main

import (
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast/shared/subscription"
)

func TestFormatStatus(t *testing.T) {
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	exp := at.Add(20 * 24 * time.Hour)
	for _, tt := range []struct {
		name string
		st   subscription.Status
		want []string
	}{
		{"not configured", subscription.Status{State: "notConfigured"}, []string{"subscription      notConfigured", "expires           never", "last notification never"}},
		{"live", subscription.Status{State: "live", ExpiresIn: "480h0m0s", LastNotification: &at, Record: subscription.Record{
			SubscriptionID: "5d7e9f1a-3b5c-4d7e-9f1a-3b5c7d9e1f3a", Expires: &exp, LastRenewal: &at, Renewals: 3, LastReconcile: &at, LastReconcileRes: "timer: ok"}},
			[]string{"id                5d7e9f1a", "expires           2026-03-22T09:00:00Z (in 480h0m0s)", "(3 renewals, 0 recreations)", "last notification 2026-03-02T09:00:00Z", "timer: ok"}},
		{"failing", subscription.Status{State: "failing", Record: subscription.Record{LastFailure: "renew the subscription: 403", LastFailureAt: &at}},
			[]string{"last failure      2026-03-02T09:00:00Z  renew the subscription: 403"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := formatStatus(tt.st)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("missing %q in\n%s", w, got)
				}
			}
		})
	}
}

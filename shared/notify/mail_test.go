package notify

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/holdfast/holdfast/shared/alert"
	"github.com/holdfast/holdfast/shared/tenant"
)

type fakeMailer struct {
	from string
	sent []tenant.Mail
	err  error
}

func (f *fakeMailer) SendMail(ctx context.Context, from string, m tenant.Mail) error {
	f.from = from
	f.sent = append(f.sent, m)
	return f.err
}

func TestMailBody(t *testing.T) {
	fm := &fakeMailer{}
	to := []string{"it-ops@contoso.com", "legal@contoso.com"}
	ch := NewMail(fm, "holdfast@contoso.com", to)
	to[0] = "changed@contoso.com" // the channel keeps its own copy

	if err := ch.Send(context.Background(), sampleAlert()); err != nil {
		t.Fatal(err)
	}
	if len(fm.sent) != 1 {
		t.Fatalf("%d mails sent, want 1", len(fm.sent))
	}
	m := fm.sent[0]
	if fm.from != "holdfast@contoso.com" {
		t.Errorf("from %q", fm.from)
	}
	if strings.Join(m.To, ",") != "it-ops@contoso.com,legal@contoso.com" {
		t.Errorf("to %v", m.To)
	}
	if want := "[holdfast] WARNING: Mailbox purge deadline approaching: ann.lee@contoso.com"; m.Subject != want {
		t.Errorf("subject %q, want %q", m.Subject, want)
	}
	for _, want := range []string{
		"User:      ann.lee@contoso.com",
		"Deadline:  2026-03-15 09:00 UTC (7 days left)",
		"State:     atRisk",
		"Action:    holdfast will rescue it automatically at 2026-03-12T09:00:00Z",
		"Remedy:    " + noRemedy,
		"Raised:    2026-03-08 09:00 UTC",
		"  threshold: 7d",
		"Alert id: " + sampleAlert().ID,
	} {
		if !strings.Contains(m.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, m.Body)
		}
	}
}

func TestMailRemedyAndMissingDeadline(t *testing.T) {
	a := alert.Alert{ID: "k:blocked:noLitigationHold", Kind: alert.KindBlocker, Severity: alert.SeverityCritical, UPN: "bo@contoso.com",
		Remedy: "assign an Exchange Online Plan 2 licence"}
	m := MailMessage(a, []string{"it@contoso.com"})
	if !strings.Contains(m.Body, "Remedy:    assign an Exchange Online Plan 2 licence") {
		t.Errorf("remedy missing:\n%s", m.Body)
	}
	if strings.Contains(m.Body, "Deadline") {
		t.Errorf("an alert without deadline shows one:\n%s", m.Body)
	}
	if !strings.HasPrefix(m.Subject, "[holdfast] CRITICAL: Mailbox cannot be protected") {
		t.Errorf("subject %q", m.Subject)
	}
}

func TestMailErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		permanent bool
		is        error
	}{
		{"throttled", tenant.ErrThrottled, false, tenant.ErrThrottled},
		{"server error", &tenant.ServiceError{Service: "graph", Status: 503, Code: "serviceUnavailable"}, false, nil},
		{"no Mail.Send", &tenant.ServiceError{Service: "graph", Status: 403, Code: "ErrorAccessDenied"}, true, nil},
		{"sender mailbox missing", &tenant.ServiceError{Service: "graph", Status: 404, Code: "ErrorInvalidUser", Kind: tenant.ErrNotFound}, true, tenant.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := NewMail(&fakeMailer{err: tc.err}, "holdfast@contoso.com", []string{"it@contoso.com"}).Send(context.Background(), sampleAlert())
			if err == nil {
				t.Fatal("want an error")
			}
			if IsPermanent(err) != tc.permanent {
				t.Errorf("IsPermanent = %v, want %v", IsPermanent(err), tc.permanent)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.is)
			}
		})
	}
}

func TestMailNotConfigured(t *testing.T) {
	fm := &fakeMailer{}
	err := NewMail(fm, "holdfast@contoso.com", nil).Send(context.Background(), sampleAlert())
	if err == nil || !IsPermanent(err) {
		t.Fatalf("want a permanent error, got %v", err)
	}
	if len(fm.sent) != 0 {
		t.Error("mail sent without recipients")
	}
}

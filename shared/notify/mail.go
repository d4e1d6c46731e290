package notify

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/holdfast/holdfast/shared/alert"
	"github.com/holdfast/holdfast/shared/tenant"
)

// Mailer sends one message as from. shared/graph's *Client implements it
// with Graph sendMail.
type Mailer interface {
	SendMail(ctx context.Context, from string, m tenant.Mail) error
}

// Mail sends alerts as plain-text e-mail.
type Mail struct {
	m    Mailer
	from string
	to   []string
}

// NewMail returns a Mail channel sending as from to every address in to.
func NewMail(m Mailer, from string, to []string) *Mail {
	return &Mail{m: m, from: from, to: append([]string(nil), to...)}
}

// Name implements Channel.
func (m *Mail) Name() string { return "mail" }

// Send implements Channel.
func (m *Mail) Send(ctx context.Context, a alert.Alert) error {
	if m.m == nil || m.from == "" || len(m.to) == 0 {
		return Permanent(errors.New("alert mail: sender or recipients not configured (HOLDFAST_ALERT_MAIL_FROM, HOLDFAST_ALERT_MAIL_TO)"))
	}
	if err := m.m.SendMail(ctx, m.from, MailMessage(a, m.to)); err != nil {
		err = fmt.Errorf("alert mail: %w", err)
		if mailPermanent(err) {
			return Permanent(err)
		}
		return err
	}
	return nil
}

// mailPermanent: a missing mailbox, a refused send or a 400/403/404 (no
// Mail.Send grant, application access policy excludes the sender) needs an
// admin; throttling and outages pass by themselves.
func mailPermanent(err error) bool {
	if errors.Is(err, tenant.ErrNotFound) || errors.Is(err, tenant.ErrRefused) {
		return true
	}
	var se *tenant.ServiceError
	if errors.As(err, &se) {
		switch se.Status {
		case http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound:
			return true
		}
	}
	return false
}

// MailMessage renders a as a plain-text mail to the given recipients.
func MailMessage(a alert.Alert, to []string) tenant.Mail {
	subject := "[holdfast] " + strings.ToUpper(orDash(a.Severity)) + ": " + title(a.Kind)
	if a.UPN != "" {
		subject += ": " + a.UPN
	}
	var b strings.Builder
	b.WriteString(title(a.Kind))
	b.WriteString("\n\n")
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%-10s %s\n", k+":", v)
		}
	}
	row("User", a.UPN)
	row("Deadline", deadlineText(a))
	row("State", a.State)
	row("Action", a.Action)
	row("Remedy", cmp.Or(a.Remedy, noRemedy))
	row("Severity", a.Severity)
	row("Case", a.CaseKey)
	if !a.At.IsZero() {
		row("Raised", a.At.UTC().Format("2006-01-02 15:04 UTC"))
	}
	if len(a.Details) > 0 {
		keys := make([]string, 0, len(a.Details))
		for k := range a.Details {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString("\nDetails:\n")
		for _, k := range keys {
			fmt.Fprintf(&b, "  %s: %s\n", k, a.Details[k])
		}
	}
	b.WriteString("\nAlert id: ")
	b.WriteString(a.ID)
	b.WriteString("\nThis message was sent by holdfast. Each alert is sent once; the case's audit trail has the full history.\n")
	return tenant.Mail{Subject: subject, Body: b.String(), To: append([]string(nil), to...)}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

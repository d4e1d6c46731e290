package sim

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Area users: sendMail, captured for the tests (Mail).

func (s *Sim) gSendMail(c *gctx) gresp {
	var body struct {
		Message *struct {
			Subject string `json:"subject"`
			Body    struct {
				ContentType string `json:"contentType"`
				Content     string `json:"content"`
			} `json:"body"`
			ToRecipients []struct {
				EmailAddress struct {
					Address string `json:"address"`
				} `json:"emailAddress"`
			} `json:"toRecipients"`
		} `json:"message"`
		SaveToSentItems *bool `json:"saveToSentItems"`
	}
	if err := json.Unmarshal(c.body, &body); err != nil || body.Message == nil {
		return graphErr(400, "ErrorInvalidRequest", "Cannot read the request body.")
	}
	u := s.findUser(c.segs[1])
	if u == nil {
		return graphErr(404, "ErrorInvalidUser", fmt.Sprintf("The requested user '%s' is invalid.", c.segs[1]))
	}
	if u.mailbox == nil || u.mailbox.state != mbActive || !u.hasExchange() {
		return graphErr(404, "MailboxNotEnabledForRESTAPI", "The mailbox is either inactive, soft-deleted, or is hosted on-premise.")
	}
	var to []string
	for _, r := range body.Message.ToRecipients {
		if !strings.Contains(r.EmailAddress.Address, "@") {
			return graphErr(400, "ErrorInvalidRecipients", "At least one recipient isn't valid.")
		}
		to = append(to, r.EmailAddress.Address)
	}
	if len(to) == 0 {
		return graphErr(400, "ErrorInvalidRecipients", "At least one recipient isn't valid., A message can't be sent because it contains no recipients.")
	}
	s.mail = append(s.mail, CapturedMail{At: s.now(), From: u.UPN, Subject: body.Message.Subject,
		Body: body.Message.Body.Content, To: to, Raw: append(json.RawMessage(nil), c.body...)})
	return gresp{status: 202}
}

// CapturedMail is one message accepted by sendMail.
type CapturedMail struct {
	At      time.Time       `json:"at"`
	From    string          `json:"from"`
	Subject string          `json:"subject"`
	Body    string          `json:"body"`
	To      []string        `json:"to"`
	Raw     json.RawMessage `json:"raw"`
}

// Mail returns the captured sendMail messages, in order.
func (s *Sim) Mail() []CapturedMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]CapturedMail(nil), s.mail...)
}

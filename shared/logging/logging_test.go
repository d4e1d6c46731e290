package logging

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestSecretsNeverReachLogs(t *testing.T) {
	webhook := "https://contoso.webhook.office.com/webhookb2/abc@def/IncomingWebhook/0123456789abcdef/uuid?sig=S3cr3tS1gnature"
	storage := "DefaultEndpointsProtocol=https;AccountName=prod;AccountKey=QUJDREVGR0hJSktMTU5PUA==;EndpointSuffix=core.windows.net"
	sb := "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=c2VjcmV0a2V5dmFsdWU="
	cases := []struct {
		name    string
		secrets []string // configured secret settings
		log     func(l *bytes.Buffer)
		leaked  []string
	}{
		{"configured webhook in a field", []string{webhook}, func(b *bytes.Buffer) {
			l := New(b, "info", []string{webhook})
			l.Info().Str("url", webhook).Msg("posting")
		}, []string{"S3cr3tS1gnature", "0123456789abcdef"}},
		{"configured webhook inside an error", []string{webhook}, func(b *bytes.Buffer) {
			l := New(b, "info", []string{webhook})
			l.Error().Err(fmt.Errorf("post %s: %w", webhook, errors.New("boom"))).Msg("failed")
		}, []string{"S3cr3tS1gnature"}},
		{"unconfigured storage key", nil, func(b *bytes.Buffer) {
			l := New(b, "info", nil)
			l.Warn().Msg("bad storage setting " + storage)
		}, []string{"QUJDREVGR0hJSktMTU5PUA=="}},
		{"service bus key", nil, func(b *bytes.Buffer) {
			l := New(b, "info", nil)
			l.Info().Str("conn", sb).Send()
		}, []string{"c2VjcmV0a2V5dmFsdWU="}},
		{"unconfigured sas query", nil, func(b *bytes.Buffer) {
			l := New(b, "info", nil)
			l.Info().Msg("GET https://x.blob.core.windows.net/c?sv=2020&sig=abcDEF123%2Bxyz")
		}, []string{"abcDEF123"}},
		{"bearer token", nil, func(b *bytes.Buffer) {
			l := New(b, "debug", nil)
			l.Debug().Str("hdr", "Bearer eyJ0eXAiOiJKV1QiLCJhbGciOi.payload.sig").Send()
		}, []string{"eyJ0eXAiOiJKV1Qi"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tc.log(&buf)
			out := buf.String()
			if out == "" {
				t.Fatal("nothing logged")
			}
			for _, s := range tc.leaked {
				if strings.Contains(out, s) {
					t.Errorf("secret %q leaked: %s", s, out)
				}
			}
			if !strings.Contains(out, "[redacted]") {
				t.Errorf("expected a [redacted] marker: %s", out)
			}
		})
	}
}

func TestOrdinaryTextUntouched(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf, "info", []string{"abc"}) // too short to be treated as a secret
	l.Info().Str("upn", "ann@contoso.test").Msg("hold placed on abc")
	if !strings.Contains(buf.String(), "hold placed on abc") || !strings.Contains(buf.String(), "ann@contoso.test") {
		t.Fatalf("ordinary text altered: %s", buf.String())
	}
}

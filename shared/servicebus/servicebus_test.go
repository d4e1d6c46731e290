package servicebus

import (
	"context"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/holdfast/holdfast/shared/notify"
)

// TopicSender is what notify.Topic sends through.
var _ notify.MessageSender = (*TopicSender)(nil)

func TestPublishMessage(t *testing.T) {
	long := strings.Repeat("x", 200)
	for _, tc := range []struct {
		name   string
		body   string
		wantID string // "" = a sha256 digest
		wantCT string
	}{
		{"cloudevent", `{"specversion":"1.0","id":"evt-0001","type":"io.holdfast.hr.offboarding","source":"/hr","data":{}}`, "evt-0001", ContentTypeCloudEvent},
		{"cloudevent, id too long for Service Bus", `{"specversion":"1.0","id":"` + long + `","type":"t","source":"/s","data":{}}`, "", ContentTypeCloudEvent},
		{"cloudevent, numeric id", `{"specversion":"1.0","id":42,"type":"t","source":"/s","data":{}}`, "", ContentTypeCloudEvent},
		{"cloudevent, empty id", `{"specversion":"1.0","id":"","type":"t"}`, "", ContentTypeCloudEvent},
		{"json object without specversion", `{"eventType":"Microsoft.Graph.UserUpdated","id":"eg-1"}`, "", ContentTypeJSON},
		{"json array (a batch)", `[{"specversion":"1.0","id":"a"}]`, "", ContentTypeJSON},
		{"not json", `name,upn\nann,ann@contoso.com`, "", ContentTypeOther},
		{"truncated json", `{"specversion":"1.0","id":"evt-1"`, "", ContentTypeOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := publishMessage([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if string(m.Body) != tc.body {
				t.Errorf("body changed: %q", m.Body)
			}
			if m.ContentType == nil || *m.ContentType != tc.wantCT {
				t.Errorf("content type %v, want %s", m.ContentType, tc.wantCT)
			}
			if m.MessageID == nil {
				t.Fatal("no message id")
			}
			id := *m.MessageID
			if len(id) > 128 {
				t.Errorf("message id is %d characters; Service Bus allows 128", len(id))
			}
			if tc.wantID != "" {
				if id != tc.wantID {
					t.Errorf("message id %q, want %q", id, tc.wantID)
				}
				return
			}
			if !strings.HasPrefix(id, "sha256:") {
				t.Errorf("message id %q, want a digest", id)
			}
			again, _ := publishMessage([]byte(tc.body))
			if *again.MessageID != id {
				t.Error("the same file got a different id: a re-publish would not be deduplicated")
			}
		})
	}
	if _, err := publishMessage(nil); err == nil {
		t.Error("an empty body was accepted")
	}
}

func TestNewMessage(t *testing.T) {
	props := map[string]any{"kind": "warning", "severity": "critical", "upn": "ann@contoso.com"}
	m := newMessage("case:warn:7d:1773565200", "application/json", []byte(`{}`), props)
	props["kind"] = "changed"
	if *m.MessageID != "case:warn:7d:1773565200" || *m.ContentType != "application/json" {
		t.Errorf("id %q content type %q", *m.MessageID, *m.ContentType)
	}
	if m.ApplicationProperties["kind"] != "warning" || m.ApplicationProperties["upn"] != "ann@contoso.com" {
		t.Errorf("properties %v", m.ApplicationProperties)
	}

	long := "rejected:" + strings.Repeat("m", 128) + ":malformed_json"
	a, b := newMessage(long, "", nil, nil), newMessage(long+"x", "", nil, nil)
	if len(*a.MessageID) > 128 || *a.MessageID == *b.MessageID {
		t.Errorf("long ids: %q %q", *a.MessageID, *b.MessageID)
	}
	if *a.MessageID != *newMessage(long, "", nil, nil).MessageID {
		t.Error("long id digest is not stable")
	}
	if a.ContentType != nil || a.ApplicationProperties != nil {
		t.Error("empty content type or properties were set")
	}
}

type fakeCred struct{}

func (fakeCred) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{}, nil
}

func TestNewClient(t *testing.T) {
	const key = "c2VjcmV0a2V5dmFsdWVmb3J0ZXN0cw=="
	for _, tc := range []struct {
		name, conn, ns string
		cred           azcore.TokenCredential
		ok             bool
	}{
		{name: "emulator connection string", conn: "Endpoint=sb://localhost;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=" + key + ";UseDevelopmentEmulator=true;", ok: true},
		{name: "connection string wins over namespace", conn: "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=" + key, ns: "other.servicebus.windows.net", ok: true},
		{name: "bad connection string", conn: "SharedAccessKey=" + key + ";nonsense"},
		{name: "namespace with identity", ns: "ns.servicebus.windows.net", cred: fakeCred{}, ok: true},
		{name: "namespace pasted as URL", ns: "sb://ns.servicebus.windows.net/", cred: fakeCred{}, ok: true},
		{name: "namespace without credential", ns: "ns.servicebus.windows.net"},
		{name: "nothing configured"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewClient(tc.conn, tc.ns, tc.cred)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				_ = c.Close(context.Background())
				return
			}
			if err == nil {
				t.Fatal("want an error")
			}
			if strings.Contains(err.Error(), key) {
				t.Errorf("error reveals the key: %v", err)
			}
		})
	}
}

func TestNormalizeNamespace(t *testing.T) {
	for in, want := range map[string]string{
		"ns.servicebus.windows.net":          "ns.servicebus.windows.net",
		" sb://ns.servicebus.windows.net/ ":  "ns.servicebus.windows.net",
		"https://ns.servicebus.windows.net/": "ns.servicebus.windows.net",
		"SB://ns.servicebus.windows.net":     "ns.servicebus.windows.net",
		"":                                   "",
	} {
		if got := normalizeNamespace(in); got != want {
			t.Errorf("normalizeNamespace(%q) = %q, want %q", in, got, want)
		}
	}
}

package customhandler

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// loadFixture decodes testdata/name as the host would POST it to
// /function.
func loadFixture(t *testing.T, function, name string) *Invocation {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/"+function, bytes.NewReader(body))
	r.Header.Set(HeaderInvocationID, "0f8fad5b-d9cb-469f-a165-70867728950e")
	r.Header.Set(HeaderTraceParent, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	inv, err := DecodeInvocation(r, 0)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if inv.Function != function || inv.InvocationID == "" || inv.TraceParent == "" {
		t.Fatalf("%s: invocation header fields not decoded: %+v", name, inv)
	}
	return inv
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestServiceBusFixtures(t *testing.T) {
	tests := []struct {
		fixture string
		enc     BodyEncoding
		want    ServiceBusMessage
	}{
		{
			// Double-encoded string body; the JSON body's properties were
			// merged into Metadata but none is a system key.
			fixture: "servicebus_string.json", enc: BodyString,
			want: ServiceBusMessage{
				Body:      []byte(`{"orderId": 42, "note": "say \"hi\" — café <b>"}`),
				MessageID: "4e77c1f0-0d2a-4f6e-9b3c-5a1d2e3f4a5b", DeliveryCount: 1, SequenceNumber: 17,
				EnqueuedTime: utc("2023-10-12T20:13:49Z"), ContentType: "application/json", CorrelationID: "corr-7",
				ApplicationProperties: map[string]any{"tenant": "a"},
				LockToken:             "a8b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d", ExpiresAt: utc("9999-12-31T23:59:59Z"),
			},
		},
		{
			// Base64 body, which the host does not merge into Metadata. The
			// decoder still distrusts Subject because the CloudEvent has a
			// "subject" (worst case), so the Label alias is used. SequenceNumber beyond 2^53 and a large
			// application property survive exactly.
			fixture: "servicebus_binary.json", enc: BodyBinary,
			want: ServiceBusMessage{
				Body:      []byte(`{"specversion": "1.0", "id": "evt-1", "type": "holdfast.offboarding", "source": "/hr", "subject": "leaver", "data": {"upn": "a@contoso.example"}}`),
				MessageID: "evt-1", DeliveryCount: 3, SequenceNumber: 9007199254740993,
				EnqueuedTime: utc("2023-10-12T20:13:49Z"), ContentType: "application/cloudevents+json", CorrelationID: "corr-7",
				Subject:               "offboarding",
				ApplicationProperties: map[string]any{"tenant": "contoso", "priority": json.Number("5"), "big": json.Number("9007199254740993")},
				LockToken:             "a8b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d", ExpiresAt: utc("9999-12-31T23:59:59Z"),
				ShadowedKeys: []string{"Subject"},
			},
		},
		{
			// The string body {"MessageId":"evil","DeliveryCount":"99",...}
			// was merged over the system values (ApplyBindingData
			// overwrites). None of them may be believed: MessageId and
			// DeliveryCount become unknown, EnqueuedTime and
			// ApplicationProperties come from their unshadowed aliases.
			fixture: "servicebus_shadow.json", enc: BodyString,
			want: ServiceBusMessage{
				Body:      []byte(`{"MessageId": "evil", "DeliveryCount": "99", "EnqueuedTimeUtc": "2001-01-01T00:00:00", "ApplicationProperties": {"role": "admin"}, "upn": "x@contoso.example"}`),
				MessageID: "", DeliveryCount: 0, SequenceNumber: 18,
				EnqueuedTime: utc("2023-10-12T20:13:49Z"), ContentType: "application/json", CorrelationID: "corr-7",
				ApplicationProperties: map[string]any{"tenant": "contoso"},
				LockToken:             "a8b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d", ExpiresAt: utc("9999-12-31T23:59:59Z"),
				ShadowedKeys: []string{"ApplicationProperties", "DeliveryCount", "EnqueuedTimeUtc", "MessageId"},
			},
		},
		{
			// Single-encoded strings, real numbers, RFC 3339 times and only
			// the older aliases (Label, UserProperties).
			fixture: "servicebus_lenient.json", enc: BodyString,
			want: ServiceBusMessage{
				Body:      []byte("hello world"),
				MessageID: "abc", DeliveryCount: 3, SequenceNumber: 12,
				EnqueuedTime: utc("2023-10-12T20:13:49.123Z"), ContentType: "text/plain", Subject: "legacy-label",
				ApplicationProperties: map[string]any{"tenant": "b", "n": json.Number("1")},
				ExpiresAt:             utc("2023-10-13T20:13:49.1234567Z"),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			inv := loadFixture(t, "Fn", tt.fixture)
			got, err := inv.ServiceBusMessage("msg", tt.enc)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestServiceBusShadowFallbackID(t *testing.T) {
	inv := loadFixture(t, "Fn", "servicebus_shadow.json")
	m, err := inv.ServiceBusMessage("msg", BodyString)
	if err != nil {
		t.Fatal(err)
	}
	// The raw metadata really does say "evil": the decoder must not use it.
	if s, _, _ := inv.MetadataString("MessageId"); s != "evil" {
		t.Fatalf("fixture should carry the forged id, got %q", s)
	}
	id := m.StableID()
	if id == "evil" || len(id) != len("sha256:")+64 {
		t.Fatalf("StableID = %q, want a body hash", id)
	}
	// Same body, same id: a redelivery deduplicates.
	if again := (ServiceBusMessage{Body: bytes.Clone(m.Body)}).StableID(); again != id {
		t.Fatalf("StableID not stable: %q vs %q", again, id)
	}
	if !m.Shadowed("MessageId") || m.Shadowed("SequenceNumber") {
		t.Fatalf("Shadowed wrong: %v", m.ShadowedKeys)
	}
}

func TestServiceBusWrongEncoding(t *testing.T) {
	// A string-mode fixture read as binary must fail loudly, not yield
	// garbage bytes.
	inv := loadFixture(t, "Fn", "servicebus_string.json")
	if _, err := inv.ServiceBusMessage("msg", BodyBinary); !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v, want ErrMalformed", err)
	}
	if _, err := inv.ServiceBusMessage("nope", BodyString); !errors.Is(err, ErrNoBinding) {
		t.Fatalf("err = %v, want ErrNoBinding", err)
	}
}

func TestTimerFixtures(t *testing.T) {
	tests := []struct {
		fixture string
		want    TimerInfo
	}{
		{"timer_status.json", TimerInfo{HasStatus: true,
			Last: utc("2024-03-01T02:00:00Z"), Next: utc("2024-03-02T02:00:00Z"), LastUpdated: utc("2024-03-01T02:00:00.1234567Z")}},
		{"timer_null.json", TimerInfo{IsPastDue: true}},
		// No offset (UTC), a fraction with Z, and a non-UTC offset.
		{"timer_nozone.json", TimerInfo{HasStatus: true,
			Last: utc("2024-03-01T02:00:00Z"), Next: utc("2024-03-02T02:00:00.5Z"), LastUpdated: utc("2024-03-01T02:00:00Z")}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			got, err := loadFixture(t, "ExpirySweep", tt.fixture).Timer("timer")
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestHTTPFixtures(t *testing.T) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	tests := []struct {
		fixture string
		check   func(t *testing.T, r HTTPRequest)
	}{
		{"http_json.json", func(t *testing.T, r HTTPRequest) {
			if r.Method != "POST" || r.URL != "https://holdfast.azurewebsites.net/api/holdfast/cases/c-1?all=true&x=1" {
				t.Errorf("method/url: %q %q", r.Method, r.URL)
			}
			if !reflect.DeepEqual(r.Query, map[string]string{"all": "true", "x": "1"}) {
				t.Errorf("query %v", r.Query)
			}
			if !reflect.DeepEqual(r.Params, map[string]string{"path": "cases/c-1"}) {
				t.Errorf("params %v", r.Params)
			}
			if got := r.Headers.Values("Accept-Encoding"); !reflect.DeepEqual(got, []string{"gzip", "br"}) {
				t.Errorf("multi-valued header %v", got)
			}
			if string(r.Body) != `{"a":1,"s":"é"}` {
				t.Errorf("body %q", r.Body)
			}
			if len(r.Identities) != 1 || !bytes.Contains(r.Identities[0], []byte(`"WebJobsAuthLevel"`)) {
				t.Errorf("identities %s", r.Identities)
			}
		}},
		{"http_octet.json", func(t *testing.T, r HTTPRequest) {
			if !bytes.Equal(r.Body, all) {
				t.Errorf("octet-stream body not base64-decoded: %d bytes", len(r.Body))
			}
			if r.Params == nil || len(r.Params) != 0 {
				t.Errorf("absent Params should be an empty map, got %#v", r.Params)
			}
		}},
		{"http_legacy.json", func(t *testing.T, r HTTPRequest) {
			// Query as the old "{...}" string, headers as single strings
			// with lower-case names, no Body.
			if r.Query["all"] != "true" {
				t.Errorf("legacy query %v", r.Query)
			}
			if r.Headers.Get("Accept") != "application/json" || r.Headers.Get("X-Ms-Client-Request-Id") != "r-1" {
				t.Errorf("headers %v", r.Headers)
			}
			if r.Body != nil {
				t.Errorf("body %q", r.Body)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			r, err := loadFixture(t, "Api", tt.fixture).HTTPRequest("req")
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, r)
		})
	}
}

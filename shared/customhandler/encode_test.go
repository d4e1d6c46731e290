package customhandler

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
	"time"
)

var now = time.Date(2024, 3, 1, 2, 0, 0, 641234500, time.UTC)

func decodeEnv(t *testing.T, function string, env []byte) *Invocation {
	t.Helper()
	if !json.Valid(env) {
		t.Fatalf("envelope is not valid JSON: %s", env)
	}
	inv, err := DecodeEnvelope(function, env)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// TestEncodeServiceBusShape pins the host's wire forms, so the local runner
// exercises the decoder with what Azure really sends.
func TestEncodeServiceBusShape(t *testing.T) {
	msg := ServiceBusMessage{
		Body: []byte(`{"orderId":42}`), MessageID: "m-1", DeliveryCount: 1, SequenceNumber: 17,
		EnqueuedTime: time.Date(2023, 10, 12, 20, 13, 49, 640000000, time.UTC),
		ContentType:  "application/json", Subject: "s",
		ApplicationProperties: map[string]any{"tenant": "a"},
	}
	for _, enc := range []BodyEncoding{BodyString, BodyBinary} {
		t.Run(enc.String(), func(t *testing.T) {
			env, err := EncodeServiceBus("ProcessOrder", "msg", msg, enc, now)
			if err != nil {
				t.Fatal(err)
			}
			inv := decodeEnv(t, "ProcessOrder", env)
			want := map[string]string{
				"DeliveryCount":         `"1"`,
				"SequenceNumber":        `"17"`,
				"MessageId":             `"\"m-1\""`,
				"ContentType":           `"\"application/json\""`,
				"Subject":               `"\"s\""`,
				"Label":                 `"\"s\""`,
				"EnqueuedTimeUtc":       `"2023-10-12T20:13:49"`,
				"EnqueuedTime":          `"2023-10-12T20:13:49+00:00"`,
				"ExpiresAtUtc":          `"9999-12-31T23:59:59"`,
				"ExpiresAt":             `"9999-12-31T23:59:59+00:00"`,
				"ApplicationProperties": `{"tenant":"a"}`,
				"UserProperties":        `{"tenant":"a"}`,
				"MessageActions":        `{}`,
				"orderId":               `"\"42\""`, // body property merged via (string)JValue
			}
			for k, v := range want {
				if got := string(inv.Metadata[k]); got != v {
					t.Errorf("Metadata.%s = %s, want %s", k, got, v)
				}
			}
			if _, ok := inv.Metadata["CorrelationId"]; ok {
				t.Error("empty CorrelationId must be omitted like a null")
			}
			var client struct {
				FullyQualifiedNamespace string
				IsClosed                *bool
			}
			if err := json.Unmarshal(inv.Metadata["Client"], &client); err != nil || client.FullyQualifiedNamespace == "" || client.IsClosed == nil {
				t.Errorf("Client = %s", inv.Metadata["Client"])
			}
			var sys struct{ MethodName, UtcNow, RandGuid string }
			if err := json.Unmarshal(inv.Metadata["sys"], &sys); err != nil || sys.MethodName != "ProcessOrder" || sys.UtcNow != "2024-03-01T02:00:00.6412345Z" || len(sys.RandGuid) != 36 {
				t.Errorf("sys = %s", inv.Metadata["sys"])
			}
			wantData := `"\"{\\\"orderId\\\":42}\""`
			if enc == BodyBinary {
				wantData = `"eyJvcmRlcklkIjo0Mn0="`
			}
			if got := string(inv.Data["msg"]); got != wantData {
				t.Errorf("Data.msg = %s, want %s", got, wantData)
			}
		})
	}
}

func TestEncodeDeterministic(t *testing.T) {
	msg := ServiceBusMessage{Body: []byte(`{"b":1,"a":"x"}`), MessageID: "m", ApplicationProperties: map[string]any{"z": 1, "y": 2}}
	a, _ := EncodeServiceBus("F", "msg", msg, BodyBinary, now)
	b, _ := EncodeServiceBus("F", "msg", msg, BodyBinary, now)
	if !bytes.Equal(a, b) {
		t.Fatalf("encoding not reproducible:\n%s\n%s", a, b)
	}
}

// TestEncodeServiceBusWorstCaseShadow checks that the encoder models a body
// overwriting system metadata, and that the decoder then refuses the
// forged values.
func TestEncodeServiceBusWorstCaseShadow(t *testing.T) {
	body := []byte(` {"MessageId":"evil","DeliveryCount":"99","sequenceNumber":5,"Label":"forged","list":[1],"n":null,"ok":true,"f":1.5} `)
	msg := ServiceBusMessage{Body: body, MessageID: "real", DeliveryCount: 4, SequenceNumber: 77, Subject: "true-subject"}
	env, err := EncodeServiceBus("F", "msg", msg, BodyBinary, now)
	if err != nil {
		t.Fatal(err)
	}
	inv := decodeEnv(t, "F", env)
	if got := string(inv.Metadata["MessageId"]); got != `"\"evil\""` {
		t.Fatalf("encoder did not overwrite MessageId: %s", got)
	}
	if got := string(inv.Metadata["DeliveryCount"]); got != `"\"99\""` {
		t.Fatalf("encoder did not overwrite DeliveryCount: %s", got)
	}
	if _, ok := inv.Metadata["list"]; ok {
		t.Error("array property must not be merged")
	}
	if _, ok := inv.Metadata["n"]; ok {
		t.Error("null property must not be merged")
	}
	if got := string(inv.Metadata["ok"]) + " " + string(inv.Metadata["f"]); got != `"\"True\"" "\"1.5\""` {
		t.Errorf("scalars must merge as .NET strings, double-encoded: %s", got)
	}
	got, err := inv.ServiceBusMessage("msg", BodyBinary)
	if err != nil {
		t.Fatal(err)
	}
	if got.MessageID != "" || got.DeliveryCount != 0 || got.SequenceNumber != 0 {
		t.Errorf("forged metadata believed: id %q delivery %d seq %d", got.MessageID, got.DeliveryCount, got.SequenceNumber)
	}
	if got.Subject != "true-subject" {
		t.Errorf("Subject should survive a forged Label: %q", got.Subject)
	}
	want := []string{"DeliveryCount", "Label", "MessageId", "SequenceNumber"}
	if !reflect.DeepEqual(got.ShadowedKeys, want) {
		t.Errorf("ShadowedKeys = %v, want %v", got.ShadowedKeys, want)
	}
	if !bytes.Equal(got.Body, body) {
		t.Errorf("body altered: %s", got.Body)
	}
}

func TestServiceBusRoundTrip(t *testing.T) {
	enq := time.Date(2024, 2, 29, 23, 59, 58, 0, time.UTC)
	tests := []struct {
		name string
		enc  BodyEncoding
		msg  ServiceBusMessage
	}{
		{"string json", BodyString, ServiceBusMessage{Body: []byte(`{"upn":"a@b.example","n":[1,2]}`), MessageID: "id-1", DeliveryCount: 1, SequenceNumber: 1}},
		{"string text with quotes", BodyString, ServiceBusMessage{Body: []byte(`"quoted" and \ backslash é 🙂`), MessageID: "id-2", DeliveryCount: 2}},
		{"string empty", BodyString, ServiceBusMessage{Body: []byte{}, MessageID: "id-3", DeliveryCount: 1}},
		{"binary non-utf8", BodyBinary, ServiceBusMessage{Body: []byte{0xff, 0x00, 0xfe, '"', '{'}, MessageID: "id-4", DeliveryCount: 10, SequenceNumber: 1 << 62}},
		{"binary cloudevent all fields", BodyBinary, ServiceBusMessage{
			Body:      []byte(`{"specversion":"1.0","id":"e","type":"t","source":"/s","data":{"x":1}}`),
			MessageID: "e", DeliveryCount: 3, SequenceNumber: 99, EnqueuedTime: enq,
			ContentType: "application/cloudevents+json", CorrelationID: "c", Subject: "subj",
			ApplicationProperties: map[string]any{"tenant": "contoso", "n": json.Number("12345678901234567")},
			LockToken:             "lt", SessionID: "sess", ExpiresAt: enq.Add(14 * 24 * time.Hour),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := EncodeServiceBus("F", "msg", tt.msg, tt.enc, now)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeEnv(t, "F", env).ServiceBusMessage("msg", tt.enc)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.msg
			// Defaults the encoder fills in, as the host would.
			if want.EnqueuedTime.IsZero() {
				want.EnqueuedTime = now.Truncate(time.Second)
			}
			if want.ExpiresAt.IsZero() {
				want.ExpiresAt = maxTime
			}
			if want.ApplicationProperties == nil {
				want.ApplicationProperties = map[string]any{}
			}
			if want.LockToken == "" {
				want.LockToken = got.LockToken
			}
			if len(want.Body) == 0 {
				want.Body, got.Body = nil, nil
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip\n got  %+v\n want %+v", got, want)
			}
		})
	}
}

func TestTimerRoundTrip(t *testing.T) {
	for _, ti := range []TimerInfo{
		{},
		{IsPastDue: true},
		{HasStatus: true, Last: now.Add(-time.Hour), Next: now.Add(time.Hour), LastUpdated: now},
	} {
		env, err := EncodeTimer("ExpirySweep", "timer", ti, now)
		if err != nil {
			t.Fatal(err)
		}
		inv := decodeEnv(t, "ExpirySweep", env)
		if !ti.HasStatus && !bytes.Contains(inv.Data["timer"], []byte(`"ScheduleStatus":null`)) {
			t.Errorf("ScheduleStatus should be null: %s", inv.Data["timer"])
		}
		if len(inv.Metadata) != 1 || inv.Metadata["sys"] == nil {
			t.Errorf("timer Metadata should hold only sys: %s", env)
		}
		got, err := inv.Timer("timer")
		if err != nil {
			t.Fatal(err)
		}
		// .NET round-trip format keeps 100 ns ticks.
		want := ti
		for _, p := range []*time.Time{&want.Last, &want.Next, &want.LastUpdated} {
			if !p.IsZero() {
				*p = p.Truncate(100)
			}
		}
		if !got.Last.Equal(want.Last) || !got.Next.Equal(want.Next) || !got.LastUpdated.Equal(want.LastUpdated) ||
			got.IsPastDue != want.IsPastDue || got.HasStatus != want.HasStatus {
			t.Errorf("timer round trip: got %+v want %+v", got, want)
		}
	}
}

func TestHTTPRoundTrip(t *testing.T) {
	bin := []byte{0, 1, 2, 0xff, '"'}
	tests := []struct {
		name string
		req  HTTPRequest
	}{
		{"get", HTTPRequest{URL: "http://127.0.0.1/api/holdfast/cases?all=true", Method: "GET",
			Query: map[string]string{"all": "true"}, Headers: http.Header{"Accept": {"application/json"}},
			Params: map[string]string{"path": "cases"}}},
		{"post json", HTTPRequest{URL: "http://127.0.0.1/api/x", Method: "POST", Query: map[string]string{},
			Headers: http.Header{"Content-Type": {"application/json"}, "X-Multi": {"a", "b"}},
			Params:  map[string]string{}, Body: []byte(`{"a":"<&>"}`),
			Identities: []json.RawMessage{json.RawMessage(`{"AuthenticationType":"WebJobsAuthLevel","IsAuthenticated":true,"Claims":[]}`)}}},
		{"octet", HTTPRequest{URL: "http://127.0.0.1/api/up", Method: "PUT", Query: map[string]string{},
			Headers: http.Header{"Content-Type": {"application/octet-stream"}}, Params: map[string]string{}, Body: bin}},
		{"multipart", HTTPRequest{URL: "http://127.0.0.1/api/up", Method: "POST", Query: map[string]string{},
			Headers: http.Header{"Content-Type": {"multipart/form-data; boundary=x"}}, Params: map[string]string{}, Body: bin}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := EncodeHTTP("Api", "req", tt.req, now)
			if err != nil {
				t.Fatal(err)
			}
			inv := decodeEnv(t, "Api", env)
			var wire struct {
				Query   json.RawMessage
				Headers map[string][]string
				Body    *string
			}
			if err := json.Unmarshal(inv.Data["req"], &wire); err != nil {
				t.Fatalf("Headers must be arrays: %v", err)
			}
			if len(wire.Query) == 0 || wire.Query[0] != '{' {
				t.Errorf("Query must be an object: %s", wire.Query)
			}
			if len(tt.req.Body) == 0 && wire.Body != nil {
				t.Errorf("empty Body must be omitted")
			}
			got, err := inv.HTTPRequest("req")
			if err != nil {
				t.Fatal(err)
			}
			want := tt.req
			if want.Identities == nil {
				want.Identities = []json.RawMessage{}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip\n got  %+v\n want %+v", got, want)
			}
		})
	}
}

func TestEncodeRequiresNames(t *testing.T) {
	if _, err := EncodeTimer("", "timer", TimerInfo{}, now); err == nil {
		t.Error("EncodeTimer without function accepted")
	}
	if _, err := EncodeServiceBus("F", "", ServiceBusMessage{}, BodyString, now); err == nil {
		t.Error("EncodeServiceBus without binding accepted")
	}
	if _, err := EncodeHTTP("F", "", HTTPRequest{}, now); err == nil {
		t.Error("EncodeHTTP without binding accepted")
	}
}

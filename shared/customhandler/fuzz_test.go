package customhandler

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// addFixtures seeds f with every envelope in testdata.
func addFixtures(f *testing.F) {
	paths, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// checkShadowInvariant: a key the body may have forged is never believed.
func checkShadowInvariant(t *testing.T, m ServiceBusMessage) {
	t.Helper()
	if m.Shadowed("MessageId") && m.MessageID != "" {
		t.Fatalf("shadowed MessageId believed: %q", m.MessageID)
	}
	if m.Shadowed("DeliveryCount") && m.DeliveryCount != 0 {
		t.Fatalf("shadowed DeliveryCount believed: %d", m.DeliveryCount)
	}
	if m.Shadowed("SequenceNumber") && m.SequenceNumber != 0 {
		t.Fatalf("shadowed SequenceNumber believed: %d", m.SequenceNumber)
	}
	if m.StableID() == "" {
		t.Fatal("empty StableID")
	}
}

// FuzzDecodeInvocation: no envelope may panic the decoder or any accessor.
func FuzzDecodeInvocation(f *testing.F) {
	addFixtures(f)
	for _, s := range []string{``, `{}`, `null`, `{"Data":null}`, `{"Data":{"msg":"\"\\\"x\\\"\""},"Metadata":{"DeliveryCount":"\"1\""}}`,
		`{"Data":{"timer":"{\"ScheduleStatus\":{\"Last\":1}}"}}`, `{"Data":{"req":{"Query":"[]","Headers":{"a":[1]}}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/Fn", bytes.NewReader(body))
		inv, err := DecodeInvocation(r, 1<<20)
		if err != nil {
			return
		}
		if inv.Data == nil || inv.Metadata == nil {
			t.Fatal("decoded invocation with nil maps")
		}
		for name := range inv.Data {
			for _, enc := range []BodyEncoding{BodyString, BodyBinary} {
				if m, err := inv.ServiceBusMessage(name, enc); err == nil {
					checkShadowInvariant(t, m)
				}
			}
			if ti, err := inv.Timer(name); err == nil && !ti.HasStatus && !(ti.Last.IsZero() && ti.Next.IsZero()) {
				t.Fatalf("times without status: %+v", ti)
			}
			if req, err := inv.HTTPRequest(name); err == nil && (req.Headers == nil || req.Query == nil || req.Params == nil) {
				t.Fatalf("nil collections in %+v", req)
			}
		}
		_, _, _ = inv.MetadataString("MessageId")
	})
}

// FuzzServiceBusMessage decodes arbitrary trigger values and metadata.
func FuzzServiceBusMessage(f *testing.F) {
	f.Add([]byte(`"\"hello\""`), []byte(`{"DeliveryCount":"1","MessageId":"\"m\"","EnqueuedTimeUtc":"2023-10-12T20:13:49"}`), false)
	f.Add([]byte(`"eyJNZXNzYWdlSWQiOiJldmlsIn0="`), []byte(`{"MessageId":"\"evil\"","DeliveryCount":"\"99\""}`), true)
	f.Add([]byte(`{"a":1}`), []byte(`{"ApplicationProperties":"{\"x\":1}","UserProperties":null}`), false)
	f.Add([]byte(`"\"{'MessageId':'x',}\""`), []byte(`{"MessageId":"\"x\"","SequenceNumber":1e3}`), false)
	f.Fuzz(func(t *testing.T, data, metadata []byte, binary bool) {
		env := append(append(append(append([]byte(`{"Data":{"msg":`), data...), `},"Metadata":`...), metadata...), '}')
		inv, err := DecodeEnvelope("Fn", env)
		if err != nil {
			return
		}
		enc := BodyString
		if binary {
			enc = BodyBinary
		}
		m, err := inv.ServiceBusMessage("msg", enc)
		if err != nil {
			return
		}
		checkShadowInvariant(t, m)
		if m.DeliveryCount < 0 || !m.EnqueuedTime.IsZero() && m.EnqueuedTime.Location().String() != "UTC" {
			t.Fatalf("bad decoded values: %+v", m)
		}
	})
}

// FuzzServiceBusRoundTrip: what EncodeServiceBus writes, the decoder reads
// back, except metadata the body shadows (which must then be dropped).
func FuzzServiceBusRoundTrip(f *testing.F) {
	f.Add([]byte(`{"orderId":42}`), "m-1", 1, int64(17), "application/json", false)
	f.Add([]byte(`{"MessageId":"evil","DeliveryCount":"99"}`), "real", 3, int64(1), "", true)
	f.Add([]byte("\x00\xff"), "", 0, int64(-1), "x\"y", true)
	f.Fuzz(func(t *testing.T, body []byte, id string, delivery int, seq int64, ctype string, binary bool) {
		enc := BodyString
		if binary {
			enc = BodyBinary
		}
		if delivery < 0 || delivery > 1<<31-1 {
			delivery = 1
		}
		in := ServiceBusMessage{Body: body, MessageID: id, DeliveryCount: delivery, SequenceNumber: seq, ContentType: ctype}
		env, err := EncodeServiceBus("Fn", "msg", in, enc, now)
		if err != nil {
			t.Fatal(err)
		}
		inv, err := DecodeEnvelope("Fn", env)
		if err != nil {
			t.Fatalf("own envelope undecodable: %v\n%s", err, env)
		}
		m, err := inv.ServiceBusMessage("msg", enc)
		if err != nil {
			// A body can forge a system key with a malformed value only
			// if that key is shadowed, and shadowed keys are not read.
			t.Fatalf("own envelope: %v\n%s", err, env)
		}
		checkShadowInvariant(t, m)
		if (binary || utf8.Valid(body)) && !bytes.Equal(m.Body, body) && !(len(body) == 0 && len(m.Body) == 0) {
			t.Fatalf("body %q came back as %q", body, m.Body)
		}
		if !m.Shadowed("MessageId") && m.MessageID != jsonStringEquivalent(id) {
			t.Fatalf("MessageID %q came back as %q", id, m.MessageID)
		}
		wantDelivery := max(delivery, 1)
		if !m.Shadowed("DeliveryCount") && m.DeliveryCount != wantDelivery {
			t.Fatalf("DeliveryCount %d came back as %d", delivery, m.DeliveryCount)
		}
		if !m.Shadowed("SequenceNumber") && m.SequenceNumber != seq {
			t.Fatalf("SequenceNumber %d came back as %d", seq, m.SequenceNumber)
		}
	})
}

// jsonStringEquivalent is what a string looks like after an encoding/json
// round trip: each invalid UTF-8 byte becomes U+FFFD.
func jsonStringEquivalent(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r) // RuneError for an invalid byte, size 1
		i += size
	}
	return b.String()
}

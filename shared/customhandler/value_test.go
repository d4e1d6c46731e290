package customhandler

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func TestStringValue(t *testing.T) {
	tests := []struct {
		raw    string
		want   string
		ok     bool
		wantEr bool
	}{
		{`"\"hello\""`, "hello", true, false},             // host: double-encoded
		{`"hello"`, "hello", true, false},                 // tolerated: single-encoded
		{`"\"say \\\"hi\\\"\""`, `say "hi"`, true, false}, // escapes inside
		{`"\"\""`, "", true, false},                       // double-encoded empty
		{`""`, "", true, false},
		{`"\"unterminated"`, `"unterminated`, true, false}, // not a JSON string inside: kept
		{`42`, "42", true, false},
		{`true`, "true", true, false},
		{`null`, "", false, false},
		{``, "", false, false},
		{`{}`, "", false, true},
		{`[1]`, "", false, true},
		{`"bad`, "", false, true},
		{`4x`, "", false, true},
	}
	for _, tt := range tests {
		got, ok, err := stringValue(json.RawMessage(tt.raw))
		if (err != nil) != tt.wantEr || got != tt.want || ok != tt.ok {
			t.Errorf("stringValue(%s) = %q, %v, %v; want %q, %v, err %v", tt.raw, got, ok, err, tt.want, tt.ok, tt.wantEr)
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Errorf("stringValue(%s) error %v does not wrap ErrMalformed", tt.raw, err)
		}
	}
}

func TestIntValue(t *testing.T) {
	tests := []struct {
		raw    string
		want   int64
		wantEr bool
	}{
		{`"1"`, 1, false},     // host form
		{`"\"7\""`, 7, false}, // double-encoded
		{`3`, 3, false},       // real number
		{`4.0`, 4, false},     // double-typed encoder
		{`"9223372036854775807"`, 9223372036854775807, false},
		{`"-5"`, -5, false},
		{`"1.5"`, 0, true},
		{`"abc"`, 0, true},
		{`"1e30"`, 0, true},
		{`{}`, 0, true},
	}
	for _, tt := range tests {
		got, _, err := intValue(json.RawMessage(tt.raw))
		if (err != nil) != tt.wantEr || got != tt.want {
			t.Errorf("intValue(%s) = %d, %v; want %d, err %v", tt.raw, got, err, tt.want, tt.wantEr)
		}
	}
}

func TestParseTime(t *testing.T) {
	want := time.Date(2023, 10, 12, 20, 13, 49, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
	}{
		{"2023-10-12T20:13:49", want},       // DateTime: no zone means UTC
		{"2023-10-12T20:13:49+00:00", want}, // DateTimeOffset
		{"2023-10-12T20:13:49Z", want},      // RFC 3339
		{"2023-10-12T22:13:49+02:00", want}, // other offset
		{"2023-10-12T20:13:49.64Z", want.Add(640 * time.Millisecond)},
		{"2023-10-12T20:13:49.1234567", want.Add(123456700)}, // .NET 7 digits, no zone
		{"2023-10-12 20:13:49", want},
		{"2023-10-12T20:13:49+0000", want},
	}
	for _, tt := range tests {
		got, err := parseTime(tt.in)
		if err != nil || !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("parseTime(%q) = %v, %v; want %v UTC", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "yesterday", "12/10/2023 20:13:49", "2023-13-12T20:13:49"} {
		if _, err := parseTime(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("parseTime(%q) err = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestLookupCaseFold(t *testing.T) {
	m := map[string]json.RawMessage{"msg": json.RawMessage(`1`), "Other": json.RawMessage(`2`), "other": json.RawMessage(`3`)}
	if v, ok := lookup(m, "MSG"); !ok || string(v) != "1" {
		t.Errorf("fold lookup failed: %s %v", v, ok)
	}
	if v, ok := lookup(m, "other"); !ok || string(v) != "3" {
		t.Errorf("exact match should win: %s", v)
	}
	if _, ok := lookup(m, "OTHER"); ok {
		t.Error("ambiguous folded match must not be used")
	}
}

func TestDecodeEnvelopeRejects(t *testing.T) {
	for _, body := range []string{``, `null`, `[]`, `"x"`, `{"Data":[]}`, `{"Data":{},"Metadata":"x"}`, `{"Data":{}} trailing`, `{"Data":{"a":}`} {
		if _, err := DecodeEnvelope("Fn", []byte(body)); !errors.Is(err, ErrMalformed) {
			t.Errorf("DecodeEnvelope(%q) err = %v, want ErrMalformed", body, err)
		}
	}
	if _, err := DecodeEnvelope("", []byte(`{}`)); !errors.Is(err, ErrMalformed) {
		t.Errorf("empty function name accepted: %v", err)
	}
	inv, err := DecodeEnvelope("Fn", []byte(`{"data":{"x":"1"}}`))
	if err != nil || string(inv.Data["x"]) != `"1"` || inv.Metadata == nil {
		t.Errorf("lower-case envelope keys / missing Metadata: %+v, %v", inv, err)
	}
}

func TestShadowedKeys(t *testing.T) {
	tests := []struct {
		body string
		want []string
	}{
		{`hello`, nil},
		{`[{"MessageId":"x"}]`, nil}, // arrays are not merged
		{`{"upn":"a"}`, nil},
		{`{"messageid":"x","SEQUENCENUMBER":1}`, []string{"MessageId", "SequenceNumber"}},
		{` {"DeliveryCount":[1]}`, []string{"DeliveryCount"}}, // counted anyway
		{`{"Message\u0049d":"x"}`, []string{"MessageId"}},     // escaped name, valid JSON
		// Newtonsoft-only syntax: scanned as text.
		{`{'MessageId':'x', /* c */ }`, []string{"MessageId"}},
		{`{DeliveryCount: 5,}`, []string{"DeliveryCount"}},
		{"\ufeff{\"ContentType\":\"x\"}", []string{"ContentType"}},
		{`{'MessageIds':1}`, nil},                   // whole words only
		{`{'Meſſageid':1,}`, []string{"MessageId"}}, // long s folds to s, as in .NET
		// .NET's Trim removes all Unicode white space before the host
		// looks for '{'.
		{"\v\u00a0\u2003{\"MessageId\":\"x\"}\u3000", []string{"MessageId"}},
	}
	for _, tt := range tests {
		got := shadowedKeys([]byte(tt.body))
		if len(got) != len(tt.want) {
			t.Errorf("shadowedKeys(%s) = %v, want %v", tt.body, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("shadowedKeys(%s) = %v, want %v", tt.body, got, tt.want)
			}
		}
	}
	// An invalid body with a \u escape could spell any key.
	if got := shadowedKeys([]byte(`{'\u004dessageId':1,}`)); len(got) != len(serviceBusSystemKeys) {
		t.Errorf("escaped invalid body: %v", got)
	}
}

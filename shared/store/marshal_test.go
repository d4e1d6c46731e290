package store

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// TestEntityMarshal checks the hand-written encoder against what the store
// sent before it (a map through encoding/json): the same JSON object,
// property for property, for every kind and for strings JSON must escape.
// The wanted objects are typed here in the earlier encoder's output form,
// so the stored shape of every row (names, values, @odata.type) is pinned,
// and rows written by earlier versions read back unchanged.
func TestEntityMarshal(t *testing.T) {
	at := time.Date(2026, 11, 30, 8, 5, 6, 123456700, time.FixedZone("x", 3600))
	for _, tc := range []struct {
		name  string
		build func(e *entity)
		want  string // the earlier encoder's output (keys sorted)
	}{
		{"keys only", func(*entity) {}, `{"PartitionKey":"pk","RowKey":"rk"}`},
		{"every kind", func(e *entity) {
			e.str("State", "held")
			e.bin("Data", []byte{0, 1, 2, 250})
			e.time("Deadline", at)
			e.i32("Seq", -7)
			e.props = append(e.props, prop{"Big", edmInt64, int64(1) << 40}, prop{"Ok", edmBool, true})
		}, `{"Big":"1099511627776","Big@odata.type":"Edm.Int64","Data":"AAEC+g==","Data@odata.type":"Edm.Binary",` +
			`"Deadline":"2026-11-30T07:05:06.1234567Z","Deadline@odata.type":"Edm.DateTime","Ok":true,` +
			`"PartitionKey":"pk","RowKey":"rk","Seq":-7,"State":"held"}`},
		{"strings JSON must escape", func(e *entity) {
			e.str("Detail", "a\"b\\c\nd\re\tf\x01g\x1f <&> é 中 \u2028")
		}, `{"Detail":"a\"b\\c\nd\re\tf\u0001g\u001f \u003c\u0026\u003e é 中 \u2028","PartitionKey":"pk","RowKey":"rk"}`},
		{"invalid UTF-8 becomes U+FFFD", func(e *entity) {
			e.str("Detail", "x\xffy\xc3")
		}, `{"Detail":"x\ufffdy\ufffd","PartitionKey":"pk","RowKey":"rk"}`},
		{"empty binary", func(e *entity) { e.bin("Data", nil) },
			`{"Data":"","Data@odata.type":"Edm.Binary","PartitionKey":"pk","RowKey":"rk"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &entity{pk: "pk", rk: "rk"}
			tc.build(e)
			got, err := e.marshal()
			if err != nil {
				t.Fatal(err)
			}
			var g, w map[string]any
			if err := json.Unmarshal(got, &g); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, got)
			}
			if err := json.Unmarshal([]byte(tc.want), &w); err != nil {
				t.Fatalf("fixture: %v", err)
			}
			if !reflect.DeepEqual(g, w) {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestEntityMarshalRefusesMistypedValues(t *testing.T) {
	for _, p := range []prop{
		{"S", edmString, 3},
		{"I", edmInt32, "3"},
		{"T", edmDateTime, "2026"},
		{"L", edmInt64, int32(3)},
		{"B", edmBool, "true"},
		{"K", kind(99), "x"},
	} {
		e := &entity{pk: "pk", rk: "rk", props: []prop{p}}
		if b, err := e.marshal(); err == nil {
			t.Errorf("%s: encoded %s, want an error", p.name, b)
		}
	}
}

func BenchmarkEntityMarshal(b *testing.B) {
	e := &entity{pk: "case-00000000-0000-0000-0000-000000000001", rk: "audit_20261130T080506.1234567Z_0001_x"}
	e.time("At", time.Now())
	e.i32("Seq", 1)
	for _, n := range []string{"Actor", "Action", "Detail", "EventID", "Result", "Prev", "Hash"} {
		e.str(n, "some value of a typical length for "+n)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.marshal(); err != nil {
			b.Fatal(err)
		}
	}
}

package auditchain_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/holdfast/holdfast/shared/auditchain"
)

func rows(n int) []auditchain.Row {
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 5, time.UTC)
	var out []auditchain.Row
	for i := range n {
		out = append(out, auditchain.Row{CaseKey: "t_o", At: t0.Add(time.Duration(i) * time.Minute), Seq: i % 3,
			Actor: "engine", Action: "step", Detail: "detail, with \"quotes\"\nand a newline", Result: "ok"})
	}
	return out
}

func TestCanonicalIsNetstrings(t *testing.T) {
	r := auditchain.Row{CaseKey: "k", At: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Seq: 7, Actor: "a", Action: "b", Detail: "é", EventID: "", Result: "ok", Prev: "p"}
	want := "17:holdfast-audit-v1,1:k,30:2026-01-02T03:04:05.000000006Z,1:7,1:a,1:b,2:é,0:,2:ok,1:p,"
	if got := string(r.Canonical()); got != want {
		t.Fatalf("canonical\n got %s\nwant %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	legacy := func(rs []auditchain.Row) []auditchain.Row {
		l := rows(2)
		return append(l, rs...)
	}
	tests := []struct {
		name    string
		mutate  func([]auditchain.Row) []auditchain.Row
		head    bool
		wantRow int // 0: verifies
	}{
		{"intact", func(r []auditchain.Row) []auditchain.Row { return r }, true, 0},
		{"legacy rows before the chain", legacy, false, 0},
		{"edited detail", func(r []auditchain.Row) []auditchain.Row { r[2].Detail = "nothing happened"; return r }, true, 3},
		{"edited time", func(r []auditchain.Row) []auditchain.Row { r[1].At = r[1].At.Add(time.Second); return r }, true, 2},
		{"removed row", func(r []auditchain.Row) []auditchain.Row { return append(r[:1], r[2:]...) }, true, 2},
		{"swapped rows", func(r []auditchain.Row) []auditchain.Row { r[1], r[2] = r[2], r[1]; return r }, true, 2},
		{"cut from the end", func(r []auditchain.Row) []auditchain.Row { return r[:3] }, true, 3},
		{"cut from the end without a head", func(r []auditchain.Row) []auditchain.Row { return r[:3] }, false, 0},
		{"hash stripped mid-chain", func(r []auditchain.Row) []auditchain.Row { r[2].Hash, r[2].Prev = "", ""; return r }, true, 3},
		{"rehashed edit still breaks the next link", func(r []auditchain.Row) []auditchain.Row {
			r[1].Detail = "forged"
			r[1].Hash = r[1].ComputeHash()
			return r
		}, true, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := rows(5)
			head := auditchain.Link("", rs)
			rs = tt.mutate(rs)
			h := ""
			if tt.head {
				h = head
			}
			_, err := auditchain.Verify(rs, h)
			var bad *auditchain.BadRowError
			switch {
			case tt.wantRow == 0 && err != nil:
				t.Fatalf("want ok, got %v", err)
			case tt.wantRow != 0 && (!errors.As(err, &bad) || !errors.Is(err, auditchain.ErrBroken)):
				t.Fatalf("want bad row %d, got %v", tt.wantRow, err)
			case tt.wantRow != 0 && bad.Row != tt.wantRow:
				t.Fatalf("bad row %d (%v), want %d", bad.Row, err, tt.wantRow)
			}
		})
	}
}

func TestChainOrderFollowsLinks(t *testing.T) {
	rs := rows(4)
	head := auditchain.Link("", rs)
	shuffled := []auditchain.Row{rs[2], rs[0], rs[3], rs[1]}
	if _, err := auditchain.Verify(auditchain.ChainOrder(shuffled, head), head); err != nil {
		t.Fatal(err)
	}
	if _, err := auditchain.Verify(shuffled, head); err == nil {
		t.Fatal("shuffled rows verified in the given order")
	}
}

func TestExportRoundTrip(t *testing.T) {
	rs := rows(3)
	head := auditchain.Link("", rs)
	for _, format := range []string{"json", "csv"} {
		t.Run(format, func(t *testing.T) {
			var b bytes.Buffer
			var err error
			if format == "json" {
				err = auditchain.WriteJSON(&b, auditchain.Export{CaseKey: "t_o", Head: head, Rows: rs})
			} else {
				err = auditchain.WriteCSV(&b, rs)
			}
			if err != nil {
				t.Fatal(err)
			}
			e, err := auditchain.Read(b.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := auditchain.Verify(e.Rows, e.Head); err != nil {
				t.Fatal(err)
			}
			edited := strings.Replace(b.String(), "and a newline", "and a newlinE", 1)
			e, err = auditchain.Read([]byte(edited))
			if err != nil {
				t.Fatal(err)
			}
			var bad *auditchain.BadRowError
			if _, err := auditchain.Verify(e.Rows, e.Head); !errors.As(err, &bad) || bad.Row != 1 {
				t.Fatalf("edited export: %v, want row 1", err)
			}
		})
	}
	if _, err := auditchain.Read([]byte("a,b\n1,2\n")); !errors.Is(err, auditchain.ErrFormat) {
		t.Fatalf("foreign CSV: %v", err)
	}
}

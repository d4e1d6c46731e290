package bench

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestPct(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		var out []time.Duration
		for _, v := range n {
			out = append(out, time.Duration(v)*time.Millisecond)
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	for _, tc := range []struct {
		name string
		in   []time.Duration
		q    float64
		want float64
	}{
		{"single", ms(7), .99, 7},
		{"median of odd", ms(1, 2, 3), .5, 2},
		{"p99 of 100 is the 99th", ms(hundred...), .99, 99},
		{"p100 is the max", ms(hundred...), 1, 100},
		{"p50 of 100 is the 50th", ms(hundred...), .5, 50},
	} {
		if got := pct(tc.in, tc.q); got != tc.want {
			t.Errorf("%s: pct = %v, want %v", tc.name, got, tc.want)
		}
	}
	if !math.IsNaN(pct(nil, .5)) {
		t.Error("pct of nothing should be NaN")
	}
}

func TestOpsDelta(t *testing.T) {
	d, total := opsDelta(map[string]int64{"Commit": 2, "LoadCase": 5}, map[string]int64{"Commit": 4, "LoadCase": 5, "PutTimer": 3})
	if total != 5 || d["Commit"] != 2 || d["PutTimer"] != 3 || len(d) != 2 {
		t.Errorf("opsDelta = %v, %d", d, total)
	}
	if got, want := perEvent(d, 2), "Commit 1, PutTimer 1.50"; got != want {
		t.Errorf("perEvent = %q, want %q", got, want)
	}
}

func TestTargets(t *testing.T) {
	for _, tc := range []struct {
		name string
		fn   func(v, target float64, unit string) (string, *bool)
		v    float64
		want bool
	}{
		{"at most, under", atMost, 1.9, true},
		{"at most, equal", atMost, 2, true},
		{"at most, over", atMost, 2.1, false},
		{"at least, under", atLeast, 1.9, false},
		{"at least, equal", atLeast, 2, true},
	} {
		if _, met := tc.fn(tc.v, 2, "x"); *met != tc.want {
			t.Errorf("%s: met = %v, want %v", tc.name, *met, tc.want)
		}
	}
}

func TestWriteJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "results.json")
	_, met := atMost(3, 2, "round trips")
	rep := &Report{Results: []Result{{Name: "a", Value: 3, Unit: "round trips", Target: "<= 2", Met: met}, {Name: "b", Value: 1, Ceiling: ptr(2.0), CeilingName: "c"}}}
	if err := rep.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0]["met"] != false || got[0]["ceiling"] != nil || got[1]["ceiling"] != 2.0 || got[1]["met"] != nil {
		t.Errorf("results.json = %s", b)
	}
	for _, k := range []string{"name", "value", "unit", "ceiling", "met"} {
		if _, ok := got[1][k]; !ok {
			t.Errorf("results.json lacks %q: %s", k, b)
		}
	}
}

func TestLayoffFloor(t *testing.T) {
	for _, tc := range []struct {
		name      string
		served    int64
		perWindow int
		writes    int64
		want      time.Duration
	}{
		{"four windows, the last free", 4000, 1000, 0, 30 * time.Second},
		{"a partial fifth window", 4001, 1000, 0, 40 * time.Second},
		{"within one window", 999, 1000, 0, time.Millisecond},
		{"Graph writes beyond the bucket bind", 1000, 1000, 4200, 60 * time.Second},
	} {
		if got := layoffFloor(tc.served, tc.perWindow, 10*time.Second, tc.writes); got != tc.want {
			t.Errorf("%s: floor %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestMergeJSONKeepsOtherFigures(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.json")
	first := &Report{Results: []Result{{Name: "a", Value: 1}, {Name: "b", Value: 2}}}
	if err := first.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	second := &Report{Results: []Result{{Name: "b", Value: 20}, {Name: "c", Value: 3}}}
	if err := second.MergeJSON(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []Result
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Value != 1 || got[1].Value != 20 || got[2].Name != "c" {
		t.Fatalf("merged %+v", got)
	}
}

package azurite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// lookupTrace runs the same point operations against in and records what
// each answered: status and the entity's own properties.
func lookupTrace(t *testing.T, in *Instance) []string {
	t.Helper()
	ctx := context.Background()
	svc, err := aztables.NewServiceClientFromConnectionString(in.ConnectionString, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateTable(ctx, "lookups", nil); err != nil {
		t.Fatal(err)
	}
	tc := svc.NewClient("lookups")
	put := func(pk, rk, v string) {
		b, _ := json.Marshal(map[string]string{"PartitionKey": pk, "RowKey": rk, "V": v})
		if _, err := tc.AddEntity(ctx, b, nil); err != nil {
			t.Fatalf("add %s/%s: %v", pk, rk, err)
		}
	}
	// The two shapes that make one key unselective: many partitions sharing
	// a RowKey (cases) and one partition of many rows (a day of timers).
	for i := range 60 {
		put(fmt.Sprintf("c%03d", i), "case", fmt.Sprint("case ", i))
		put(fmt.Sprintf("c%03d", i), fmt.Sprintf("audit_%03d", i), "audit")
		put("2026-12-01", fmt.Sprintf("t%03d_case", i), fmt.Sprint("timer ", i))
	}
	status := func(err error) string {
		var re *azcore.ResponseError
		switch {
		case err == nil:
			return "ok"
		case errors.As(err, &re):
			return fmt.Sprint(re.StatusCode)
		}
		t.Fatal(err)
		return ""
	}
	var trace []string
	get := func(pk, rk string) {
		resp, err := tc.GetEntity(ctx, pk, rk, nil)
		got := status(err)
		if err == nil {
			var m map[string]any
			if err := json.Unmarshal(resp.Value, &m); err != nil {
				t.Fatal(err)
			}
			got = fmt.Sprint(got, " ", m["PartitionKey"], "/", m["RowKey"], " ", m["V"])
		}
		trace = append(trace, fmt.Sprintf("get %s/%s: %s", pk, rk, got))
	}
	probes := [][2]string{
		{"c000", "case"}, {"c037", "case"}, {"c059", "case"}, {"c060", "case"}, {"c037", "audit_037"},
		{"c037", "audit_036"}, {"2026-12-01", "t017_case"}, {"2026-12-01", "case"}, {"2026-12-02", "t017_case"},
		{"zzz", "zzz"},
	}
	for _, p := range probes {
		get(p[0], p[1])
	}
	// Writes that find their row first: update, merge upsert, delete, and an
	// insert that must conflict.
	upd, _ := json.Marshal(map[string]string{"PartitionKey": "c021", "RowKey": "case", "V": "updated"})
	_, err = tc.UpdateEntity(ctx, upd, &aztables.UpdateEntityOptions{UpdateMode: aztables.UpdateModeReplace})
	trace = append(trace, "update c021/case: "+status(err))
	miss, _ := json.Marshal(map[string]string{"PartitionKey": "c999", "RowKey": "case", "V": "x"})
	_, err = tc.UpdateEntity(ctx, miss, &aztables.UpdateEntityOptions{UpdateMode: aztables.UpdateModeReplace})
	trace = append(trace, "update c999/case: "+status(err))
	ups, _ := json.Marshal(map[string]string{"PartitionKey": "2026-12-01", "RowKey": "t005_case", "W": "merged"})
	_, err = tc.UpsertEntity(ctx, ups, &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeMerge})
	trace = append(trace, "upsert 2026-12-01/t005_case: "+status(err))
	_, err = tc.DeleteEntity(ctx, "c042", "case", nil)
	trace = append(trace, "delete c042/case: "+status(err))
	_, err = tc.DeleteEntity(ctx, "c042", "case", nil)
	trace = append(trace, "delete c042/case again: "+status(err))
	_, err = tc.AddEntity(ctx, upd, nil)
	trace = append(trace, "add c021/case again: "+status(err))
	for _, p := range [][2]string{{"c021", "case"}, {"c042", "case"}, {"c041", "case"}, {"2026-12-01", "t005_case"}} {
		get(p[0], p[1])
	}
	return trace
}

// The preload changes only the cost of a lookup: every point read and write
// answers as the unpatched server does.
func TestSelectiveLookupAnswersAsPlainAzurite(t *testing.T) {
	// Azurite's output, written from the process's pipe (the launcher's
	// own tail buffer is safe for that).
	log := &tailBuffer{max: 1 << 16}
	patched, err := Start(context.Background(), Options{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = patched.Stop() })
	plainLog := &tailBuffer{max: 1 << 16}
	plain, err := Start(context.Background(), Options{Log: plainLog, PlainLookups: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = plain.Stop() })

	if !strings.Contains(string(log.Bytes()), LookupPreloadBanner) {
		t.Fatalf("preload not loaded; Azurite said %q", string(log.Bytes()))
	}
	if strings.Contains(string(plainLog.Bytes()), LookupPreloadBanner) {
		t.Fatal("PlainLookups still loaded the preload")
	}
	want, got := lookupTrace(t, plain), lookupTrace(t, patched)
	if len(want) != len(got) {
		t.Fatalf("%d answers, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("patched %q, plain %q", got[i], want[i])
		}
	}
	if want[0] != "get c000/case: ok c000/case case 0" || !strings.Contains(strings.Join(want, "\n"), "get c042/case: 404") {
		t.Fatalf("plain Azurite answered unexpectedly:\n%s", strings.Join(want, "\n"))
	}
}

package engine_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/testbed/enginebed"
	"github.com/holdfast/holdfast/shared/testbed/sim"
)

// TestReconcileDelta reconciles a tenant twice: a first pass reads every
// user (a users delta round from scratch) and stores the delta link; after
// `changes` leavers (half licence removals, half deletions) the second pass
// reads only the changed users. By default 2,000 users;
// HOLDFAST_DELTA_USERS=100000 measures the figure in docs/performance.md.
func TestReconcileDelta(t *testing.T) {
	users, changes := 2000, 100
	if s := os.Getenv("HOLDFAST_DELTA_USERS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 2*changes {
			t.Fatalf("HOLDFAST_DELTA_USERS=%q: want a number >= %d", s, 2*changes)
		}
		users = n
	}
	spec := sim.TenantSpec{SKUs: []sim.SKUSpec{{PartNumber: "ENTERPRISEPACK", Units: users + 10, IncludesLitigationHold: true}}}
	for i := 0; i < users; i++ {
		spec.Users = append(spec.Users, sim.UserSpec{UPN: fmt.Sprintf("user%06d@contoso.test", i), Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 1})
	}
	mem := newMemory()
	ctx := context.Background()
	st, err := enginebed.Start(ctx, enginebed.Options{Start: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC),
		Ledger: mem.store, Counter: mem.counter, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Sim.Load(spec); err != nil {
		t.Fatal(err)
	}
	pass := func(name string) (int64, int64, time.Duration, int, int, string) {
		g0, x0 := st.Directory.Calls(), st.Exchange.Calls()
		wall := time.Now()
		res, err := st.Engine.Reconcile(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		el := time.Since(wall)
		g, x := st.Directory.Calls()-g0, st.Exchange.Calls()-x0
		t.Logf("%s pass over %d users: %d Graph calls, %d Exchange calls, %s; %s", name, users, g, x, el.Round(time.Millisecond), res)
		if res.Errors != 0 {
			t.Errorf("%s: %d errors", name, res.Errors)
		}
		return g, x, el, res.UsersRead, res.NewCases, res.UsersPass
	}
	_, _, _, read, newCases, kind := pass("first")
	if kind != "full" || read != users || newCases != 0 {
		t.Fatalf("first pass: %s, %d users read, %d new cases", kind, read, newCases)
	}
	st.Sim.DrainEvents() // no notifications: the leavers below are only found by reconcile
	for i := 0; i < changes; i++ {
		a := sim.AdminAction{Action: "removeLicense", UPN: fmt.Sprintf("user%06d@contoso.test", i*(users/changes))}
		if i%2 == 1 {
			a.Action = "deleteUser"
		}
		if err := st.Sim.Admin(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	st.Sim.DrainEvents()
	g, _, _, read, newCases, kind := pass("incremental")
	if kind != "incremental" || read != changes {
		t.Errorf("incremental pass: %s, %d users read, want %d", kind, read, changes)
	}
	if newCases != changes {
		t.Errorf("incremental pass opened %d cases, want %d", newCases, changes)
	}
	// Reading ~100 changed users is one delta page or two, plus a GetUser
	// per observed leaver; a full read would be users/100 pages.
	if limit := int64(changes*3 + 20); g > limit {
		t.Errorf("incremental pass made %d Graph calls, want at most %d", g, limit)
	}
}

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

// TestReconcileScale reconciles a simulated tenant on the engine bed and
// reports the Graph and Exchange calls it made and how long it took. By
// default 1,000 users of which 100 are deleted; HOLDFAST_SCALE_USERS=10000
// measures the figure quoted in docs/restore.md. Deleted users are a mix:
// 60% in the recycle bin, 30% purged from it (only the soft-deleted
// mailbox is left), 10% inactive under a hold.
func TestReconcileScale(t *testing.T) {
	users := 1000
	if s := os.Getenv("HOLDFAST_SCALE_USERS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 10 {
			t.Fatalf("HOLDFAST_SCALE_USERS=%q: want a number >= 10", s)
		}
		users = n
	}
	deleted := users / 10
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	spec := sim.TenantSpec{SKUs: []sim.SKUSpec{{PartNumber: "ENTERPRISEPACK", Units: users + 10, IncludesLitigationHold: true}}}
	want := map[string]int{}
	for i := 0; i < users; i++ {
		u := sim.UserSpec{UPN: fmt.Sprintf("user%05d@contoso.test", i), Licenses: []string{"ENTERPRISEPACK"}, MailboxItems: 100}
		if i < deleted {
			switch {
			case i%10 < 6:
				u.Deleted, u.DeletedDaysAgo = "softDeleted", 1+i%25
			case i%10 < 9:
				u.Deleted, u.DeletedDaysAgo = "purged", 1+i%25
			default:
				u.Deleted, u.DeletedDaysAgo, u.LitigationHold = "inactive", 40, true
			}
			want[u.Deleted]++
		}
		spec.Users = append(spec.Users, u)
	}
	mem := newMemory()
	ctx := context.Background()
	st, err := enginebed.Start(ctx, enginebed.Options{Start: start, Ledger: mem.store, Counter: mem.counter,
		Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Sim.Load(spec); err != nil {
		t.Fatal(err)
	}
	g0, x0, s0 := st.Directory.Calls(), st.Exchange.Calls(), st.Counter.Total()
	wall := time.Now()
	res, err := st.Engine.Reconcile(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(wall)
	g, x, s := st.Directory.Calls()-g0, st.Exchange.Calls()-x0, st.Counter.Total()-s0
	t.Logf("reconcile of %d users (%d deleted: %v): %d Graph calls, %d Exchange calls, %d table operations, %s; %s",
		users, deleted, want, g, x, s, elapsed.Round(time.Millisecond), res)
	if res.Errors != 0 {
		t.Errorf("%d errors", res.Errors)
	}
	if got := res.NewCases; got != deleted {
		t.Errorf("%d new cases, want one per deleted user (%d)", got, deleted)
	}
	if res.DeletedUsers != want["softDeleted"] {
		t.Errorf("%d deleted users listed, want %d", res.DeletedUsers, want["softDeleted"])
	}
	// A second pass finds nothing new and corrects nothing.
	again, err := st.Engine.Reconcile(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.NewCases != 0 || again.Corrected != 0 {
		t.Errorf("second reconcile: %s", again)
	}
}

package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// ceilingOps is how many upserts the store ceiling is measured over: long
// enough to smooth Azurite's garbage collector, short enough to stay a
// side-by-side measurement.
const ceilingOps = 6000

// storeCeiling measures raw single-entity upserts per second against the
// same Azurite at the handler's concurrency: what the store can do with no
// handler work at all (figure 1).
func (r *run) storeCeiling(ctx context.Context) error {
	defer r.phase("1. store ceiling")()
	svc, err := aztables.NewServiceClientFromConnectionString(r.az.ConnectionString, nil)
	if err != nil {
		return err
	}
	t := svc.NewClient(fmt.Sprintf("benchceiling%d", time.Now().UnixNano()%1e6))
	if _, err := t.CreateTable(ctx, nil); err != nil {
		return fmt.Errorf("create table: %w", err)
	}
	defer func() { _, _ = t.Delete(context.WithoutCancel(ctx), nil) }()
	base := time.Now().UTC()
	entity := func(i int) []byte {
		// About 300 bytes and six properties, one a DateTime, like a case
		// or timer row.
		b, _ := json.Marshal(map[string]any{
			"PartitionKey": fmt.Sprintf("p%03d", i%100), "RowKey": fmt.Sprintf("%s_%08d", base.Format(time.RFC3339Nano), i),
			"CaseKey": fmt.Sprintf("6f1c2d3e-4b5a-4978-8a6b-0c1d2e3f4a5b_%08d-0000-4000-8000-000000000000", i),
			"Kind":    "wake", "State": "protecting", "Version": int32(1),
			"Note":  "benchmark entity of roughly the size of a case row's scalar part..........",
			"DueAt": base.Add(time.Duration(i) * time.Second).Format("2006-01-02T15:04:05.0000000Z"), "DueAt@odata.type": "Edm.DateTime",
		})
		return b
	}
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	az0, self0 := r.azuriteCPU(), selfCPU()
	start := time.Now()
	for w := 0; w < r.o.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= ceilingOps || ctx.Err() != nil {
					return
				}
				if _, err := t.UpsertEntity(ctx, entity(i), &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace}); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	azCPU, selfC := r.azuriteCPU()-az0, selfCPU()-self0
	if firstErr != nil {
		return firstErr
	}
	r.ceiling = float64(ceilingOps) / el.Seconds()
	r.ceilingAzMs = ms(azCPU) / ceilingOps
	r.add(Result{Name: "store ceiling: single-entity upserts", Value: r.ceiling, Unit: "ops/s",
		Note: fmt.Sprintf("%d upserts at concurrency %d in %s; Azurite CPU %.2f ms/op (%.0f%% of a core), harness CPU %.2f ms/op",
			ceilingOps, r.o.Concurrency, el.Round(time.Millisecond), ms(azCPU)/ceilingOps, 100*azCPU.Seconds()/el.Seconds(), ms(selfC)/ceilingOps)})
	return nil
}

// loadTimers inserts n timers that are not due (days 2..29 after from) into
// table, 100 per entity-group transaction, 4 transactions at a time: the
// fastest way into Azurite, and only the load uses it.
func loadTimers(ctx context.Context, connStr, table string, from time.Time, n int) error {
	svc, err := aztables.NewServiceClientFromConnectionString(connStr, nil)
	if err != nil {
		return err
	}
	t := svc.NewClient(table)
	const per = 100
	batches := (n + per - 1) / per
	jobs := make(chan int)
	errc := make(chan error, 4)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range jobs {
				day := from.UTC().Truncate(24*time.Hour).AddDate(0, 0, 2+b%28)
				var acts []aztables.TransactionAction
				for j := 0; j < per && b*per+j < n; j++ {
					i := b*per + j
					due := day.Add(time.Duration(i) * time.Millisecond)
					ck := fmt.Sprintf("6f1c2d3e-4b5a-4978-8a6b-0c1d2e3f4a5b_bench%07d", i)
					e, _ := json.Marshal(map[string]any{
						"PartitionKey": due.Format("20060102"),
						"RowKey":       due.Format("2006-01-02T15:04:05.000000000Z") + "_" + ck + "_wake",
						"CaseKey":      ck, "Kind": "wake",
						"DueAt": due.Format("2006-01-02T15:04:05.0000000Z"), "DueAt@odata.type": "Edm.DateTime",
					})
					acts = append(acts, aztables.TransactionAction{ActionType: aztables.TransactionTypeInsertReplace, Entity: e})
				}
				if _, err := t.SubmitTransaction(ctx, acts, nil); err != nil {
					select {
					case errc <- fmt.Errorf("load timers batch %d: %w", b, err):
					default:
					}
					return
				}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for b := 0; b < batches; b++ {
			select {
			case jobs <- b:
			case <-ctx.Done():
				return
			case err := <-errc:
				errc <- err
				return
			}
		}
	}()
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
	}
	return ctx.Err()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

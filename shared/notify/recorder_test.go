package notify

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

func TestRecorderConcurrentAndCopies(t *testing.T) {
	var r Recorder
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := sampleAlert()
			a.ID = fmt.Sprint(i)
			_ = r.Send(context.Background(), a)
		}()
	}
	wg.Wait()
	got := r.Alerts()
	if len(got) != 50 {
		t.Fatalf("recorded %d alerts, want 50", len(got))
	}
	got[0].Details["threshold"] = "changed"
	if r.Alerts()[0].Details["threshold"] != "7d" {
		t.Error("Alerts returned the recorder's own map")
	}
}

package workers_test

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/quorumkv/quorumkv/internal/workers"
)

// TestRunsEveryTaskAndCloseWaits: every task handed in runs, also those
// handed in while others run, and Close returns once they have.
func TestRunsEveryTaskAndCloseWaits(t *testing.T) {
	p := workers.New()
	var ran atomic.Int64
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		p.Run(func() {
			defer wg.Done()
			ran.Add(1)
		})
	}
	wg.Wait()
	p.Close()
	if got := ran.Load(); got != 100 {
		t.Fatalf("ran %d tasks, want 100", got)
	}
}

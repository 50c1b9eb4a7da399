package node_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/node/nodetest"
)

// TestGracefulStopUnderLoad: writers keep writing through one client (its
// operations share one stream per node) while a node stops gracefully. The
// stopping node finishes what it started, refuses the rest as shutting down
// (the client retries those on another node), and ends its streams, so no
// write fails and the stop does not wait for the drain timeout.
func TestGracefulStopUnderLoad(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{})
	ctx := ctxT(t)
	cl := c.Client("n1", "n2", "n3") // n1 first: it coordinates until it stops
	var (
		wg      sync.WaitGroup
		written atomic.Int64
		stop    = make(chan struct{})
		errsMu  sync.Mutex
		errs    []error
	)
	for w := range 8 {
		wg.Go(func() {
			for i := 0; i < 2000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := []byte(fmt.Sprintf("gs-%d-%d", w, i))
				if _, err := cl.Put(ctx, key, []byte("v")); err != nil {
					errsMu.Lock()
					errs = append(errs, fmt.Errorf("put %s: %w", key, err))
					errsMu.Unlock()
					return
				}
				written.Add(1)
			}
		})
	}
	nodetest.Eventually(t, 10*time.Second, func() error {
		if written.Load() < 200 {
			return errors.New("writers have not started")
		}
		return nil
	})
	start := time.Now()
	c.Stop(0)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("graceful stop took %v: streams held it up", took)
	}
	before := written.Load()
	nodetest.Eventually(t, 10*time.Second, func() error {
		if written.Load() < before+200 {
			return errors.New("writes did not go on after the stop")
		}
		return nil
	})
	close(stop)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d writes failed; first: %v", len(errs), errs[0])
	}
	for w := range 8 {
		if _, err := cl.Get(ctx, []byte(fmt.Sprintf("gs-%d-0", w))); err != nil && !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("read back: %v", err)
		}
	}
}

package node_test

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/node/nodetest"
)

// TestOversizeOperationAlone: a put larger than the node's client message
// limit (6 MiB with the 1 MiB value limit), or past gRPC's receive limit,
// fails INVALID_ARGUMENT for that put only, and so do concurrent 3 MiB
// puts (which take the stream, and once shared a message past the node's
// limit): the small operations the same client runs meanwhile on its
// shared stream to the node all succeed, and the client keeps working.
func TestOversizeOperationAlone(t *testing.T) {
	c := nodetest.Start(t, 1, nodetest.Options{Replicas: 1})
	ctx := ctxT(t)
	cl := c.Client("n1")
	if _, err := cl.Put(ctx, []byte("warm"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	var (
		wg       sync.WaitGroup
		stop     atomic.Bool
		done     atomic.Int64
		failures = make(chan error, 16)
	)
	for g := range 4 {
		wg.Go(func() {
			for i := 0; i < 100000 && !stop.Load(); i++ {
				key := fmt.Appendf(nil, "small-%d-%d", g, i)
				if _, err := cl.Put(ctx, key, []byte("v")); err != nil {
					failures <- fmt.Errorf("put %s: %w", key, err)
					return
				}
				if _, err := cl.Get(ctx, key); err != nil {
					failures <- fmt.Errorf("get %s: %w", key, err)
					return
				}
				done.Add(1)
			}
		})
	}
	waitDone := func(n int64) {
		t.Helper()
		nodetest.Eventually(t, 20*time.Second, func() error {
			if d := done.Load(); d < n {
				return fmt.Errorf("%d small operations done, want %d", d, n)
			}
			return nil
		})
	}
	waitDone(20)
	for _, size := range []int{6 << 20, 48 << 20} {
		_, err := cl.Put(ctx, []byte("big"), bytes.Repeat([]byte("x"), size))
		if !errors.Is(err, client.ErrInvalidArgument) {
			t.Fatalf("put of %d bytes: %v, want an invalid argument", size, err)
		}
		t.Logf("put of %d bytes: %v", size, err)
		waitDone(done.Load() + 20) // the stream still answers
	}
	// Values past the node's value limit but each within api.BatchBytes
	// still take the stream; several at once must not share a message
	// past the node's limit.
	var big sync.WaitGroup
	for i := range 4 {
		big.Go(func() {
			_, err := cl.Put(ctx, fmt.Appendf(nil, "medium-%d", i), bytes.Repeat([]byte("x"), 3<<20))
			if !errors.Is(err, client.ErrInvalidArgument) {
				failures <- fmt.Errorf("put of 3 MiB: %v, want an invalid argument", err)
			}
		})
	}
	big.Wait()
	waitDone(done.Load() + 20)
	stop.Store(true)
	wg.Wait()
	close(failures)
	for err := range failures {
		t.Error(err)
	}
	if _, err := cl.Get(ctx, []byte("big")); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("get of the refused key: %v, want not found", err)
	}
}

package node_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/quorumkv/quorumkv/node/nodetest"
)

// TestLargeValues: values at the 1 MiB limit, many at once and as siblings
// of one key, go through every hop (client stream batches, peer pipes,
// results): no message is refused for its size.
func TestLargeValues(t *testing.T) {
	if raceEnabled {
		t.Skip("megabytes of values are too slow under the race detector (the plain run covers this)")
	}
	c := nodetest.Start(t, 3, nodetest.Options{})
	ctx := ctxT(t)
	cl := c.Client("n1", "n2", "n3")
	value := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i)}, 1<<20) }
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, 3*n)
	for i := range n { // concurrent puts share a stream: their batches must split
		wg.Go(func() {
			if _, err := cl.Put(ctx, fmt.Appendf(nil, "big-%d", i), value(i)); err != nil {
				errs <- fmt.Errorf("put big-%d: %w", i, err)
			}
		})
	}
	for i := range 6 { // blind writes: six 1 MiB siblings of one key
		wg.Go(func() {
			if _, err := cl.Put(ctx, []byte("siblings"), value(i)); err != nil {
				errs <- fmt.Errorf("sibling %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	for i := range n {
		wg.Go(func() {
			r, err := cl.Get(ctx, fmt.Appendf(nil, "big-%d", i))
			switch {
			case err != nil:
				errs <- fmt.Errorf("get big-%d: %w", i, err)
			case len(r.Values) != 1 || !bytes.Equal(r.Values[0], value(i)):
				errs <- fmt.Errorf("get big-%d: %d values", i, len(r.Values))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	r, err := cl.Get(ctx, []byte("siblings"))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Values) != 6 {
		t.Fatalf("%d siblings, want 6", len(r.Values))
	}
}

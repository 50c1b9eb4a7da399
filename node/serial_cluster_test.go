package node_test

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/node/nodetest"
)

// TestSerialOnThreeNodes: compare-and-set through real acceptors on three
// nodes: a create, a stale version refused with the current state, a read
// from another node, a delete.
func TestSerialOnThreeNodes(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{})
	ctx := ctxT(t)
	cl := c.Client()
	key := []byte("reg")
	r, err := cl.CompareAndSet(ctx, key, []byte("a"), client.ExpectAbsent())
	if err != nil || !r.Applied || r.Version != 1 {
		t.Fatalf("create: %+v %v", r, err)
	}
	r, err = cl.CompareAndSet(ctx, key, []byte("b"), client.ExpectVersion(0))
	if !errors.Is(err, client.ErrConditionFailed) || r == nil || r.Version != 1 || string(r.Value) != "a" {
		t.Fatalf("stale version: %+v %v", r, err)
	}
	r, err = c.Client("n3").SerialGet(ctx, key)
	if err != nil || !r.Found || string(r.Value) != "a" {
		t.Fatalf("get: %+v %v", r, err)
	}
	if _, err = cl.SerialDelete(ctx, key, client.ExpectVersion(1)); err != nil {
		t.Fatal(err)
	}
	r, err = cl.SerialGet(ctx, key)
	if err != nil || r.Found || r.Version != 2 {
		t.Fatalf("after delete: %+v %v", r, err)
	}
}

// TestSerialConcurrentIncrementsCountExactly: 32 clients increment one key
// through every node; the count is exact.
func TestSerialConcurrentIncrementsCountExactly(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{})
	ctx := ctxT(t)
	key := []byte("hot")
	const clients, each = 32, 10
	var wg sync.WaitGroup
	errs := make(chan error, clients*each)
	for i := range clients {
		cl := c.Client(c.IDs()[i%3])
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if _, err := cl.Increment(ctx, key, 1); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("increment: %v", err)
	}
	r, err := c.Client().SerialGet(ctx, key)
	if err != nil || !bytes.Equal(r.Value, []byte(strconv.Itoa(clients*each))) {
		t.Fatalf("count %q (%v), want %d", r.Value, err, clients*each)
	}
}

// TestSerialOneReplicaDown: with one node of three stopped, compare-and-set
// keeps succeeding.
func TestSerialOneReplicaDown(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{})
	ctx := ctxT(t)
	c.Stop(c.Index("n3"))
	cl := c.Client("n1", "n2")
	ok := 0
	const n = 200
	for i := range n {
		key := []byte(fmt.Sprintf("k-%d", i%20))
		if _, err := cl.Increment(ctx, key, 1); err == nil {
			ok++
		}
	}
	if ok < n*99/100 {
		t.Fatalf("%d of %d increments succeeded with one replica down", ok, n)
	}
}

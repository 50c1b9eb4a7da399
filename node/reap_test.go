package node_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/node"
	"github.com/quorumkv/quorumkv/node/nodetest"
)

// tombstonesOn counts, on node n's own replica, keys prefix-0…count-1 that
// are stored as tombstones only, and keys with live values.
func tombstonesOn(n *node.Node, prefix string, count int) (tombs, livevals int) {
	for i := range count {
		c, found, _ := n.Store().Get([]byte(fmt.Sprintf("%s-%d", prefix, i)))
		switch {
		case !found:
		case c.AllTombstones():
			tombs++
		default:
			livevals++
		}
	}
	return tombs, livevals
}

// TestDeletesStayDeleted: keys are deleted while a replica is cut off. After
// the heal, exchanges bring it the tombstones — nothing is resurrected — and
// the tombstones are reaped only once every replica is known to hold them;
// a key written again after the reap reads back.
func TestDeletesStayDeleted(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{Tune: func(cfg *node.Config) {
		cfg.DisableHintedHandoff = true
		cfg.TombstoneGrace = time.Millisecond
	}})
	ctx := ctxT(t)
	const n = 100
	cl := c.Client("n1", "n2")
	writeKeys(ctx, t, cl, "del", n, client.WithLevel(client.All))
	c.Faults.Isolate("n3", c.IDs(), nodetest.Refuse)
	for i := range n {
		key := []byte(fmt.Sprintf("del-%d", i))
		got, err := cl.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Delete(ctx, key, client.WithContext(got.Context)); err != nil {
			t.Fatal(err)
		}
	}
	// While n3 is cut off nothing is reaped, however old the tombstones.
	c.Repair(ctx)
	if tombs, _ := tombstonesOn(c.Node("n1"), "del", n); tombs != n {
		t.Fatalf("n1 holds %d tombstones while n3 is cut off, want %d", tombs, n)
	}
	if _, livevals := tombstonesOn(c.Node("n3"), "del", n); livevals != n {
		t.Fatalf("n3 should still hold the old values, holds %d", livevals)
	}
	c.Faults.Heal()
	// First round: n3 gets the tombstones; the replicas were not equal, so
	// nothing is reaped yet.
	c.Repair(ctx)
	for _, id := range c.IDs() {
		tombs, livevals := tombstonesOn(c.Node(id), "del", n)
		if livevals != 0 || tombs != n {
			t.Fatalf("after the first round %s holds %d tombstones and %d live values", id, tombs, livevals)
		}
	}
	// Second round: every replica is equal and the grace has passed: reaped.
	c.Repair(ctx)
	for _, id := range c.IDs() {
		if tombs, livevals := tombstonesOn(c.Node(id), "del", n); tombs+livevals != 0 {
			t.Fatalf("after the second round %s holds %d tombstones and %d live values", id, tombs, livevals)
		}
	}
	for i := range n {
		key := []byte(fmt.Sprintf("del-%d", i))
		if _, err := cl.Get(ctx, key, client.WithLevel(client.All)); err != client.ErrNotFound {
			t.Fatalf("get %s after reaping: %v, want not found", key, err)
		}
	}
	// A key written again after its tombstone was reaped is never masked.
	key := []byte("del-0")
	if _, err := cl.Put(ctx, key, []byte("again"), client.WithLevel(client.All)); err != nil {
		t.Fatal(err)
	}
	c.Repair(ctx)
	got, err := cl.Get(ctx, key, client.WithLevel(client.All))
	if err != nil || len(got.Values) != 1 || string(got.Values[0]) != "again" {
		t.Fatalf("rewrite after reap: %v %v", err, got)
	}
}

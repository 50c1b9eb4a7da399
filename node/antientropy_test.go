package node_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/node"
	"github.com/quorumkv/quorumkv/node/nodetest"
)

func noHints(cfg *node.Config) { cfg.DisableHintedHandoff = true }

// TestAntiEntropyConverges: with hints off, 2,000 keys are written while a
// replica is cut off; after the heal, with no reads, exchanges alone bring
// the replica every key within a bounded number of rounds, and the next
// round repairs nothing.
func TestAntiEntropyConverges(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{Tune: noHints})
	ctx := ctxT(t)
	c.Faults.Isolate("n3", c.IDs(), nodetest.Refuse)
	writeKeys(ctx, t, c.Client("n1", "n2"), "ae", 2000)
	if missing := missingOn(c.Node("n3"), "ae", 2000); len(missing) != 2000 {
		t.Fatalf("n3 got %d keys while cut off", 2000-len(missing))
	}
	c.Faults.Heal()
	rounds := 0
	for ; rounds < 3; rounds++ {
		c.Repair(ctx)
		if len(missingOn(c.Node("n3"), "ae", 2000)) == 0 {
			break
		}
	}
	if missing := missingOn(c.Node("n3"), "ae", 2000); len(missing) > 0 {
		t.Fatalf("n3 still lacks %d keys after %d rounds", len(missing), rounds)
	}
	t.Logf("converged after %d round(s)", rounds+1)
	// Dots of a key that came back to n3 may add an epoch entry (K5 rule):
	// allow one more round to settle, then nothing is left to repair.
	c.Repair(ctx)
	if n := c.Repair(ctx); n != 0 {
		t.Fatalf("a round after convergence repaired %d keys", n)
	}
}

// TestWipedReplica: a node whose data directory is deleted restarts as a new
// incarnation; anti-entropy restores every key, and writes through it are
// never dropped (Riak KV679).
func TestWipedReplica(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{Tune: noHints})
	ctx := ctxT(t)
	writeKeys(ctx, t, c.Client("n1"), "wiped", 300)
	// KV679: k written 5 times through n1 (each write supersedes the last).
	cl := c.Client("n1")
	key := []byte("kv679")
	for i := range 5 {
		cur, err := cl.Get(ctx, key, client.WithLevel(client.All))
		token := ""
		if err == nil {
			token = cur.Context
		}
		if _, err := cl.Put(ctx, key, []byte(fmt.Sprintf("old-%d", i)), client.WithContext(token), client.WithLevel(client.All)); err != nil {
			t.Fatal(err)
		}
	}
	oldActor := c.Node("n1").Store().Actor()
	c.Wipe(0)
	n1 := c.Restart(0)
	if !n1.Store().Fresh() || n1.Store().Actor() == oldActor {
		t.Fatalf("wiped node kept its actor %s", oldActor)
	}
	c.WaitConverged()
	// A write through the wiped node, blind and with a read context, both survive.
	cl = c.Client("n1")
	if _, err := cl.Put(ctx, key, []byte("new-blind"), client.WithLevel(client.All)); err != nil {
		t.Fatal(err)
	}
	got, err := cl.Get(ctx, key, client.WithLevel(client.All))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(sorted(got.Values), "new-blind") {
		t.Fatalf("blind write through the wiped node lost: %v", sorted(got.Values))
	}
	if _, err := cl.Put(ctx, key, []byte("new"), client.WithContext(got.Context), client.WithLevel(client.All)); err != nil {
		t.Fatal(err)
	}
	got, err = cl.Get(ctx, key, client.WithLevel(client.All))
	if err != nil || !slices.Equal(sorted(got.Values), []string{"new"}) {
		t.Fatalf("after a write with the read context: %v %v", err, got)
	}
	// Anti-entropy restores the wiped node's data.
	nodetest.Eventually(t, 30*time.Second, func() error {
		c.Repair(ctx)
		if missing := missingOn(c.Node("n1"), "wiped", 300); len(missing) > 0 {
			return fmt.Errorf("n1 lacks %d keys", len(missing))
		}
		return nil
	})
}

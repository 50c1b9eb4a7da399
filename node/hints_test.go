package node_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/node"
	"github.com/quorumkv/quorumkv/node/nodetest"
)

// fastHints makes failed hint deliveries retry quickly.
func fastHints(cfg *node.Config) {
	cfg.HintInterval = 50 * time.Millisecond
	cfg.HintMaxBackoff = 200 * time.Millisecond
}

// writeKeys writes n keys (prefix-i = v-i) with a few concurrent writers.
func writeKeys(ctx context.Context, t *testing.T, cl *client.Client, prefix string, n int, opts ...client.CallOption) {
	t.Helper()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := range n {
		g.Go(func() error {
			key := fmt.Sprintf("%s-%d", prefix, i)
			if _, err := cl.Put(gctx, []byte(key), []byte("v-"+key), opts...); err != nil {
				return fmt.Errorf("put %s: %w", key, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

func totalHints(c *nodetest.Cluster) int {
	total := 0
	for _, n := range c.Nodes {
		if n != nil && n.Hints() != nil {
			total += n.Hints().Pending()
		}
	}
	return total
}

// missingOn lists the keys prefix-0…n-1 that node's own replica lacks.
func missingOn(n *node.Node, prefix string, count int) []string {
	var missing []string
	for i := range count {
		key := fmt.Sprintf("%s-%d", prefix, i)
		c, found, err := n.Store().Get([]byte(key))
		if err != nil || !found || !slices.Contains(live(c), "v-"+key) {
			missing = append(missing, key)
		}
	}
	return missing
}

// TestHintsDeliverAfterPartition: one replica is cut off while 1,000 keys are
// written at QUORUM; after the heal the hint backlog drains to zero and the
// replica's own store (read directly, no read repair) holds every key.
func TestHintsDeliverAfterPartition(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{Tune: fastHints})
	ctx := ctxT(t)
	c.Faults.Isolate("n3", c.IDs(), nodetest.Refuse)
	writeKeys(ctx, t, c.Client("n1", "n2"), "part", 1000)
	// A write's hint is stored just after the write returns at W.
	nodetest.Eventually(t, 10*time.Second, func() error {
		if got := totalHints(c); got < 1000 {
			return fmt.Errorf("hints pending while n3 is cut off: %d, want >= 1000", got)
		}
		return nil
	})
	c.Faults.Heal()
	nodetest.Eventually(t, 60*time.Second, func() error {
		if n := totalHints(c); n != 0 {
			return fmt.Errorf("%d hints pending", n)
		}
		return nil
	})
	if missing := missingOn(c.Node("n3"), "part", 1000); len(missing) > 0 {
		t.Fatalf("n3 lacks %d keys after hint replay, e.g. %v", len(missing), missing[:min(5, len(missing))])
	}
}

// TestSloppyQuorum: with 5 nodes and N=3, two primaries of a key are cut
// off. A sloppy W=2 write succeeds with fallbacks holding hints (not in their
// own key space); a strict W=2 write fails with unavailable; after the heal
// the fallbacks deliver and drop their hints.
func TestSloppyQuorum(t *testing.T) {
	c := nodetest.Start(t, 5, nodetest.Options{Tune: fastHints})
	ctx := ctxT(t)
	key := []byte("sloppy")
	prefs := c.Preference(key)
	coord, down := prefs[0], prefs[1:]
	for _, d := range down {
		c.Faults.Isolate(d, c.IDs(), nodetest.Refuse)
	}
	cl := c.Client(coord)
	res, err := cl.Put(ctx, key, []byte("v"), client.WithCount(2))
	if err != nil {
		t.Fatalf("sloppy W=2 put with two primaries down: %v", err)
	}
	if res.Info.FallbackAcks == 0 {
		t.Fatalf("no fallback acks: %+v", res.Info)
	}
	var holders []string
	for _, id := range c.IDs() {
		if slices.Contains(prefs, id) {
			continue
		}
		n := c.Node(id)
		if n.Hints().Pending() > 0 {
			holders = append(holders, id)
		}
		if _, found, _ := n.Store().Get(key); found {
			t.Fatalf("fallback %s stored the key in its own key space", id)
		}
	}
	if len(holders) == 0 {
		t.Fatal("no fallback holds a hint")
	}
	_, err = cl.Put(ctx, key, []byte("v2"), client.WithCount(2), client.WithStrict())
	var un *client.UnavailableError
	if !errors.As(err, &un) || un.Required != 2 || un.Acknowledged != 1 {
		t.Fatalf("strict W=2 put with two primaries down: %v, want unavailable 2/1", err)
	}
	c.Faults.Heal()
	nodetest.Eventually(t, 30*time.Second, func() error {
		if n := totalHints(c); n != 0 {
			return fmt.Errorf("%d hints pending", n)
		}
		for _, d := range down {
			clk, _, _ := c.Node(d).Store().Get(key)
			if got := live(clk); !slices.Contains(got, "v") || !slices.Contains(got, "v2") {
				return fmt.Errorf("%s holds %v", d, got)
			}
		}
		return nil
	})
}

// TestHintsOff: with hinted handoff off, nothing is hinted and sloppy quorum
// is not used: W=2 with two primaries down fails.
func TestHintsOff(t *testing.T) {
	c := nodetest.Start(t, 5, nodetest.Options{Tune: func(cfg *node.Config) { cfg.DisableHintedHandoff = true }})
	ctx := ctxT(t)
	key := []byte("no-hints")
	prefs := c.Preference(key)
	for _, d := range prefs[1:] {
		c.Faults.Isolate(d, c.IDs(), nodetest.Refuse)
	}
	_, err := c.Client(prefs[0]).Put(ctx, key, []byte("v"), client.WithCount(2))
	var un *client.UnavailableError
	if !errors.As(err, &un) {
		t.Fatalf("W=2 without hints and two primaries down: %v, want unavailable", err)
	}
	if got := totalHints(c); got != 0 {
		t.Fatalf("hints pending with hinted handoff off: %d", got)
	}
}

// TestHintCap: hints for a target stop accumulating at the cap (the window
// is the same mechanism by age, tested with a fake clock in hintedhandoff),
// and client writes that reached W still succeed.
func TestHintCap(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{Tune: func(cfg *node.Config) {
		cfg.MaxHintsPerTarget = 50
	}})
	ctx := ctxT(t)
	c.Faults.Isolate("n3", c.IDs(), nodetest.Refuse)
	writeKeys(ctx, t, c.Client("n1"), "capped", 200)
	st := c.Node("n1").Hints().Stats()
	if len(st) != 1 || st[0].Target != "n3" || st[0].Pending != 50 || st[0].Dropped != 150 {
		t.Fatalf("hint stats on n1: %+v, want 50 pending and 150 dropped for n3", st)
	}
}

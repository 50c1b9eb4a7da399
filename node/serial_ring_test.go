package node_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/node/nodetest"
)

// counters increments registers under load while the ring changes, and
// knows for each one the range its value must lie in: at least its
// acknowledged increments, at most those plus the ones with unknown
// outcomes.
type counters struct {
	keys         []string
	acked, maybe []atomic.Int64
	stop         chan struct{}
	wg           sync.WaitGroup
	failures     atomic.Int64
	cl           atomic.Pointer[client.Client]
}

func startCounters(ctx context.Context, cl *client.Client, n, workers int) *counters {
	c := &counters{acked: make([]atomic.Int64, n), maybe: make([]atomic.Int64, n), stop: make(chan struct{})}
	c.cl.Store(cl)
	for i := range n {
		c.keys = append(c.keys, fmt.Sprintf("ctr-%d", i))
	}
	for w := range workers {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			for i := w; ; i++ {
				select {
				case <-c.stop:
					return
				default:
				}
				k := i % n
				cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				_, err := c.cl.Load().Increment(cctx, []byte(c.keys[k]), 1)
				cancel()
				var ue *client.UnavailableError
				switch {
				case err == nil:
					c.acked[k].Add(1)
				case errors.As(err, &ue):
					c.failures.Add(1)
				default:
					c.maybe[k].Add(1)
					c.failures.Add(1)
				}
			}
		}()
	}
	return c
}

func (c *counters) halt() { close(c.stop); c.wg.Wait() }

// waitHoldsData waits until every node's document says every member holds
// data (registers were written), so a ring change waits for its joiners
// (a ring said to hold no data changes without waiting for them).
func waitHoldsData(t *testing.T, c *nodetest.Cluster) {
	t.Helper()
	nodetest.Eventually(t, 30*time.Second, func() error {
		for _, id := range c.IDs() {
			n := c.Node(id)
			if n == nil {
				continue
			}
			for mid, m := range n.Membership().Doc().Members {
				if m.Empty && c.Node(mid) != nil {
					return fmt.Errorf("%s: %s still says it holds no data", id, mid)
				}
			}
		}
		return nil
	})
}

// check reads every counter at SERIAL and compares it with what was
// acknowledged.
func (c *counters) check(t *testing.T, ctx context.Context, cl *client.Client) {
	t.Helper()
	for i, k := range c.keys {
		r, err := cl.SerialGet(ctx, []byte(k))
		if err != nil {
			t.Fatalf("read %s: %v", k, err)
		}
		got := int64(0)
		if r.Found {
			if got, err = strconv.ParseInt(string(r.Value), 10, 64); err != nil {
				t.Fatalf("%s = %q", k, r.Value)
			}
		}
		lo, hi := c.acked[i].Load(), c.acked[i].Load()+c.maybe[i].Load()
		if got < lo || got > hi {
			t.Errorf("%s = %d, want between %d (acknowledged) and %d", k, got, lo, hi)
		}
	}
}

// TestR7PaperReplaceEveryAcceptor (CASPaxos §2.3: replacing every acceptor
// of a partition one by one must rescan every key, or all data can be
// lost): three nodes are replaced, one join and one leave at a time, under
// a steady load of increments; every register keeps every acknowledged
// increment, and one never acknowledged never appears.
func TestR7PaperReplaceEveryAcceptor(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{})
	ctx := ctxT(t)
	load := startCounters(ctx, c.Client(), 20, 4)
	waitHoldsData(t, c)
	admin := c.Client("n1")
	members := []string{"n1", "n2", "n3"}
	for round := range 3 {
		c.Add()
		members = append(members, fmt.Sprintf("n%d", 4+round))
		c.WaitRing(90*time.Second, members...)
		leaving := members[0]
		if _, err := admin.Leave(ctx, client.MemberChange{Node: leaving}); err != nil {
			t.Fatalf("leave %s: %v", leaving, err)
		}
		members = members[1:]
		c.WaitRing(90*time.Second, members...)
		load.cl.Store(c.Client(members...))
		c.Stop(c.Index(leaving))
		admin = c.Client(members[0])
	}
	load.halt()
	load.check(t, ctx, c.Client(members...))
	t.Logf("%d increments acknowledged during three replacements, %d failed", sumOf(load.acked), load.failures.Load())
}

func sumOf(xs []atomic.Int64) int64 {
	var n int64
	for i := range xs {
		n += xs[i].Load()
	}
	return n
}

// incrementAll increments every key of keys n times through cl and returns
// the acknowledged counts.
func incrementAll(ctx context.Context, t *testing.T, cl *client.Client, keys []string, n int) map[string]int {
	t.Helper()
	acked := map[string]int{}
	for _, k := range keys {
		for range n {
			if _, err := cl.Increment(ctx, []byte(k), 1); err != nil {
				t.Fatalf("increment %s: %v", k, err)
			}
			acked[k]++
		}
	}
	return acked
}

func checkCounts(ctx context.Context, t *testing.T, cl *client.Client, acked map[string]int) {
	t.Helper()
	for k, want := range acked {
		r, err := cl.SerialGet(ctx, []byte(k))
		if err != nil {
			t.Fatalf("read %s: %v", k, err)
		}
		if got, _ := strconv.Atoi(string(r.Value)); got != want {
			t.Errorf("%s = %q, want %d", k, r.Value, want)
		}
	}
}

// TestR5Scylla7359RemoveWithAStaleReplica (scylla#7359: streaming from a
// single replica during removenode lost acknowledged writes): registers
// are written while one replica is cut off (it stays stale: nothing but
// Paxos rounds changes a register), then a dead node is removed; the nodes
// that take its partitions copy from a majority of the current replicas,
// the stale one among them, and every acknowledged increment survives.
func TestR5Scylla7359RemoveWithAStaleReplica(t *testing.T) {
	c := nodetest.Start(t, 4, nodetest.Options{})
	ctx := ctxT(t)
	c.Faults.Isolate("n2", c.IDs(), nodetest.Refuse)
	keys := keysOf("stale", 30)
	acked := incrementAll(ctx, t, c.Client("n3", "n4"), keys, 3)
	c.Faults.Heal()
	c.Stop(c.Index("n1"))
	nodetest.Eventually(t, 30*time.Second, func() error {
		_, err := c.Client("n3").Remove(ctx, client.MemberChange{Node: "n1"})
		return err // refused while gossip still sees n1 up
	})
	c.WaitRing(90*time.Second, "n2", "n3", "n4")
	checkCounts(ctx, t, c.Client("n2", "n3", "n4"), acked)
}

// TestR6Cassandra8346OneChangeAtATime (CASSANDRA-8346: Paxos with two
// pending changes of one range): a second join while the first is in
// progress does not start a second change of the partitions: it becomes
// part of the one pending change (its target), every member declares
// itself ready again for the new target, the gainers copy the registers
// again, and only then does the change commit; partitions the first joiner
// was pulling for the old target leave its transfers. The first joiner
// is held mid-pull (its links to n2 and n3 refuse) until the second has
// joined the target. Under a steady load of increments every acknowledged
// one survives.
func TestR6Cassandra8346OneChangeAtATime(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{})
	ctx := ctxT(t)
	load := startCounters(ctx, c.Client(), 20, 4)
	waitHoldsData(t, c)
	c.Faults.Cut("n4", "n2", nodetest.Refuse)
	c.Faults.Cut("n4", "n3", nodetest.Refuse)
	c.Add()
	inTarget := func(id string) func() error {
		return func() error {
			if c.Node("n1").Membership().Target().Contains(id) {
				return nil
			}
			return fmt.Errorf("%s not in n1's target yet", id)
		}
	}
	nodetest.Eventually(t, 30*time.Second, inTarget("n4"))
	c.Add()
	nodetest.Eventually(t, 30*time.Second, inTarget("n5"))
	if r := c.Node("n1").Membership().Ring(); r.Contains("n4") {
		t.Fatalf("the first join committed before the second joined (ring %v): no two pending changes", r.Members())
	}
	c.Faults.Heal()
	c.WaitRing(90*time.Second, "n1", "n2", "n3", "n4", "n5")
	load.halt()
	load.check(t, ctx, c.Client())
}

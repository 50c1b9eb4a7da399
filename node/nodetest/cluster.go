package nodetest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/node"
	"github.com/quorumkv/quorumkv/serial"
)

// Options tune a test cluster.
type Options struct {
	Replicas   int
	Partitions int
	// Tune edits each node's config before it starts.
	Tune func(*node.Config)
	// Logs shows node logs (default: discarded).
	Logs bool
	// Acceptors, when set, replaces each node's transport to Paxos
	// acceptors (tests of the register edge alone); links still obey
	// Faults.
	Acceptors func(node string) serial.Acceptors
}

// Cluster is an in-process cluster. Stopped nodes are nil in Nodes.
type Cluster struct {
	t      testing.TB
	opts   Options
	dir    string
	Faults *Faults
	Nodes  []*node.Node
	ids    []string
	seed   string
}

// Start starts n nodes (ids n1…nN) and waits until each sees all n in its ring.
func Start(t testing.TB, n int, opts Options) *Cluster {
	t.Helper()
	if opts.Replicas == 0 {
		opts.Replicas = 3
	}
	if opts.Partitions == 0 {
		opts.Partitions = 64
	}
	c := &Cluster{t: t, opts: opts, dir: t.TempDir(), Faults: NewFaults()}
	t.Cleanup(c.StopAll)
	for i := 1; i <= n; i++ {
		c.ids = append(c.ids, fmt.Sprintf("n%d", i))
		c.Nodes = append(c.Nodes, nil)
		c.Restart(i - 1)
	}
	c.WaitConverged()
	return c
}

// IDs are the node ids, n1…nN.
func (c *Cluster) IDs() []string { return slices.Clone(c.ids) }

func (c *Cluster) config(i int) node.Config {
	cfg := node.LocalConfig()
	cfg.ID, cfg.DataDir = c.ids[i], filepath.Join(c.dir, c.ids[i])
	cfg.Listen, cfg.Gossip = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Replicas, cfg.Partitions = c.opts.Replicas, c.opts.Partitions
	cfg.ReplicaTimeout, cfg.DrainTimeout = 2*time.Second, 2*time.Second
	cfg.WrapTransport, cfg.WrapPeer = c.Faults.Wrap(c.ids[i]), c.Faults.WrapPeer(c.ids[i])
	cfg.WrapAcceptors, cfg.WrapSerialForwarder = c.Faults.WrapAcceptors(c.ids[i]), c.Faults.WrapSerialForwarder(c.ids[i])
	if c.opts.Acceptors != nil {
		acc, wrap := c.opts.Acceptors(c.ids[i]), cfg.WrapAcceptors
		cfg.WrapAcceptors = func(serial.Acceptors) serial.Acceptors { return wrap(acc) }
	}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if c.opts.Logs {
		cfg.Logger = slog.Default().With("test", c.t.Name())
	}
	if c.seed != "" {
		cfg.Join = []string{c.seed}
	}
	if c.opts.Tune != nil {
		c.opts.Tune(&cfg)
	}
	return cfg
}

// Restart starts node i (again), on its old data directory.
func (c *Cluster) Restart(i int) *node.Node {
	c.t.Helper()
	if c.Nodes[i] != nil {
		c.t.Fatalf("node %s is running", c.ids[i])
	}
	cfg := c.config(i)
	if c.seed != "" {
		cfg.Join = c.liveGossip()
	}
	n, err := node.Start(cfg)
	if err != nil {
		c.t.Fatalf("start %s: %v", c.ids[i], err)
	}
	c.Nodes[i] = n
	if c.seed == "" {
		c.seed = n.GossipAddr()
	}
	return n
}

func (c *Cluster) liveGossip() []string {
	var out []string
	for _, n := range c.Nodes {
		if n != nil {
			out = append(out, n.GossipAddr())
		}
	}
	return out
}

// Stop stops node i gracefully.
func (c *Cluster) Stop(i int) {
	c.t.Helper()
	if c.Nodes[i] == nil {
		return
	}
	if err := c.Nodes[i].Stop(context.Background()); err != nil {
		c.t.Errorf("stop %s: %v", c.ids[i], err)
	}
	c.Nodes[i] = nil
}

// Wipe stops node i and deletes its data directory (a replaced disk).
func (c *Cluster) Wipe(i int) {
	c.t.Helper()
	c.Stop(i)
	if err := os.RemoveAll(filepath.Join(c.dir, c.ids[i])); err != nil {
		c.t.Fatal(err)
	}
}

// StopAll stops every running node.
func (c *Cluster) StopAll() {
	for i := range c.Nodes {
		c.Stop(i)
	}
}

// Index is the position of node id.
func (c *Cluster) Index(id string) int {
	i := slices.Index(c.ids, id)
	if i < 0 {
		c.t.Fatalf("no node %q", id)
	}
	return i
}

// Node returns the running node id.
func (c *Cluster) Node(id string) *node.Node {
	n := c.Nodes[c.Index(id)]
	if n == nil {
		c.t.Fatalf("node %s is stopped", id)
	}
	return n
}

// WaitConverged waits until every running node's ring holds every node,
// no join is still moving partitions, and all running nodes share one ring.
func (c *Cluster) WaitConverged() {
	c.t.Helper()
	Eventually(c.t, 20*time.Second, func() error {
		sig := ""
		for _, n := range c.Nodes {
			if n == nil {
				continue
			}
			m := n.Membership()
			if got := m.Ring().Members(); len(got) != len(c.ids) {
				return fmt.Errorf("%s sees %v", n.ID(), got)
			}
			// No join still moving partitions: writes would also go to the
			// nodes gaining them, which tests would take for fallbacks.
			if cur, target := m.Ring().Signature(), m.Target().Signature(); cur != target {
				return fmt.Errorf("%s is still moving to ring %s", n.ID(), target)
			}
			if s := m.Ring().Signature(); sig != "" && s != sig {
				return fmt.Errorf("%s has ring %s, others %s", n.ID(), s, sig)
			}
			if ts := n.Transfers(); len(ts) > 0 {
				return fmt.Errorf("%s: %d partitions not held yet, e.g. %+v", n.ID(), len(ts), ts[0])
			}
			sig = m.Ring().Signature()
		}
		return nil
	})
}

// Client connects to the given nodes, which coordinate every request (no
// key routing); with no ids, to every running node with key routing.
func (c *Cluster) Client(ids ...string) *client.Client {
	c.t.Helper()
	opts := []client.Option{client.WithAttemptTimeout(5 * time.Second)}
	if len(ids) > 0 {
		opts = append(opts, client.WithoutRouting())
	}
	if len(ids) == 0 {
		for i, n := range c.Nodes {
			if n != nil {
				ids = append(ids, c.ids[i])
			}
		}
	}
	var eps []string
	for _, id := range ids {
		eps = append(eps, c.Node(id).Addr())
	}
	cl, err := client.New(eps, opts...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// Repair runs one anti-entropy round on every running node, in id order,
// and returns the keys repaired.
func (c *Cluster) Repair(ctx context.Context) int {
	c.t.Helper()
	total := 0
	for _, n := range c.Nodes {
		if n == nil {
			continue
		}
		res, err := n.AntiEntropy().Round(ctx, -1)
		if err != nil {
			c.t.Fatalf("anti-entropy round on %s: %v", n.ID(), err)
		}
		total += res.KeysRepaired
	}
	return total
}

// Add starts one more node (id n<N+1>) that joins the cluster, and returns
// its index. It does not wait for the join to finish (see WaitRing).
func (c *Cluster) Add() int {
	c.t.Helper()
	i := len(c.ids)
	c.ids = append(c.ids, fmt.Sprintf("n%d", i+1))
	c.Nodes = append(c.Nodes, nil)
	c.Restart(i)
	return i
}

// WaitRing waits until every running node's current and target rings are
// exactly ids and no node is moving a partition.
func (c *Cluster) WaitRing(timeout time.Duration, ids ...string) {
	c.t.Helper()
	want := slices.Sorted(slices.Values(ids))
	Eventually(c.t, timeout, func() error {
		for _, n := range c.Nodes {
			if n == nil {
				continue
			}
			m := n.Membership()
			if got := m.Ring().Members(); !slices.Equal(got, want) {
				return fmt.Errorf("%s: ring %v, want %v", n.ID(), got, want)
			}
			if got := m.Target().Members(); !slices.Equal(got, want) {
				return fmt.Errorf("%s: target %v, want %v", n.ID(), got, want)
			}
			if ts := n.Transfers(); len(ts) > 0 {
				return fmt.Errorf("%s: %d transfers, e.g. %+v", n.ID(), len(ts), ts[0])
			}
		}
		return nil
	})
}

// Preference is the ordered replica list of key.
func (c *Cluster) Preference(key []byte) []string {
	for _, n := range c.Nodes {
		if n != nil {
			r := n.Membership().Ring()
			return slices.Clone(r.Preference(r.Partition(key)))
		}
	}
	c.t.Fatal("no running node")
	return nil
}

// Eventually polls cond until it returns nil or timeout passes.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	wait := time.Millisecond
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v: %v", timeout, err)
		}
		time.Sleep(wait)
		wait = min(2*wait, 50*time.Millisecond)
	}
}

package ring

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeSource is a SeedSource whose answer a test changes; it counts the
// calls and signals new seeds when notify is set.
type fakeSource struct {
	mu     sync.Mutex
	seeds  []string
	err    error
	calls  int
	notify chan struct{}
}

func (f *fakeSource) Seeds(context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return slices.Clone(f.seeds), f.err
}

func (f *fakeSource) set(seeds []string, err error) {
	f.mu.Lock()
	f.seeds, f.err = seeds, err
	f.mu.Unlock()
	if f.notify != nil {
		select {
		case f.notify <- struct{}{}:
		default:
		}
	}
}

func (f *fakeSource) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// notifyingSource is a fakeSource that is also a SeedNotifier.
type notifyingSource struct{ *fakeSource }

func (n notifyingSource) SeedsChanged() <-chan struct{} { return n.notify }

// TestMembershipSeedSourceRetried: a node whose seed source cannot answer
// yet (a name not in DNS yet) starts as a joiner, not as a founder, asks
// again every round, and joins the seed the source finds later.
func TestMembershipSeedSourceRetried(t *testing.T) {
	defer verifyNoLeaks(t)
	n1 := startNode(t, nodeOpts{id: "n1"})
	defer shutdownAll(t, n1)
	src := &fakeSource{err: errors.New("lookup qkv.test: no such host")}
	cfg := nodeConfig(nodeOpts{id: "n2"})
	cfg.SeedSources = []SeedSource{src}
	cfg.FirstRejoinDelay = 50 * time.Millisecond
	n2, err := StartMembership(cfg)
	if err != nil {
		t.Fatal(err)
	}
	commitWhenReady(n2)
	defer shutdownAll(t, n2)
	if n2.Epoch() != 0 || n2.Doc().StateOf("n2") != StateJoining {
		t.Fatalf("a node with a seed source founded a ring: %v at epoch %d", n2.Ring().Members(), n2.Epoch())
	}
	waitFor(t, "the source asked again", func() bool { return src.callCount() >= 3 })
	if n2.Epoch() != 0 {
		t.Fatal("formed a ring before the source found a seed")
	}
	src.set([]string{n1.GossipAddr(), n2.GossipAddr()}, nil) // its own address is left out
	waitFor(t, "n2 joined the seed found late", func() bool { return ringIs(n1, "n1", "n2") && ringIs(n2, "n1", "n2") })
}

// TestMembershipSeedSourceChanges: the seeds are asked for again at every
// round, so a node whose partner went away (the ring lost n1 to a
// partition memberlist gave up on) finds the member the records name now.
// A SeedNotifier's signal starts a round at once, long before the
// RejoinInterval.
func TestMembershipSeedSourceChanges(t *testing.T) {
	defer verifyNoLeaks(t)
	n1 := startNode(t, nodeOpts{id: "n1"})
	defer shutdownAll(t, n1)
	src := notifyingSource{&fakeSource{notify: make(chan struct{}, 1)}}
	cfg := nodeConfig(nodeOpts{id: "n2"})
	cfg.SeedSources = []SeedSource{src}
	cfg.RejoinInterval, cfg.FirstRejoinDelay = time.Hour, time.Hour
	n2, err := StartMembership(cfg)
	if err != nil {
		t.Fatal(err)
	}
	commitWhenReady(n2)
	defer shutdownAll(t, n2)
	start := time.Now()
	src.set([]string{n1.GossipAddr()}, nil)
	waitFor(t, "n2 joined at the signal", func() bool { return ringIs(n2, "n1", "n2") })
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("joined after %v: the signal did not start a round", took)
	}
	// The next answer has a seed n2 has not met: a third node joins
	// through it only if n2 asks its source again.
	n3cfg := nodeConfig(nodeOpts{id: "n3", seeds: []string{n1.GossipAddr()}})
	n3, err := StartMembership(n3cfg)
	if err != nil {
		t.Fatal(err)
	}
	commitWhenReady(n3)
	defer shutdownAll(t, n3)
	before := src.callCount()
	src.set([]string{n1.GossipAddr(), n3.GossipAddr()}, nil)
	waitFor(t, "the source asked again after the signal", func() bool { return src.callCount() > before })
	waitFor(t, "a ring of three", func() bool { return ringIs(n2, "n1", "n2", "n3") })
}

// freeGossipAddrs returns n loopback addresses with ports free a moment ago.
func freeGossipAddrs(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	for _, l := range ls {
		l.Close()
	}
	return out
}

// TestMembershipBootstrapExpect: three nodes that all have every node as
// a seed (as from one DNS name) form a ring only once three of them run,
// without any of them founding one alone before: the smallest id founds
// it, the others join at once.
func TestMembershipBootstrapExpect(t *testing.T) {
	defer verifyNoLeaks(t)
	addrs := freeGossipAddrs(t, 3)
	src := &fakeSource{seeds: addrs}
	start := func(i int) *Membership {
		cfg := nodeConfig(nodeOpts{id: fmt.Sprintf("n%d", i+1), gossip: addrs[i]})
		cfg.SeedSources, cfg.BootstrapExpect = []SeedSource{src}, 3
		m, err := StartMembership(cfg)
		if err != nil {
			t.Fatal(err)
		}
		commitWhenReady(m)
		return m
	}
	// The two larger ids first: they see each other and wait.
	n3, n2 := start(2), start(1)
	defer shutdownAll(t, n2, n3)
	waitFor(t, "n2 and n3 see each other", func() bool { return n2.Alive("n3") && n3.Alive("n2") })
	time.Sleep(4 * bootstrapTick)
	if n2.Epoch() != 0 || n3.Epoch() != 0 {
		t.Fatalf("two of three expected nodes formed a ring: %v / %v", n2.Ring().Members(), n3.Ring().Members())
	}
	n1 := start(0)
	defer shutdownAll(t, n1)
	for _, m := range []*Membership{n1, n2, n3} {
		waitFor(t, m.NodeID()+" ring of 3", func() bool { return ringIs(m, "n1", "n2", "n3") })
	}
	if e := n1.Epoch(); e != 2 {
		t.Errorf("epoch %d, want 2 (founded by n1, the others joined in one change)", e)
	}
}

func TestBootstrapSet(t *testing.T) {
	doc := NewDoc(ClusterConfig{256, 3})
	for _, m := range []Member{
		{ID: "a", State: StateJoining, Version: 1, Gen: 1},
		{ID: "b", State: StateJoining, Version: 1, Gen: 1},
		{ID: "c", State: StateJoining, Version: 1, Gen: 1},
		{ID: "d", State: StateParked, Version: 2, Gen: 1},
	} {
		doc = doc.With(m)
	}
	alive := func(ids ...string) func(string) bool {
		return func(id string) bool { return slices.Contains(ids, id) }
	}
	for _, tc := range []struct {
		name   string
		doc    Doc
		self   string
		alive  func(string) bool
		expect int
		ids    []string
		found  bool
	}{
		{"all three, smallest", doc, "a", alive("b", "c", "d"), 3, []string{"a", "b", "c"}, true},
		{"all three, not smallest", doc, "b", alive("a", "c"), 3, []string{"a", "b", "c"}, false},
		{"one down", doc, "a", alive("b"), 3, []string{"a", "b"}, false},
		{"smallest down", doc, "b", alive("c"), 2, []string{"b", "c"}, true},
		{"fewer expected", doc, "a", alive("b", "c"), 2, []string{"a", "b", "c"}, true},
		{"a ring exists", doc.WithRing(RingRecord{Epoch: 1, Members: []string{"c"}}), "a", alive("b", "c"), 2, nil, false},
		{"off", doc, "a", alive("b", "c"), 0, nil, false},
		{"self not joining", doc, "d", alive("a", "b", "c"), 1, []string{"a", "b", "c"}, false},
	} {
		ids, found := bootstrapSet(tc.doc, tc.self, tc.alive, tc.expect)
		if !slices.Equal(ids, tc.ids) || found != tc.found {
			t.Errorf("%s: got %v %v, want %v %v", tc.name, ids, found, tc.ids, tc.found)
		}
	}
}

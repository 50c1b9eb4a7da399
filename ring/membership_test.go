package ring

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

const convergeTimeout = 20 * time.Second

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(convergeTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", convergeTimeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testLogger() *slog.Logger {
	if os.Getenv("RING_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type nodeOpts struct {
	id      string
	gossip  string // default 127.0.0.1:0
	seeds   []string
	store   *MemDocStore
	cluster ClusterConfig
}

func nodeConfig(o nodeOpts) MembershipConfig {
	if o.gossip == "" {
		o.gossip = "127.0.0.1:0"
	}
	if o.store == nil {
		o.store = &MemDocStore{}
	}
	if o.cluster == (ClusterConfig{}) {
		o.cluster = ClusterConfig{Partitions: 256, Replicas: 3}
	}
	return MembershipConfig{
		NodeID:         o.id,
		GRPCAddr:       "grpc-" + o.id + ":7300",
		GossipAddr:     o.gossip,
		Seeds:          o.seeds,
		Cluster:        o.cluster,
		Store:          o.store,
		Gossip:         LocalGossip(),
		RejoinInterval: 300 * time.Millisecond,
		Logger:         testLogger(),
		Empty:          true,
	}
}

func startNode(t *testing.T, o nodeOpts) *Membership {
	t.Helper()
	m, err := StartMembership(nodeConfig(o))
	if err != nil {
		t.Fatalf("start %s: %v", o.id, err)
	}
	commitWhenReady(m)
	return m
}

// commitWhenReady does what a node's ownership loop does: declare this
// node ready for the change in view and commit the change once it can be.
// The test stores hold no data: a node that says it is empty is ready at
// once (nothing to pull or transfer out); one a test marked as holding data
// is ready only when the test says so.
func commitWhenReady(m *Membership) {
	m.OnChange(func() {
		doc := m.Doc()
		c := doc.Change()
		if doc.Members[m.NodeID()].Empty && slices.Contains(c.MustBeReady(), m.NodeID()) {
			m.SetReady(c.Epoch, c.Signature())
		}
		if r, ok := m.NextRing(); ok {
			m.Commit(r)
		}
	})
}

func shutdownAll(t *testing.T, ms ...*Membership) {
	t.Helper()
	for _, m := range ms {
		if err := m.Shutdown(); err != nil {
			t.Errorf("shutdown %s: %v", m.NodeID(), err)
		}
	}
}

func ringIs(m *Membership, ids ...string) bool {
	return slices.Equal(m.Ring().Members(), ids)
}

func storedDoc(t *testing.T, s *MemDocStore) Doc {
	t.Helper()
	b, _ := s.LoadDoc()
	d, err := UnmarshalDoc(b)
	if err != nil {
		t.Fatalf("stored doc: %v", err)
	}
	return d
}

func TestMembershipConfigValidate(t *testing.T) {
	good := nodeConfig(nodeOpts{id: "n1"})
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	def := good
	def.RejoinInterval, def.Logger = 0, nil
	if err := def.Validate(); err != nil || def.RejoinInterval != DefaultRejoinInterval || def.Logger == nil {
		t.Fatalf("defaults not applied: %v %v %v", err, def.RejoinInterval, def.Logger)
	}
	for name, mut := range map[string]func(*MembershipConfig){
		"no id":          func(c *MembershipConfig) { c.NodeID = "" },
		"long id":        func(c *MembershipConfig) { c.NodeID = strings.Repeat("x", 200) },
		"grpc no port":   func(c *MembershipConfig) { c.GRPCAddr = "127.0.0.1" },
		"grpc port 0":    func(c *MembershipConfig) { c.GRPCAddr = "127.0.0.1:0" },
		"gossip garbage": func(c *MembershipConfig) { c.GossipAddr = "nope" },
		"gossip port":    func(c *MembershipConfig) { c.GossipAddr = "127.0.0.1:70000" },
		"seed no port":   func(c *MembershipConfig) { c.Seeds = []string{"host"} },
		"cluster":        func(c *MembershipConfig) { c.Cluster.Replicas = 0 },
		"store":          func(c *MembershipConfig) { c.Store = nil },
		"rejoin":         func(c *MembershipConfig) { c.RejoinInterval = -time.Second },
		"zone":           func(c *MembershipConfig) { c.Zone = strings.Repeat("z", 100) },
	} {
		c := nodeConfig(nodeOpts{id: "n1"})
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestMetaRoundTrip(t *testing.T) {
	cfg := ClusterConfig{1024, 3}
	nm := nodeMeta{State: StateValid, Hash: cfg.Hash(), Cluster: cfg, Addr: strings.Repeat("a", maxAddrLen)}
	b := nm.encode()
	if len(b) > 300 {
		t.Fatalf("meta of %d bytes", len(b))
	}
	got, err := decodeMeta(b)
	if err != nil || got != nm {
		t.Fatalf("decode: %+v %v", got, err)
	}
	for _, bad := range [][]byte{nil, {2}, b[:len(b)-1], append(slices.Clone(b), 0)} {
		if _, err := decodeMeta(bad); err == nil {
			t.Errorf("accepted %x", bad)
		}
	}
	e := &ClusterMismatchError{Local: cfg, Remote: cfg, RemoteHash: "00ff00ff00ff00ff", Peer: "seed x:1"}
	if !errors.Is(e, ErrClusterMismatch) || !strings.Contains(e.Error(), "another placement algorithm") {
		t.Fatalf("placement mismatch error: %v", e)
	}
}

// TestMembershipConverge: three nodes agree on the ring, persist the merged
// document and see each other alive.
func TestMembershipConverge(t *testing.T) {
	defer verifyNoLeaks(t)
	s1 := &MemDocStore{}
	n1 := startNode(t, nodeOpts{id: "n1", store: s1})
	var changes atomic.Int32
	n1.OnChange(func() { changes.Add(1) })
	n2 := startNode(t, nodeOpts{id: "n2", seeds: []string{n1.GossipAddr()}})
	n3 := startNode(t, nodeOpts{id: "n3", seeds: []string{n2.GossipAddr()}})
	defer shutdownAll(t, n1, n2, n3)
	all := []*Membership{n1, n2, n3}
	for _, m := range all {
		waitFor(t, m.NodeID()+" ring of 3", func() bool { return ringIs(m, "n1", "n2", "n3") })
		for _, o := range all {
			waitFor(t, m.NodeID()+" sees "+o.NodeID()+" alive", func() bool { return m.Alive(o.NodeID()) })
		}
	}
	waitFor(t, "identical docs", func() bool { return n1.Doc().Equal(n2.Doc()) && n2.Doc().Equal(n3.Doc()) })
	if addr, ok := n1.Addr("n3"); !ok || addr != n3.cfg.GRPCAddr {
		t.Errorf("n1.Addr(n3) = %q, %v", addr, ok)
	}
	if _, ok := n1.Addr("nope"); ok {
		t.Error("Addr of unknown member")
	}
	if got := storedDoc(t, s1).RingMembers(); !slices.Equal(got, []string{"n1", "n2", "n3"}) {
		t.Errorf("n1 persisted %v", got)
	}
	waitFor(t, "OnChange on n1", func() bool { return changes.Load() > 0 })
	r1, r3 := n1.Ring(), n3.Ring()
	for p := 0; p < r1.Config().Partitions; p++ {
		if !slices.Equal(r1.Preference(p), r3.Preference(p)) {
			t.Fatalf("p=%d: n1 %v, n3 %v", p, r1.Preference(p), r3.Preference(p))
		}
	}
	// Once the members hold data, a leave commits only when the leaving
	// member and the target's members are ready for it.
	for _, m := range all {
		m.SetEmpty(false)
	}
	waitFor(t, "every node sees every node holding data", func() bool {
		for _, m := range all {
			for _, mem := range m.Doc().Members {
				if mem.Empty {
					return false
				}
			}
		}
		return true
	})
	epoch := n1.Epoch()
	// An admin state change travels by broadcast / push-pull.
	if err := n1.SetState("n2", StateLeaving); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "n3 sees n2 leaving", func() bool { return n3.Doc().StateOf("n2") == StateLeaving })
	if !ringIs(n3, "n1", "n2", "n3") || n3.Epoch() != epoch {
		t.Fatal("leaving member left the ring before anyone was ready")
	}
	c := n3.Doc().Change()
	if !slices.Equal(c.To, []string{"n1", "n3"}) || !slices.Equal(c.Leaving, []string{"n2"}) {
		t.Fatalf("change %+v", c)
	}
	for _, m := range all {
		m.SetReady(c.Epoch, c.Signature())
	}
	for _, m := range all {
		waitFor(t, m.NodeID()+" commits the leave", func() bool { return ringIs(m, "n1", "n3") && m.Epoch() == epoch+1 })
	}
	if st := n1.Doc().Members["n2"].State; st != StateRemoved {
		t.Fatalf("n2 left the ring in state %v", st)
	}
}

// crash stops a node without leaving: peers must detect it as failed.
func crash(m *Membership) {
	m.shutdownOnce.Do(func() {
		_ = m.list.Shutdown()
		m.stopLoops()
	})
}

// TestMembershipDownNodeStaysInRing: a stopped (or crashed) node is not
// alive but keeps its partitions; restarted with its store on a new port it
// rejoins (memberlist's DeadNodeReclaimTime lets the name move).
func TestMembershipDownNodeStaysInRing(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop func(*Membership) error
	}{
		{"graceful", (*Membership).Shutdown},
		{"crash", func(m *Membership) error { crash(m); return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer verifyNoLeaks(t)
			n1 := startNode(t, nodeOpts{id: "n1"})
			n2 := startNode(t, nodeOpts{id: "n2", seeds: []string{n1.GossipAddr()}})
			s3 := &MemDocStore{}
			n3 := startNode(t, nodeOpts{id: "n3", seeds: []string{n1.GossipAddr()}, store: s3})
			defer shutdownAll(t, n1, n2)
			waitFor(t, "n1, n2 see n3", func() bool { return n1.Alive("n3") && n2.Alive("n3") && ringIs(n2, "n1", "n2", "n3") })
			oldGossip := n3.GossipAddr()
			if err := tc.stop(n3); err != nil {
				t.Fatal(err)
			}
			if err := n3.Shutdown(); err != nil { // idempotent
				t.Fatal(err)
			}
			down := time.Now()
			waitFor(t, "n3 not alive", func() bool { return !n1.Alive("n3") && !n2.Alive("n3") })
			t.Logf("n3 seen down after %v", time.Since(down).Round(time.Millisecond))
			if !ringIs(n1, "n1", "n2", "n3") || !ringIs(n2, "n1", "n2", "n3") {
				t.Fatalf("down node left the ring: %v", n1.Ring().Members())
			}

			v := n1.Doc().Members["n3"].Self
			n3 = startNode(t, nodeOpts{id: "n3", seeds: []string{n2.GossipAddr()}, store: s3})
			defer shutdownAll(t, n3)
			if n3.GossipAddr() == oldGossip {
				t.Logf("restarted on the same port %s", oldGossip)
			}
			waitFor(t, "n3 alive again", func() bool { return n1.Alive("n3") && n2.Alive("n3") && n3.Alive("n1") })
			waitFor(t, "new n3 address gossiped", func() bool {
				m := n1.Doc().Members["n3"]
				return m.Gossip == n3.GossipAddr() && m.Self > v
			})
			if !ringIs(n3, "n1", "n2", "n3") {
				t.Fatalf("restarted ring %v", n3.Ring().Members())
			}
		})
	}
}

func TestMembershipClusterMismatch(t *testing.T) {
	defer verifyNoLeaks(t)
	n1 := startNode(t, nodeOpts{id: "n1", cluster: ClusterConfig{1024, 3}})
	defer shutdownAll(t, n1)
	seed := n1.GossipAddr()
	badStore := &MemDocStore{}
	m, err := StartMembership(nodeConfig(nodeOpts{id: "bad", seeds: []string{seed}, store: badStore, cluster: ClusterConfig{1024, 2}}))
	if err == nil {
		_ = m.Shutdown()
		t.Fatal("mismatched node was admitted")
	}
	want := fmt.Sprintf("cluster mismatch: this node has replicas=2 partitions=1024, seed %s has replicas=3 partitions=1024", seed)
	if err.Error() != want || !errors.Is(err, ErrClusterMismatch) {
		t.Fatalf("error %q\nwant  %q", err, want)
	}
	if n := n1.list.NumMembers(); n != 1 || n1.Alive("bad") {
		t.Fatalf("n1 admitted the mismatched node (%d members)", n)
	}
	if _, ok := n1.Doc().Members["bad"]; ok || !ringIs(n1, "n1") {
		t.Fatal("mismatched node entered the document")
	}
	if b, _ := badStore.LoadDoc(); b != nil {
		t.Fatalf("refused node persisted %s", b)
	}
}

func TestMembershipPersistedDocMismatch(t *testing.T) {
	defer verifyNoLeaks(t)
	store := &MemDocStore{}
	b, _ := NewDoc(ClusterConfig{1024, 3}).With(Member{ID: "n1", State: StateValid, Version: 1}).Marshal()
	_ = store.SaveDoc(b)
	_, err := StartMembership(nodeConfig(nodeOpts{id: "n1", store: store, cluster: ClusterConfig{1024, 2}}))
	if err == nil || !strings.Contains(err.Error(), "data dir belongs to a cluster with replicas=3 partitions=1024") {
		t.Fatalf("err = %v", err)
	}
	_ = store.SaveDoc([]byte("garbage"))
	if _, err := StartMembership(nodeConfig(nodeOpts{id: "n1", store: store})); err == nil {
		t.Fatal("started on a corrupt document")
	}
}

// TestMembershipSeedsDownAtStart: a node whose seeds are all down still
// starts, and joins once a seed comes up (a DNS name as seed).
func TestMembershipSeedsDownAtStart(t *testing.T) {
	defer verifyNoLeaks(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	start := time.Now()
	n2 := startNode(t, nodeOpts{id: "n2", seeds: []string{fmt.Sprintf("localhost:%d", port)}})
	defer shutdownAll(t, n2)
	t.Logf("started alone in %v", time.Since(start))
	if n2.Ring().Len() != 0 || n2.Epoch() != 0 || n2.Doc().StateOf("n2") != StateJoining {
		t.Fatalf("a joiner that reached no seed has ring %v at epoch %d", n2.Ring().Members(), n2.Epoch())
	}
	n1 := startNode(t, nodeOpts{id: "n1", gossip: fmt.Sprintf("127.0.0.1:%d", port)})
	defer shutdownAll(t, n1)
	waitFor(t, "late seed joined", func() bool { return ringIs(n1, "n1", "n2") && ringIs(n2, "n1", "n2") && n1.Alive("n2") })
}

// TestMembershipStartSelfEntry: starting records this node with its current
// addresses and no readiness; a node without seeds and without a ring
// founds one (even if it was removed from a ring it no longer knows), a
// leaving or joining one keeps its state, a removed node with seeds joins
// afresh (a new generation) and a parked one waits to be taken up.
func TestMembershipStartSelfEntry(t *testing.T) {
	defer verifyNoLeaks(t)
	for _, tc := range []struct {
		before  *Member
		ring    RingRecord
		seeds   bool
		want    State
		version uint64
		gen     uint64
	}{
		{nil, RingRecord{}, false, StateValid, 1, 0},
		{&Member{ID: "n1", Gossip: "old:1", State: StateRemoved, Version: 3}, RingRecord{}, false, StateValid, 4, 0},
		{&Member{ID: "n1", Gossip: "old:1", State: StateLeaving, Version: 5}, RingRecord{Epoch: 2, Members: []string{"n1"}}, false, StateLeaving, 5, 0},
		{&Member{ID: "n1", Gossip: "old:1", State: StateJoining, Version: 2, Gen: 2, Ready: "old", ReadyEpoch: 7}, RingRecord{}, false, StateJoining, 2, 2},
		{&Member{ID: "n1", Gossip: "old:1", State: StateRemoved, Version: 6, Gen: 2, Ready: "old", ReadyEpoch: 7}, RingRecord{Epoch: 9, Members: []string{"n2"}}, true, StateJoining, 7, 7},
		{&Member{ID: "n1", Gossip: "old:1", State: StateParked, Version: 4, Gen: 2}, RingRecord{Epoch: 9, Members: []string{"n2"}}, true, StateParked, 4, 2},
	} {
		store := &MemDocStore{}
		if tc.before != nil {
			b, _ := NewDoc(ClusterConfig{256, 3}).With(*tc.before).WithRing(tc.ring).Marshal()
			_ = store.SaveDoc(b)
		}
		o := nodeOpts{id: "n1", store: store}
		if tc.seeds {
			o.seeds = []string{"127.0.0.1:1"}
		}
		m, err := StartMembership(nodeConfig(o))
		if err != nil {
			t.Fatal(err)
		}
		got := m.Doc().Members["n1"]
		_ = m.Shutdown()
		want := Member{ID: "n1", Addr: "grpc-n1:7300", Gossip: m.GossipAddr(), State: tc.want, Version: tc.version, Gen: tc.gen, Self: 1, Empty: true}
		if got != want {
			t.Errorf("before %+v: got %+v, want %+v", tc.before, got, want)
		}
		if sd := storedDoc(t, store); sd.Members["n1"] != want {
			t.Errorf("persisted %+v", sd.Members["n1"])
		}
	}
}

func TestMemberMsg(t *testing.T) {
	cfg := ClusterConfig{256, 3}
	h := cfg.Hash()
	mem := Member{ID: "n1", Addr: "a:1", Gossip: "g:1", State: StateLeaving, Version: 4}
	b := encodeMemberMsg(h, mem)
	if got, err := decodeMsg(b, h, cfg); err != nil || got.Members["n1"] != mem || len(got.Members) != 1 {
		t.Fatalf("round trip %+v %v", got, err)
	}
	rec := RingRecord{Epoch: 3, Members: []string{"n1", "n2"}}
	rb := encodeRingMsg(h, rec)
	if got, err := decodeMsg(rb, h, cfg); err != nil || !got.Ring.equal(rec) || len(got.Members) != 0 {
		t.Fatalf("ring round trip %+v %v", got, err)
	}
	for _, msg := range [][]byte{b, rb} {
		if _, err := decodeMsg(msg, ClusterConfig{256, 2}.Hash(), cfg); err == nil {
			t.Fatal("accepted a broadcast of another cluster")
		}
	}
	unsorted := encodeRingMsg(h, RingRecord{Epoch: 3, Members: []string{"n2", "n1"}})
	for _, bad := range [][]byte{nil, {9}, b[:len(b)-2], unsorted, encodeRingMsg(h, RingRecord{Members: []string{"n1"}})} {
		if _, err := decodeMsg(bad, h, cfg); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// verifyNoLeaks checks that a test left no goroutines behind. memberlist's
// probeNode may still be waiting out its probe timeout on a channel after
// Shutdown returns (it does not join its probe goroutine); it exits on its
// own and holds nothing of ours.
func verifyNoLeaks(t *testing.T) {
	t.Helper()
	goleak.VerifyNone(t, goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"))
}

// TestMembershipRejoinOverForgottenRemoval: a node removed earlier whose
// disk was wiped starts with no memory of the removal; the cluster's
// document says it is removed at a version above its own. It joins again
// over that removal, and is admitted.
func TestMembershipRejoinOverForgottenRemoval(t *testing.T) {
	defer verifyNoLeaks(t)
	n1 := startNode(t, nodeOpts{id: "n1", store: storeWithOldN2(StateRemoved, "n1")})
	n2 := startNode(t, nodeOpts{id: "n2", seeds: []string{n1.GossipAddr()}})
	defer shutdownAll(t, n1, n2)
	for _, m := range []*Membership{n1, n2} {
		waitFor(t, m.NodeID()+" admits n2 again", func() bool { return ringIs(m, "n1", "n2") })
	}
	if got := n1.Doc().Members["n2"]; got.Version <= 5 || got.Gen != got.Version-1 && got.Gen != got.Version {
		t.Fatalf("n2's entry %+v", got)
	}
}

// TestMembershipLeaveAfterFreshJoinStands: a node that joined afresh and
// then leaves at once stays removed. Its committed join makes any later
// removal an operator's, even when no peer's entry for it reached it
// before the leave.
func TestMembershipLeaveAfterFreshJoinStands(t *testing.T) {
	defer verifyNoLeaks(t)
	n1 := startNode(t, nodeOpts{id: "n1"})
	n2 := startNode(t, nodeOpts{id: "n2", seeds: []string{n1.GossipAddr()}})
	defer shutdownAll(t, n1, n2)
	waitFor(t, "n2 sees itself admitted", func() bool { return ringIs(n1, "n1", "n2") && ringIs(n2, "n1", "n2") })
	if err := n1.SetState("n2", StateLeaving); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "n2 sees itself removed", func() bool {
		if n2.StateOf("n2") == StateJoining {
			t.Fatalf("n2 joins again after leaving: %+v", n2.Doc().Members["n2"])
		}
		return ringIs(n2, "n1") && n2.StateOf("n2") == StateRemoved
	})
}

// TestMembershipRejoinOverRemovalInProgress: a node whose disk was wiped
// starts while the cluster is still removing what it was (its entry says
// leaving). The removal finishes (here: the empty fresh node is ready at
// once), and the node then joins again and is admitted, instead of
// staying out until it is restarted.
func TestMembershipRejoinOverRemovalInProgress(t *testing.T) {
	defer verifyNoLeaks(t)
	n1 := startNode(t, nodeOpts{id: "n1", store: storeWithOldN2(StateLeaving, "n1", "n2")})
	n2 := startNode(t, nodeOpts{id: "n2", seeds: []string{n1.GossipAddr()}})
	defer shutdownAll(t, n1, n2)
	for _, m := range []*Membership{n1, n2} {
		waitFor(t, m.NodeID()+" admits n2 again after its removal", func() bool {
			return m.Epoch() >= 6 && ringIs(m, "n1", "n2")
		})
	}
	if got := n1.Doc().Members["n2"]; got.State != StateValid || got.Gen <= 5 {
		t.Fatalf("n2's entry %+v: want valid with a new generation", got)
	}
}

// storeWithOldN2 is n1's persisted document at ring epoch 4 (members ring),
// where an earlier n2 (generation 3) is in state.
func storeWithOldN2(state State, ring ...string) *MemDocStore {
	s := &MemDocStore{}
	b, _ := NewDoc(ClusterConfig{256, 3}).
		With(Member{ID: "n1", State: StateValid, Version: 1}).
		With(Member{ID: "n2", Addr: "old:1", Gossip: "old:2", State: state, Version: 5, Gen: 3}).
		WithRing(RingRecord{Epoch: 4, Members: ring}).Marshal()
	_ = s.SaveDoc(b)
	return s
}

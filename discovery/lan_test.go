package discovery

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// bus is a fake LAN: a datagram one conn sends reaches every conn on the
// bus, the sender's included (as multicast loopback does).
type bus struct {
	mu    sync.Mutex
	conns []*busConn
}

type busConn struct {
	bus    *bus
	in     chan []byte
	closed chan struct{}
	once   sync.Once
}

func (b *bus) conn() *busConn {
	c := &busConn{bus: b, in: make(chan []byte, 1024), closed: make(chan struct{})}
	b.mu.Lock()
	b.conns = append(b.conns, c)
	b.mu.Unlock()
	return c
}

// inject delivers a raw datagram to every conn.
func (b *bus) inject(d []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.conns {
		select {
		case c.in <- slices.Clone(d):
		default: // a full socket buffer drops
		}
	}
}

func (c *busConn) Send(d []byte) error {
	select {
	case <-c.closed:
		return net.ErrClosed
	default:
	}
	c.bus.inject(d)
	return nil
}

func (c *busConn) Receive(b []byte) (int, error) {
	select {
	case d := <-c.in:
		return copy(b, d), nil
	case <-c.closed:
		return 0, net.ErrClosed
	}
}

func (c *busConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

const testHash = "0123456789abcdef"

func testLAN(t *testing.T, b *bus, id string, mut func(*LANConfig)) *LAN {
	t.Helper()
	cfg := LANConfig{ClusterHash: testHash, NodeID: id, FastInterval: 20 * time.Millisecond, FastFor: time.Second, SlowInterval: time.Second}
	if mut != nil {
		mut(&cfg)
	}
	l, err := NewLAN(cfg, b.conn())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func seedsNow(l *LAN) []string {
	s, _ := l.Seeds(context.Background())
	return s
}

// TestLANFindsPeers: nodes of one cluster on a LAN find each other's
// gossip addresses, never their own, and never those of a node of another
// cluster (another name, or other constants); a peer found signals.
func TestLANFindsPeers(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the LANs close (cleanups run last first)
	b := &bus{}
	gossip := map[string]string{"n1": "10.0.0.1:7201", "n2": "10.0.0.2:7201", "n3": "[fd00::3]:7201"}
	lans := map[string]*LAN{}
	for _, id := range []string{"n1", "n2", "n3"} {
		lans[id] = testLAN(t, b, id, nil)
	}
	other := testLAN(t, b, "x1", func(c *LANConfig) { c.Cluster = "staging" })
	constants := testLAN(t, b, "x2", func(c *LANConfig) { c.ClusterHash = "fedcba9876543210" })
	for id, l := range lans {
		if err := l.Announce(gossip[id]); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range []*LAN{other, constants} {
		if err := l.Announce("10.0.0.9:7201"); err != nil {
			t.Fatal(err)
		}
	}
	for id, l := range lans {
		var want []string
		for o, g := range gossip {
			if o != id {
				want = append(want, g)
			}
		}
		slices.Sort(want)
		waitUntil(t, id+" finds its peers", func() bool { return slices.Equal(seedsNow(l), want) })
		select {
		case <-l.SeedsChanged():
		default:
			t.Errorf("%s found peers without a signal", id)
		}
	}
	waitUntil(t, "the other clusters heard", func() bool { return lans["n1"].Stats().OtherCluster >= 2 })
	time.Sleep(50 * time.Millisecond)
	for id, l := range lans {
		if s := seedsNow(l); len(s) != 2 {
			t.Errorf("%s holds %v", id, s)
		}
		if st := l.Stats(); st.Own == 0 {
			t.Errorf("%s never heard itself: %+v", id, st)
		}
	}
	if s := seedsNow(other); len(s) != 0 {
		t.Errorf("a node of another cluster name holds %v", s)
	}
}

// TestLANDropsBadDatagrams: garbage, truncated and oversized datagrams are
// counted and dropped; the next good announcement is taken.
func TestLANDropsBadDatagrams(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the LANs close (cleanups run last first)
	b := &bus{}
	l := testLAN(t, b, "n1", nil)
	good, _ := Announcement{ClusterHash: testHash, Cluster: DefaultCluster, NodeID: "n2", Gossip: "10.0.0.2:7201"}.Marshal()
	for _, d := range [][]byte{nil, []byte("hello"), good[:len(good)-3], append(slices.Clone(good), 'x'), make([]byte, 4096)} {
		b.inject(d)
	}
	waitUntil(t, "the bad datagrams dropped", func() bool { return l.Stats().Malformed == 5 })
	if s := seedsNow(l); len(s) != 0 {
		t.Fatalf("took %v from bad datagrams", s)
	}
	b.inject(good)
	waitUntil(t, "the good one taken", func() bool { return slices.Equal(seedsNow(l), []string{"10.0.0.2:7201"}) })
}

// TestLANBounds: past MaxRate datagrams a second the rest are dropped
// undecoded, and past MaxPeers new peers are left out.
func TestLANBounds(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the LANs close (cleanups run last first)
	b := &bus{}
	l := testLAN(t, b, "n1", func(c *LANConfig) { c.MaxPeers, c.MaxRate = 3, 20 })
	for i := range 100 {
		d, _ := Announcement{ClusterHash: testHash, Cluster: DefaultCluster, NodeID: fmt.Sprintf("p%d", i), Gossip: fmt.Sprintf("10.0.1.%d:7201", i+1)}.Marshal()
		b.inject(d)
	}
	waitUntil(t, "every datagram handled", func() bool { return l.Stats().Heard == 100 })
	st := l.Stats()
	if st.RateLimited < 60 || st.Full == 0 {
		t.Fatalf("stats %+v: want most rate-limited and some left out for room", st)
	}
	if s := seedsNow(l); len(s) != 3 {
		t.Fatalf("holds %d peers, max 3", len(s))
	}
}

func TestLANSchedule(t *testing.T) {
	l := &LAN{cfg: LANConfig{FastInterval: 2 * time.Second, FastFor: 30 * time.Second, SlowInterval: 30 * time.Second}}
	for _, tc := range []struct{ elapsed, want time.Duration }{
		{0, 2 * time.Second}, {29 * time.Second, 2 * time.Second}, {30 * time.Second, 30 * time.Second}, {time.Hour, 30 * time.Second},
	} {
		if got := l.nextAnnounce(tc.elapsed); got != tc.want {
			t.Errorf("after %v: next in %v, want %v", tc.elapsed, got, tc.want)
		}
	}
}

func TestLANConfigValidate(t *testing.T) {
	good := LANConfig{ClusterHash: testHash, NodeID: "n1"}
	if err := good.Validate(); err != nil || good.Group != DefaultGroup || good.PeerTTL != 3*DefaultSlowInterval {
		t.Fatalf("defaults: %+v, %v", good, err)
	}
	for name, mut := range map[string]func(*LANConfig){
		"unicast group": func(c *LANConfig) { c.Group = "10.0.0.1:7401" },
		"ipv6 group":    func(c *LANConfig) { c.Group = "[ff02::1]:7401" },
		"no port":       func(c *LANConfig) { c.Group = "239.255.71.1" },
		"no id":         func(c *LANConfig) { c.NodeID = "" },
		"hash":          func(c *LANConfig) { c.ClusterHash = "x" },
		"cluster":       func(c *LANConfig) { c.Cluster = "a\nb" },
		"interval":      func(c *LANConfig) { c.SlowInterval = -time.Second },
	} {
		c := LANConfig{ClusterHash: testHash, NodeID: "n1"}
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

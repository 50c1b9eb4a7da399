package node_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/node"
	"github.com/quorumkv/quorumkv/node/nodetest"
)

// lanBus is an in-memory LAN: a datagram sent by one conn reaches every
// conn, the sender's included (multicast loopback).
type lanBus struct {
	mu    sync.Mutex
	conns []*lanConn
}

type lanConn struct {
	bus    *lanBus
	in     chan []byte
	closed chan struct{}
	once   sync.Once
}

func (b *lanBus) conn() *lanConn {
	c := &lanConn{bus: b, in: make(chan []byte, 64), closed: make(chan struct{})}
	b.mu.Lock()
	b.conns = append(b.conns, c)
	b.mu.Unlock()
	return c
}

func (c *lanConn) Send(d []byte) error {
	c.bus.mu.Lock()
	defer c.bus.mu.Unlock()
	for _, o := range c.bus.conns {
		select {
		case o.in <- slices.Clone(d):
		default:
		}
	}
	return nil
}

func (c *lanConn) Receive(b []byte) (int, error) {
	select {
	case d := <-c.in:
		return copy(b, d), nil
	case <-c.closed:
		return 0, net.ErrClosed
	}
}

func (c *lanConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

// discoveryNode starts node i of a discovery test: no fixed seeds, local
// timers, --bootstrap-expect 3; tune adds the way it finds its peers. The
// node stops when the test ends.
func discoveryNode(t *testing.T, dir string, i int, tune func(*node.Config)) *node.Node {
	t.Helper()
	cfg := node.LocalConfig()
	cfg.ID = fmt.Sprintf("n%d", i+1)
	cfg.DataDir = filepath.Join(dir, cfg.ID)
	cfg.Listen, cfg.Gossip = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Partitions, cfg.DrainTimeout = 64, 2*time.Second
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.BootstrapExpect = 3
	tune(&cfg)
	n, err := node.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Stop(context.Background()) })
	return n
}

// waitFormed waits until every node's ring is n1, n2, n3 with no change in
// progress, then for a QUORUM put and get through them.
func waitFormed(t *testing.T, nodes []*node.Node, start time.Time) {
	t.Helper()
	want := []string{"n1", "n2", "n3"}
	nodetest.Eventually(t, 30*time.Second, func() error {
		for _, n := range nodes {
			m := n.Membership()
			if got := m.Ring().Members(); !slices.Equal(got, want) || m.View().Changing() {
				return fmt.Errorf("%s: ring %v, target %v", n.ID(), got, m.Target().Members())
			}
		}
		return nil
	})
	t.Logf("a ring of 3 %v after the first start", time.Since(start).Round(time.Millisecond))
	var eps []string
	for _, n := range nodes {
		eps = append(eps, n.Addr())
	}
	c, err := client.New(eps)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	attempt := 0
	nodetest.Eventually(t, 20*time.Second, func() error {
		attempt++
		key := fmt.Sprintf("found-%d", attempt) // a failed attempt leaves nothing in the way of the next
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, err := c.Put(ctx, []byte(key), []byte("found"), client.WithLevel(client.Quorum)); err != nil {
			return err
		}
		res, err := c.Get(ctx, []byte(key), client.WithLevel(client.Quorum))
		if err != nil {
			return err
		}
		if len(res.Values) != 1 || string(res.Values[0]) != "found" {
			return fmt.Errorf("get: %q", res.Values)
		}
		return nil
	})
}

// TestNodesFindEachOtherOnLAN: three nodes with no seeds at all, only LAN
// discovery (on an in-memory LAN) and --bootstrap-expect 3, form one ring
// of three and serve a QUORUM put and get.
func TestNodesFindEachOtherOnLAN(t *testing.T) {
	bus := &lanBus{}
	dir := t.TempDir()
	start := time.Now()
	var nodes []*node.Node
	for i := range 3 {
		nodes = append(nodes, discoveryNode(t, dir, i, func(cfg *node.Config) {
			cfg.DiscoverLAN, cfg.LANTransport = true, bus.conn()
			cfg.LAN.FastInterval = 100 * time.Millisecond
		}))
	}
	waitFormed(t, nodes, start)
}

// srvResolver answers an SRV query with one record per listed gossip
// address (the target an IP literal), as a headless service lists its
// pods; the test lists each node once it runs.
type srvResolver struct {
	mu    sync.Mutex
	addrs []string
}

func (r *srvResolver) list(addr string) {
	r.mu.Lock()
	r.addrs = append(r.addrs, addr)
	r.mu.Unlock()
}

func (r *srvResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	if _, err := netip.ParseAddr(host); err != nil {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return []string{host}, nil
}

func (r *srvResolver) LookupSRV(_ context.Context, _, _, name string) (string, []*net.SRV, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.addrs) == 0 {
		return "", nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	var out []*net.SRV
	for _, a := range r.addrs {
		ap := netip.MustParseAddrPort(a)
		out = append(out, &net.SRV{Target: ap.Addr().String() + ".", Port: ap.Port()})
	}
	return name, out, nil
}

// TestNodesFindEachOtherBySRV: three nodes whose only seed is an SRV name
// (through Config.Resolver) that lists each node only once it runs: the
// first finds nothing, and every node follows the records as they change,
// until the three form one ring.
func TestNodesFindEachOtherBySRV(t *testing.T) {
	r := &srvResolver{}
	dir := t.TempDir()
	start := time.Now()
	var nodes []*node.Node
	for i := range 3 {
		n := discoveryNode(t, dir, i, func(cfg *node.Config) {
			cfg.Join, cfg.Resolver = []string{"dns+srv:_gossip._tcp.qkv.test"}, r
		})
		r.list(n.GossipAddr())
		nodes = append(nodes, n)
	}
	waitFormed(t, nodes, start)
}

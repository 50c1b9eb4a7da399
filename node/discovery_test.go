package node_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
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

// TestNodesFindEachOtherOnLAN: three nodes with no seeds at all, only LAN
// discovery (on an in-memory LAN) and --bootstrap-expect 3, form one ring
// of three and serve a QUORUM put and get.
func TestNodesFindEachOtherOnLAN(t *testing.T) {
	bus := &lanBus{}
	dir := t.TempDir()
	var nodes []*node.Node
	t.Cleanup(func() {
		for _, n := range nodes {
			_ = n.Stop(context.Background())
		}
	})
	start := time.Now()
	for i := range 3 {
		cfg := node.LocalConfig()
		cfg.ID = fmt.Sprintf("n%d", i+1)
		cfg.DataDir = filepath.Join(dir, cfg.ID)
		cfg.Listen, cfg.Gossip = "127.0.0.1:0", "127.0.0.1:0"
		cfg.Partitions, cfg.DrainTimeout = 64, 2*time.Second
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		cfg.DiscoverLAN, cfg.LANTransport, cfg.BootstrapExpect = true, bus.conn(), 3
		cfg.LAN.FastInterval = 100 * time.Millisecond
		n, err := node.Start(cfg)
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
	}
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
		if _, err := c.Put(ctx, []byte(key), []byte("by multicast"), client.WithLevel(client.Quorum)); err != nil {
			return err
		}
		res, err := c.Get(ctx, []byte(key), client.WithLevel(client.Quorum))
		if err != nil {
			return err
		}
		if len(res.Values) != 1 || string(res.Values[0]) != "by multicast" {
			return fmt.Errorf("get: %q", res.Values)
		}
		return nil
	})
}

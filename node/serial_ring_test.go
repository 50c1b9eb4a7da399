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

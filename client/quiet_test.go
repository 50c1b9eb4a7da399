package client

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/internal/deadline"
)

// fakeNode answers every operation at once with a result naming itself,
// or, while frozen, holds the operations and answers them when thawed.
type fakeNode struct {
	name   string
	frozen atomic.Bool
	ops    atomic.Int32 // operations received

	mu   sync.Mutex
	held []*api.StreamOp
	out  chan *api.StreamResponse
}

func (n *fakeNode) open() (streamConn, func(), error) {
	closed := make(chan struct{})
	var once sync.Once
	return fakeConn{n: n, closed: closed}, func() { once.Do(func() { close(closed) }) }, nil
}

func (n *fakeNode) answer(ops []*api.StreamOp) {
	resp := &api.StreamResponse{}
	for _, op := range ops {
		r := &api.StreamResult{Id: op.GetId()}
		if op.GetGet() != nil {
			r.Result = &api.StreamResult_Get{Get: &api.GetResponse{Found: true, Values: [][]byte{[]byte(n.name)}}}
		} else {
			r.Result = &api.StreamResult_Put{Put: &api.PutResponse{Context: n.name}}
		}
		resp.Results = append(resp.Results, r)
	}
	n.out <- resp
}

func (n *fakeNode) thaw() {
	n.mu.Lock()
	held := n.held
	n.held = nil
	n.frozen.Store(false)
	n.mu.Unlock()
	n.answer(held)
}

type fakeConn struct {
	n      *fakeNode
	closed chan struct{}
}

func (c fakeConn) Send(req *api.StreamRequest) error {
	c.n.ops.Add(int32(len(req.GetOps())))
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	if c.n.frozen.Load() {
		c.n.held = append(c.n.held, req.GetOps()...)
		return nil
	}
	c.n.answer(req.GetOps())
	return nil
}

func (c fakeConn) Recv() (*api.StreamResponse, error) {
	select {
	case r := <-c.n.out:
		return r, nil
	case <-c.closed:
		return nil, context.Canceled
	}
}

// fastResponsiveness: the defaults scaled down so tests run quickly.
func fastResponsiveness() Responsiveness {
	r := DefaultResponsiveness()
	r.QuietAfter, r.GiveUpAfter, r.ProbeEvery = 100*time.Millisecond, 300*time.Millisecond, 50*time.Millisecond
	r.HedgeMin, r.HedgeMax = 20*time.Millisecond, 40*time.Millisecond
	return r
}

// fakeClient is a Client whose endpoints are fake nodes, routing over the
// configured endpoints only (no ring). probe says whether a quiet node's
// health check answers.
func fakeClient(t *testing.T, r Responsiveness, probe func(*fakeNode) bool, nodes ...*fakeNode) *Client {
	c := &Client{opts: options{attemptTimeout: 5 * time.Second, resp: r}}
	c.hedgeTimers = deadline.NewShared(context.Background(), hedgeSlice, r.HedgeMax)
	c.router.refreshing = true // no ring to learn
	for _, n := range nodes {
		n.out = make(chan *api.StreamResponse, 64)
		h := newHealth(r, func(context.Context) bool { return probe(n) })
		c.endpoints = append(c.endpoints, endpoint{addr: n.name, mux: newMux(n.open, true, h), h: h})
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			if n.frozen.Load() {
				n.thaw()
			}
		}
		for _, e := range c.endpoints {
			e.h.close()
			e.mux.close()
		}
	})
	return c
}

func route(c *Client) []string {
	var out []string
	for _, e := range c.routeFor(context.Background(), []byte("k")) {
		out = append(out, e.addr)
	}
	return out
}

func getOpFor() *api.StreamOp {
	return &api.StreamOp{Op: &api.StreamOp_Get{Get: &api.GetRequest{Key: []byte("k")}}}
}

func putOpFor() *api.StreamOp {
	return &api.StreamOp{Op: &api.StreamOp_Put{Put: &api.PutRequest{Key: []byte("k"), Value: []byte("v")}}}
}

func never(*fakeNode) bool { return false }

// TestHedgedGet: a get its first endpoint does not answer is also sent to
// the next one after the hedge delay, and that answer wins.
func TestHedgedGet(t *testing.T) {
	a, b := &fakeNode{name: "a"}, &fakeNode{name: "b"}
	a.frozen.Store(true)
	c := fakeClient(t, fastResponsiveness(), never, a, b)
	start := time.Now()
	res, err := c.run(testCtx(t), c.endpoints, true, getOpFor)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(res.GetGet().GetValues()[0]); got != "b" {
		t.Fatalf("answer from %s, want b", got)
	}
	if d := time.Since(start); d < 20*time.Millisecond || d > 2*time.Second {
		t.Fatalf("hedged get took %v", d)
	}
	if a.ops.Load() != 1 || b.ops.Load() != 1 {
		t.Fatalf("sent %d to a, %d to b; want one each", a.ops.Load(), b.ops.Load())
	}
}

// TestNoHedgeWhenDisabled: with hedging off, a get waits on its endpoint
// until it gives up on it as quiet, then tries the next.
func TestNoHedgeWhenDisabled(t *testing.T) {
	a, b := &fakeNode{name: "a"}, &fakeNode{name: "b"}
	a.frozen.Store(true)
	c := fakeClient(t, fastResponsiveness(), never, a, b)
	c.opts.noHedge = true
	start := time.Now()
	res, err := c.run(testCtx(t), c.endpoints, true, getOpFor)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(res.GetGet().GetValues()[0]); got != "b" {
		t.Fatalf("answer from %s, want b", got)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("unhedged get answered after %v, before GiveUpAfter", d)
	}
}

// TestWriteOnQuietNode: a put sent to a node that freezes is never sent
// again: it gives up with ErrNodeQuiet after GiveUpAfter. Meanwhile the
// node turns quiet, new requests go to the other endpoint first, and once
// the frozen node answers (the held put) it is first again.
func TestWriteOnQuietNode(t *testing.T) {
	a, b := &fakeNode{name: "a"}, &fakeNode{name: "b"}
	c := fakeClient(t, fastResponsiveness(), never, a, b)
	if got := route(c); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("route %v", got)
	}
	a.frozen.Store(true)
	_, err := c.doKey(testCtx(t), []byte("k"), false, putOpFor)
	if !errors.Is(err, ErrNodeQuiet) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("put on a frozen node: %v, want ErrNodeQuiet", err)
	}
	if b.ops.Load() != 0 {
		t.Fatalf("the put was sent again to b (%d ops)", b.ops.Load())
	}
	if got := route(c); !slices.Equal(got, []string{"b", "a"}) {
		t.Fatalf("route with a quiet: %v, want b first", got)
	}
	res, err := c.doKey(testCtx(t), []byte("k"), false, putOpFor)
	if err != nil || res.GetPut().GetContext() != "b" {
		t.Fatalf("put with a quiet: %v %v", res, err)
	}
	a.thaw()
	waitUntil(t, func() bool { return !c.endpoints[0].h.quiet() })
	if got := route(c); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("route after a answered: %v", got)
	}
}

// TestProbeTakesQuietNodeBack: a quiet node with nothing outstanding comes
// back when its health check answers.
func TestProbeTakesQuietNodeBack(t *testing.T) {
	a, b := &fakeNode{name: "a"}, &fakeNode{name: "b"}
	c := fakeClient(t, fastResponsiveness(), func(n *fakeNode) bool { return !n.frozen.Load() }, a, b)
	a.frozen.Store(true)
	if _, err := c.doKey(testCtx(t), []byte("k"), true, getOpFor); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return c.endpoints[0].h.quiet() })
	a.mu.Lock()
	a.held = nil // the node lost what it held: only the probe can bring it back
	a.frozen.Store(false)
	a.mu.Unlock()
	waitUntil(t, func() bool { return !c.endpoints[0].h.quiet() })
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

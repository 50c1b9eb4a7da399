package client

import (
	"context"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/ring"
)

// Key routing: the client learns the ring from any node (members, their
// addresses, the cluster constants), computes each key's replicas exactly
// as the nodes do, and sends the request to the first replica neither
// failing nor quiet (tryOrder) — no forwarding hop, and coordination spread
// over the cluster. The configured endpoints stay as the last resort.

const (
	ringRefresh = 10 * time.Second
	downFor     = 2 * time.Second
)

type router struct {
	mu         sync.Mutex
	ring       *ring.Ring
	addrs      map[string]string // member id -> gRPC address
	fetched    time.Time
	refreshing bool
	down       map[string]time.Time // address -> skip until
	conns      map[string]endpoint  // address -> connection (routed-only ones)
}

// routeFor lists the endpoints to try for key: its replicas in preference
// order, then the configured endpoints, in the order tryOrder gives.
func (c *Client) routeFor(ctx context.Context, key []byte) []endpoint {
	c.maybeRefresh(ctx)
	r := &c.router
	r.mu.Lock()
	var addrs []string
	if r.ring != nil && r.ring.Len() > 0 {
		for _, id := range r.ring.Preference(r.ring.Partition(key)) {
			if a, ok := r.addrs[id]; ok && a != "" {
				addrs = append(addrs, a)
			}
		}
	}
	start := int(c.preferred.Load())
	for i := range c.endpoints {
		addrs = append(addrs, c.endpoints[(start+i)%len(c.endpoints)].addr)
	}
	addrs = dedupe(addrs)
	now := time.Now()
	cands := make([]candidate, 0, len(addrs))
	for _, a := range addrs {
		cands = append(cands, candidate{addr: a, failing: now.Before(r.down[a])})
	}
	r.mu.Unlock()
	eps := make([]endpoint, 0, len(cands))
	known := cands[:0]
	for _, cd := range cands {
		if e, ok := c.conn(cd.addr); ok {
			cd.quiet = e.h.quiet()
			cd.lagging = e.h.lagging() // quiet implies lagging; tryOrder puts quiet last
			known = append(known, cd)
			eps = append(eps, e)
		}
	}
	out := make([]endpoint, 0, len(eps))
	for _, i := range tryOrder(known) {
		out = append(out, eps[i])
	}
	return out
}

// candidate is an endpoint a request may go to, and what the client knows
// of it: failing (a try failed as the node's own failure in the last
// downFor), lagging (requests outstanding and no answer for a little
// while) or quiet (for long enough to give up on it), see tracker.
type candidate struct {
	addr                    string
	failing, lagging, quiet bool
}

// tryOrder is the order (indexes) to try candidates in: the healthy ones
// first, in the given (preference) order, then the failing ones, then the
// lagging ones, then the quiet ones. A failing node fails fast (a refused
// dial), while a request sent to a lagging or quiet one may wait, so those
// come last; any node can coordinate any key, so nothing is lost by
// skipping a replica.
func tryOrder(cands []candidate) []int {
	out := make([]int, 0, len(cands))
	for _, pass := range []func(candidate) bool{
		func(cd candidate) bool { return !cd.failing && !cd.lagging && !cd.quiet },
		func(cd candidate) bool { return cd.failing && !cd.lagging && !cd.quiet },
		func(cd candidate) bool { return cd.lagging && !cd.quiet },
		func(cd candidate) bool { return cd.quiet },
	} {
		for i, cd := range cands {
			if pass(cd) {
				out = append(out, i)
			}
		}
	}
	return out
}

// dedupe drops repeated addresses, keeping the first (lists are short).
func dedupe(xs []string) []string {
	out := xs[:0]
	for _, x := range xs {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// conn returns the connection to addr, dialing (lazily) a routed-only one.
func (c *Client) conn(addr string) (endpoint, bool) {
	for _, e := range c.endpoints {
		if e.addr == addr {
			return e, true
		}
	}
	r := &c.router
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.conns[addr]; ok {
		return e, true
	}
	if c.closed {
		return endpoint{}, false
	}
	cc, err := grpc.NewClient(addr, c.dialOpts...)
	if err != nil {
		return endpoint{}, false
	}
	e := newEndpoint(addr, cc, c.opts)
	if r.conns == nil {
		r.conns = map[string]endpoint{}
	}
	r.conns[addr] = e
	return e, true
}

// markDown keeps addr out of first place for a moment after a node failure.
func (c *Client) markDown(addr string) {
	r := &c.router
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down == nil {
		r.down = map[string]time.Time{}
	}
	r.down[addr] = time.Now().Add(downFor)
}

// maybeRefresh re-reads the ring when it is older than ringRefresh. Only
// one caller refreshes; the others keep using the ring they have.
func (c *Client) maybeRefresh(ctx context.Context) {
	if c.opts.noRouting {
		return
	}
	r := &c.router
	r.mu.Lock()
	if r.refreshing || (r.ring != nil && time.Since(r.fetched) < ringRefresh) {
		r.mu.Unlock()
		return
	}
	r.refreshing = true
	r.mu.Unlock()
	rctx, cancel := context.WithTimeout(ctx, c.opts.attemptTimeout)
	st, err := c.RingStatus(rctx)
	cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refreshing = false
	r.fetched = time.Now() // also after a failure: do not retry on every call
	if err != nil {
		return
	}
	rg, addrs, err := ringFrom(st)
	if err != nil {
		return
	}
	r.ring, r.addrs = rg, addrs
}

// ringFrom rebuilds the ring a node reported: the members that own
// partitions, placed exactly as the nodes place them.
func ringFrom(st *api.RingStatusResponse) (*ring.Ring, map[string]string, error) {
	addrs := map[string]string{}
	zones := ring.Zones{}
	var ids []string
	for _, m := range st.GetMembers() {
		addrs[m.GetId()] = m.GetAddress()
		if s := m.GetState(); s == "valid" || s == "leaving" {
			ids = append(ids, m.GetId())
			zones[m.GetId()] = m.GetZone()
		}
	}
	slices.Sort(ids)
	rg, err := ring.Build(ring.ClusterConfig{Partitions: int(st.GetPartitions()), Replicas: int(st.GetReplicas())}, ids, zones)
	return rg, addrs, err
}

// doKey runs the operation mk makes against key's replicas first, then
// the endpoints (see run). WithoutRouting keeps the plain fail-over of do.
func (c *Client) doKey(ctx context.Context, key []byte, read bool, mk func() *api.StreamOp) (*api.StreamResult, error) {
	if c.opts.noRouting {
		var res *api.StreamResult
		err := c.do(ctx, read, func(ctx context.Context, e endpoint) (err error) {
			res, err = e.mux.do(ctx, mk())
			return err
		})
		return res, err
	}
	res, err := c.run(ctx, c.routeFor(ctx, key), read, mk)
	if err != nil {
		return nil, c.finishErr(err)
	}
	return res, nil
}

// hedging reports whether gets are hedged.
func (c *Client) hedging() bool { return c.opts.resp.Hedge && !c.opts.noHedge }

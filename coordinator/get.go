package coordinator

import (
	"context"
	"slices"

	"github.com/quorumkv/quorumkv/vclock"
)

type answer struct {
	node  string
	clock vclock.Clock
	err   error
}

// Get asks as many of the key's replicas as the read requires, in parallel
// (readOrder: this node first when it is one, then the responsive ones),
// asks the next replica for each one that fails, and, after HedgeAfter,
// for each one still silent (hedge), and returns the merge of the answers
// once enough have come. Late answers are awaited in the background and
// every asked replica whose copy differs from the full merge is repaired;
// replicas that were not asked are left to anti-entropy.
func (c *Coordinator) Get(ctx context.Context, key []byte, cons Consistency) (ReadResult, error) {
	if c.isClosed() {
		return ReadResult{}, ErrClosed
	}
	if err := c.checkKey(key); err != nil {
		return ReadResult{}, err
	}
	need, err := cons.Required(c.cfg.Replicas)
	if err != nil {
		return ReadResult{}, err
	}
	rt := c.lookup(key)
	p, prefs := rt.p, rt.prefs
	info := Info{Coordinator: c.cfg.NodeID, Partition: p, Required: need}
	order := c.readOrder(prefs)
	answers := make(chan answer, len(order))
	asked := min(need, len(order))
	if c.cfg.ReadAll {
		asked = len(order)
	}
	for i := asked - 1; i >= 0; i-- { // remote reads first, then the local one inline
		c.readFrom(order[i], key, answers)
	}
	t := newTracker(need, asked)
	var hedge <-chan struct{}
	if asked < len(order) && c.cfg.HedgeAfter > 0 {
		hctx, cancel := c.hedgeDeadlines.WithTimeout(c.cfg.HedgeAfter)
		defer cancel()
		hedge = hctx.Done()
	}
	var got []answer
	var merged vclock.Clock
	for !t.done() && ctx.Err() == nil {
		select {
		case <-hedge:
			hedge = nil
			for range min(t.pending, len(order)-asked) {
				c.readFrom(order[asked], key, answers)
				asked++
				t.ask()
			}
		case a := <-answers:
			t.record(a.err == nil)
			if a.err == nil {
				got = append(got, a)
				merged = vclock.Sync(merged, a.clock)
				info.Replicas = append(info.Replicas, a.node)
			} else if asked < len(order) {
				c.readFrom(order[asked], key, answers) // try the next replica
				asked++
				t.ask()
			}
		case <-ctx.Done():
		}
	}
	info.Acks = t.ok
	c.repairLater(key, got, answers, t.pending)
	if !t.met() {
		return ReadResult{Info: info}, &UnavailableError{Op: "read", Required: need, Acknowledged: t.ok}
	}
	return ReadResult{Clock: merged, Found: len(merged.Live()) > 0, Info: info}, nil
}

// readOrder is the order a read asks the replicas in: this node first
// when it is one of them (a local read costs no round trip), then the
// others by responsiveness (healthy, quiet, down), each in preference
// order. A read asks only as many as it needs, so one that gossip calls
// down or that has gone quiet is asked only when another fails.
func (c *Coordinator) readOrder(prefs []string) []string {
	out := make([]string, 0, len(prefs))
	if slices.Contains(prefs, c.cfg.NodeID) {
		out = append(out, c.cfg.NodeID)
	}
	return append(out, byResponsiveness(without(prefs, c.cfg.NodeID), c.state)...)
}

// readFrom reads node's copy in the background (bounded by ReplicaTimeout,
// not by the client's request, so a late answer still feeds read repair).
func (c *Coordinator) readFrom(node string, key []byte, answers chan<- answer) {
	if node == c.cfg.NodeID {
		// A local read takes microseconds: no goroutine (answers is
		// buffered for every replica).
		var a answer
		a.node = node
		a.clock, _, a.err = c.cfg.Local.Get(key)
		answers <- a
		return
	}
	if ar, ok := c.cfg.Transport.(AsyncReader); ok {
		c.readAsync(ar, node, key, answers)
		return
	}
	started := c.goBackground(func() {
		rctx, cancel := c.replicaCtx()
		defer cancel()
		var a answer
		a.node = node
		if node == c.cfg.NodeID {
			a.clock, _, a.err = c.cfg.Local.Get(key)
		} else {
			a.clock, _, a.err = c.cfg.Transport.Read(rctx, node, key)
		}
		answers <- a
	})
	if !started {
		answers <- answer{node: node, err: ErrClosed}
	}
}

func (c *Coordinator) readAsync(ar AsyncReader, node string, key []byte, answers chan<- answer) {
	rctx, finish, ok := c.startAsync()
	if !ok {
		answers <- answer{node: node, err: ErrClosed}
		return
	}
	ar.ReadAsync(rctx, node, key, func(clk vclock.Clock, _ bool, err error) {
		defer finish()
		answers <- answer{node: node, clock: clk, err: err}
	})
}

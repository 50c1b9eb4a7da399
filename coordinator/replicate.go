package coordinator

import (
	"context"
	"errors"
	"sync"

	"github.com/quorumkv/quorumkv/vclock"
)

type ack struct {
	node     string
	fallback bool // a fallback node holds the write as a hint
	err      error
}

// fallbacks hands out a partition's fallback nodes, each at most once per
// write, in ring order.
type fallbacks struct {
	mu    sync.Mutex
	nodes []string
}

func (f *fallbacks) next() (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.nodes) == 0 {
		return "", false
	}
	n := f.nodes[0]
	f.nodes = f.nodes[1:]
	return n, true
}

// errNotSent is the outcome of a primary the write was not sent to (it was
// quiet and the quorum could do without it): it holds a hint instead.
var errNotSent = errors.New("not sent to a quiet replica: hinted")

// replicate gets the write to primary as plan says (planWrite), in the
// background, bounded by ReplicaTimeout but not by the client's request: a
// replica still gets the write after the client has its answer. When the
// primary does not acknowledge, a sloppy write goes to the next fallback
// (which holds it as a hint for the primary); failing that, the
// coordinator keeps the hint. acks gets exactly one answer for primary.
func (c *Coordinator) replicate(primary string, plan writePlan, key []byte, clk vclock.Clock, fb *fallbacks, sloppy bool, acks chan<- ack) {
	switch plan {
	case planHint:
		// The hint is durable in the background (Close waits for it): the
		// write does not wait for a replica it does not count.
		acks <- ack{node: primary, err: errNotSent}
		if !c.goBackground(func() { c.keepHint(primary, key, clk) }) {
			c.keepHint(primary, key, clk)
		}
		return
	case planFallbackOrHint:
		started := c.goBackground(func() {
			if node, ok := c.sendFallback(primary, key, clk, fb); ok {
				acks <- ack{node: node, fallback: true}
				return
			}
			c.keepHint(primary, key, clk)
			acks <- ack{node: primary, err: errNotSent}
		})
		if !started {
			c.keepHint(primary, key, clk)
			acks <- ack{node: primary, err: ErrClosed}
		}
		return
	}
	skipPrimary := plan == planFallbackFirst
	if aa, ok := c.cfg.Transport.(AsyncApplier); ok && !skipPrimary {
		started := c.applyAsync(aa, primary, key, clk, func(err error) {
			if err == nil {
				acks <- ack{node: primary}
				return
			}
			if !c.goBackground(func() { c.primaryFailed(primary, key, clk, fb, sloppy, false, err, acks) }) {
				// Closed while the apply was in flight (Close cancelled
				// it): no fallback can be asked any more, but the hint is
				// kept here, before finish() lets Close return.
				c.keepHint(primary, key, clk)
				acks <- ack{node: primary, err: err}
			}
		})
		if !started {
			acks <- ack{node: primary, err: ErrClosed}
		}
		return
	}
	started := c.goBackground(func() {
		triedFallback := false
		if skipPrimary {
			// Do not wait on a node gossip calls down (or a quiet one the
			// quorum needs): hand the write to a fallback. With none to
			// take it, the primary is tried after all (gossip lags, a
			// quiet node may answer yet; neither decides a quorum).
			if node, ok := c.sendFallback(primary, key, clk, fb); ok {
				acks <- ack{node: node, fallback: true}
				return
			}
			triedFallback = true
		}
		err := c.sendPrimary(primary, key, clk)
		if err == nil {
			acks <- ack{node: primary}
			return
		}
		c.primaryFailed(primary, key, clk, fb, sloppy, triedFallback, err, acks)
	})
	if !started {
		acks <- ack{node: primary, err: ErrClosed}
	}
}

// primaryFailed handles a primary that did not acknowledge: a sloppy write
// goes to a fallback, and otherwise the coordinator keeps the hint.
func (c *Coordinator) primaryFailed(primary string, key []byte, clk vclock.Clock, fb *fallbacks, sloppy, triedFallback bool, err error, acks chan<- ack) {
	if sloppy && !triedFallback {
		if node, ok := c.sendFallback(primary, key, clk, fb); ok {
			acks <- ack{node: node, fallback: true}
			return
		}
	}
	c.keepHint(primary, key, clk)
	acks <- ack{node: primary, err: err}
}

// applyAsync starts an asynchronous apply counted as background work (Close
// waits for it); false once the coordinator is closed.
func (c *Coordinator) applyAsync(aa AsyncApplier, node string, key []byte, clk vclock.Clock, done func(error)) bool {
	rctx, finish, ok := c.startAsync()
	if !ok {
		return false
	}
	aa.ApplyAsync(rctx, node, key, clk, func(err error) {
		defer finish()
		if err != nil {
			c.log.Debug("replica did not acknowledge", "node", node, "err", err)
		}
		done(err)
	})
	return true
}

// startAsync registers one asynchronous replica call as background work and
// returns its context (bounded by ReplicaTimeout) and the function to call
// when it is over; ok is false once the coordinator is closed.
func (c *Coordinator) startAsync() (ctx context.Context, finish func(), ok bool) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, nil, false
	}
	c.wg.Add(1)
	c.mu.Unlock()
	ctx, cancel := c.replicaCtx()
	return ctx, func() {
		cancel()
		c.wg.Done()
	}, true
}

// replicateExtra sends the write to a node that is gaining the partition in
// a membership change. It does not count toward the quorum; a miss is
// hinted (the node's transfer would also bring it).
func (c *Coordinator) replicateExtra(node string, key []byte, clk vclock.Clock) {
	if node == c.cfg.NodeID {
		return
	}
	if c.quiet(node) { // nothing new waits behind a quiet node
		c.goBackground(func() { c.keepHint(node, key, clk) })
		return
	}
	c.goBackground(func() {
		if err := c.sendPrimary(node, key, clk); err != nil {
			c.keepHint(node, key, clk)
		}
	})
}

func (c *Coordinator) gossipDown(node string) bool {
	return c.cfg.Liveness != nil && !c.cfg.Liveness.Alive(node)
}

func (c *Coordinator) sendPrimary(node string, key []byte, clk vclock.Clock) error {
	rctx, cancel := c.replicaCtx()
	defer cancel()
	err := c.cfg.Transport.Apply(rctx, node, key, clk)
	if err != nil {
		c.log.Debug("replica did not acknowledge", "node", node, "err", err)
	}
	return err
}

// sendFallback offers the write to fallbacks until one holds it.
func (c *Coordinator) sendFallback(primary string, key []byte, clk vclock.Clock, fb *fallbacks) (string, bool) {
	for {
		node, ok := fb.next()
		if !ok {
			return "", false
		}
		if !c.state(node).healthy() {
			continue
		}
		rctx, cancel := c.replicaCtx()
		err := c.cfg.Transport.Hint(rctx, node, primary, key, clk)
		cancel()
		if err == nil {
			return node, true
		}
		c.log.Debug("fallback did not take the hint", "fallback", node, "target", primary, "err", err)
	}
}

// keepHint stores a hint on this node; a refused hint is logged, never
// returned: the write's outcome does not depend on it.
func (c *Coordinator) keepHint(target string, key []byte, clk vclock.Clock) {
	if c.cfg.Hints == nil {
		return
	}
	if err := c.cfg.Hints.Add(target, key, clk); err != nil {
		c.log.Warn("hint not stored; anti-entropy will repair", "target", target, "err", err)
	}
}

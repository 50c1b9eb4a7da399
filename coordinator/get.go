package coordinator

import (
	"context"

	"github.com/quorumkv/quorumkv/vclock"
)

type answer struct {
	node  string
	clock vclock.Clock
	err   error
}

// Get reads key from its replicas in parallel and returns as soon as the
// requested number have answered, with their answers merged. The rest of the
// answers are awaited in the background and every replica whose copy differs
// from the full merge is repaired.
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
	answers := make(chan answer, len(prefs))
	for _, n := range prefs {
		c.readFrom(n, key, answers)
	}
	t := newTracker(need, len(prefs))
	var got []answer
	var merged vclock.Clock
	for !t.done() && ctx.Err() == nil {
		select {
		case a := <-answers:
			t.record(a.err == nil)
			if a.err == nil {
				got = append(got, a)
				merged = vclock.Sync(merged, a.clock)
				info.Replicas = append(info.Replicas, a.node)
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

// readFrom reads node's copy in the background (bounded by ReplicaTimeout,
// not by the client's request, so a late answer still feeds read repair).
func (c *Coordinator) readFrom(node string, key []byte, answers chan<- answer) {
	started := c.goBackground(func() {
		rctx, cancel := c.replicaCtx(c.bg)
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

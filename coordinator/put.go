package coordinator

import (
	"context"
	"errors"

	"github.com/quorumkv/quorumkv/vclock"
)

// Put runs a write (a put, or a delete when w.Tombstone): this node
// coordinates it when it is a replica of the key, and otherwise forwards it to
// the first replica that takes it.
func (c *Coordinator) Put(ctx context.Context, w Write) (WriteResult, error) {
	if c.isClosed() {
		return WriteResult{}, ErrClosed
	}
	need, err := c.checkWrite(w)
	if err != nil {
		return WriteResult{}, err
	}
	rt := c.lookup(w.Key)
	if !c.isReplica(rt.prefs) {
		return c.forward(ctx, w, need, rt.prefs)
	}
	res, err := c.coordinate(ctx, w, need, rt)
	if !errors.Is(err, ErrDiskFull) {
		return res, err
	}
	// The local replica refused the write before minting its dot (its disk
	// is full): it ran nowhere, so another replica coordinates it, and
	// counts this one as not acknowledging. When none takes it, the answer
	// is the full disk.
	if res, ferr := c.forward(ctx, w, need, without(rt.prefs, c.cfg.NodeID)); !errors.Is(ferr, errNoneTook) {
		return res, ferr
	}
	return WriteResult{}, err
}

// CoordinateForwarded runs a write another node forwarded here. It never
// forwards again: a node that is not a replica answers ErrNotReplica.
func (c *Coordinator) CoordinateForwarded(ctx context.Context, w Write) (WriteResult, error) {
	if c.isClosed() {
		return WriteResult{}, ErrClosed
	}
	need, err := c.checkWrite(w)
	if err != nil {
		return WriteResult{}, err
	}
	rt := c.lookup(w.Key)
	if !c.isReplica(rt.prefs) {
		return WriteResult{}, ErrNotReplica
	}
	return c.coordinate(ctx, w, need, rt)
}

// coordinate mints the write's dot on the local replica, sends the whole
// resulting sibling set to the other replicas while the local fsync runs,
// and returns once need of them, this one included, hold it durably. The
// other sends go on in the background.
func (c *Coordinator) coordinate(ctx context.Context, w Write, need int, rt route) (WriteResult, error) {
	p, prefs := rt.p, rt.prefs
	sib := vclock.Sibling{Value: w.Value, Tombstone: w.Tombstone}
	result, durable, err := c.cfg.Local.CoordinateNoSyncWait(w.Key, w.Context, sib)
	if err != nil {
		return WriteResult{}, err
	}
	info := Info{Coordinator: c.cfg.NodeID, Partition: p, Required: need}
	others := without(prefs, c.cfg.NodeID)
	t := newTracker(need, len(others)+1)
	acks := make(chan ack, len(others))
	strict := w.Consistency.Strict
	sloppy := c.cfg.Hints != nil && !strict
	var fb fallbacks
	if sloppy {
		fb.nodes = rt.pl.Fallbacks(p)
	}
	states := make([]peerState, len(others))
	for i, n := range others {
		states[i] = c.state(n)
	}
	for i, plan := range planWrite(need, states, sloppy) {
		c.replicate(others[i], plan, w.Key, result, &fb, sloppy, acks)
	}
	for _, n := range rt.pending() {
		c.replicateExtra(n, w.Key, result)
	}
	// The other replicas have the write on its way; now wait for this one's
	// fsync, which ran meanwhile.
	var diskFull []string
	if err := durable(); err != nil {
		c.log.Warn("local write not durable", "err", err)
		t.record(false)
		if errors.Is(err, ErrDiskFull) {
			diskFull = append(diskFull, c.cfg.NodeID)
		}
	} else {
		t.record(true)
		info.Replicas = append(info.Replicas, c.cfg.NodeID)
	}
	for !t.done() {
		select {
		case a := <-acks:
			t.record(a.err == nil && !(a.fallback && strict))
			if errors.Is(a.err, ErrDiskFull) {
				diskFull = append(diskFull, a.node)
			}
			if a.err == nil {
				info.Replicas = append(info.Replicas, a.node)
				if a.fallback {
					info.FallbackAcks++
				}
			}
		case <-ctx.Done():
			info.Acks = t.ok
			return WriteResult{Clock: result, Info: info}, &UnavailableError{Op: "write", Required: need, Acknowledged: t.ok, DiskFull: diskFull}
		}
	}
	info.Acks = t.ok
	if !t.met() {
		return WriteResult{Clock: result, Info: info}, &UnavailableError{Op: "write", Required: need, Acknowledged: t.ok, DiskFull: diskFull}
	}
	return WriteResult{Clock: result, Info: info}, nil
}

// forward hands the write to a replica of the key: healthy ones first, then
// quiet ones, then those gossip calls down, each in preference order. Only a
// replica that could not run it at all (unreachable, no longer a replica, its
// disk full) is skipped for the next; any answer it gave, including a failed
// quorum, is final, since the write may have happened. When none took it,
// the error is an UnavailableError that is also errNoneTook.
func (c *Coordinator) forward(ctx context.Context, w Write, need int, prefs []string) (WriteResult, error) {
	var lastErr error
	var diskFull []string
	for _, n := range byResponsiveness(prefs, c.state) {
		fctx, cancel := context.WithTimeout(ctx, 2*c.cfg.ReplicaTimeout)
		res, err := c.cfg.Transport.Coordinate(fctx, n, w)
		cancel()
		if err == nil || !(errors.Is(err, ErrUnreachable) || errors.Is(err, ErrNotReplica) || errors.Is(err, ErrDiskFull)) {
			return res, err
		}
		if errors.Is(err, ErrDiskFull) {
			diskFull = append(diskFull, n)
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	c.log.Debug("no replica took a forwarded write", "err", lastErr)
	return WriteResult{}, noneTook{&UnavailableError{Op: "write", Required: need, Acknowledged: 0, DiskFull: diskFull}}
}

// state is what gossip and the transport say of node now.
func (c *Coordinator) state(node string) peerState {
	return peerState{down: c.gossipDown(node), quiet: c.quiet(node)}
}

// quiet reports the transport finds node quiet.
func (c *Coordinator) quiet(node string) bool {
	return c.cfg.Responsiveness != nil && c.cfg.Responsiveness.Quiet(node)
}

// errNoneTook: no replica took a forwarded write (it ran nowhere).
var errNoneTook = errors.New("no replica took the write")

// noneTook is a forward's UnavailableError when no replica took the write.
type noneTook struct{ *UnavailableError }

func (e noneTook) Unwrap() []error { return []error{e.UnavailableError, errNoneTook} }

func without(nodes []string, self string) []string {
	out := make([]string, 0, len(nodes))
	for _, n := range nodes {
		if n != self {
			out = append(out, n)
		}
	}
	return out
}

package node

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/quorumkv/quorumkv/api"
)

// logHub shares the reading of a replica's change log among the watches
// this node serves: one long-polling reader per (partition, replica),
// whatever the number of watches (a thousand watchers of one service cost
// three readers, not three thousand). A watch whose cursor is behind the
// shared reader catches up with reads of its own, then joins it. A watch
// that does not keep up (its buffer full) is dropped: its stream ends and
// the client resumes from its last token.
type logHub struct {
	n     *Node
	mu    sync.Mutex
	tails map[tailKey]*sharedTail
}

type tailKey struct {
	p    int
	node string
}

// sharedTail is one reader and the watches it feeds.
type sharedTail struct {
	key    tailKey
	seq    uint64 // every entry up to seq was read and passed on
	subs   map[*logSub]struct{}
	cancel context.CancelFunc
}

// logSub is one watch's subscription to one replica's log. The
// subscriptions of one watch share its channel and its drop.
type logSub struct {
	ch      chan<- logBatch
	drop    func()
	dropped bool
}

// subBuffer is how many reads a watch may fall behind before it is
// dropped.
const subBuffer = 256

func newLogHub(n *Node) *logHub { return &logHub{n: n, tails: map[tailKey]*sharedTail{}} }

// subscribe streams node's log of p after sequence after to ch until ctx
// ends; when ch is full, it calls drop and stops.
func (h *logHub) subscribe(ctx context.Context, p int, node string, after uint64, ch chan<- logBatch, drop func()) {
	s := &logSub{ch: ch, drop: drop}
	go h.join(ctx, tailKey{p: p, node: node}, after, s)
}

// join catches s up from after to the shared reader's position with reads
// of its own, then attaches it; it detaches it when ctx ends.
func (h *logHub) join(ctx context.Context, k tailKey, after uint64, s *logSub) {
	for {
		h.mu.Lock()
		t := h.tails[k]
		if t == nil {
			t = h.startTail(k, after)
		}
		if after >= t.seq {
			t.subs[s] = struct{}{}
			h.mu.Unlock()
			break
		}
		h.mu.Unlock()
		resp, err := h.n.readLogOn(ctx, k.node, &api.ReadLogRequest{Partition: uint32(k.p), After: after, Limit: logReadLimit})
		if ctx.Err() != nil {
			return
		}
		if !h.deliver(s, newLogBatch(k.node, resp, err)) {
			return
		}
		switch {
		case err != nil:
			if !sleepCtx(ctx, 500*time.Millisecond) {
				return
			}
		case resp.GetCompacted() || len(resp.GetEntries()) == 0:
			// Behind the floor, or another life of the replica: the watch
			// decides; join the reader where it is.
			after = max(after, resp.GetLast())
		default:
			after = resp.GetEntries()[len(resp.GetEntries())-1].GetSeq()
		}
	}
	<-ctx.Done()
	h.mu.Lock()
	defer h.mu.Unlock()
	if t := h.tails[k]; t != nil {
		delete(t.subs, s)
		if len(t.subs) == 0 {
			t.cancel()
			delete(h.tails, k)
		}
	}
}

// deliver hands b to s, or drops s when its buffer is full.
func (h *logHub) deliver(s *logSub, b logBatch) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.deliverLocked(s, b)
}

func (h *logHub) deliverLocked(s *logSub, b logBatch) bool {
	if s.dropped {
		return false
	}
	select {
	case s.ch <- b:
		return true
	default:
		s.dropped = true
		s.drop()
		return false
	}
}

// startTail starts the shared reader of k at sequence after. Called with
// h.mu held.
func (h *logHub) startTail(k tailKey, after uint64) *sharedTail {
	ctx, cancel := context.WithCancel(context.Background())
	t := &sharedTail{key: k, seq: after, subs: map[*logSub]struct{}{}, cancel: cancel}
	h.tails[k] = t
	go h.read(ctx, t)
	return t
}

// tailLinger is how long a secondary reader (see primaryLog) waits after
// a read that brought entries before it reads again: its entries are
// mostly changes the primary log already delivered, so they come in fewer,
// larger batches and wake each watch less often. A change only a
// secondary replica logged (the primary missed it) comes this much later.
const tailLinger = 20 * time.Millisecond

// primaryLog reports whether node's log of p is the one this node's
// watches hear changes from first: its own when it is a replica of p,
// else the first replica's.
func (h *logHub) primaryLog(p int, node string) bool {
	r := h.n.members.Ring()
	prefs := r.Preference(p)
	if slices.Contains(prefs, h.n.cfg.ID) {
		return node == h.n.cfg.ID
	}
	return len(prefs) > 0 && prefs[0] == node
}

// read is the shared reader's loop.
func (h *logHub) read(ctx context.Context, t *sharedTail) {
	for ctx.Err() == nil {
		h.mu.Lock()
		after := t.seq
		h.mu.Unlock()
		resp, err := h.n.readLogOn(ctx, t.key.node, &api.ReadLogRequest{Partition: uint32(t.key.p), After: after,
			Limit: logReadLimit, WaitMs: uint32(watchProgressEvery.Milliseconds())})
		if ctx.Err() != nil {
			return
		}
		h.mu.Lock()
		switch {
		case err != nil:
		case len(resp.GetEntries()) > 0:
			t.seq = resp.GetEntries()[len(resp.GetEntries())-1].GetSeq()
		case resp.GetCompacted():
			t.seq = resp.GetFloor() - 1
		case resp.GetLast() < t.seq:
			t.seq = resp.GetFloor() - 1 // another life of the replica
		}
		b := newLogBatch(t.key.node, resp, err)
		for s := range t.subs {
			if !h.deliverLocked(s, b) {
				delete(t.subs, s)
			}
		}
		h.mu.Unlock()
		switch {
		case err != nil:
			if !sleepCtx(ctx, 500*time.Millisecond) {
				return
			}
		case len(resp.GetEntries()) > 0 && !h.primaryLog(t.key.p, t.key.node):
			if !sleepCtx(ctx, tailLinger) {
				return
			}
		}
	}
}

// sleepCtx waits d or until ctx ends; it reports whether ctx is still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

package node

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/quorumkv/quorumkv/antientropy"
	"github.com/quorumkv/quorumkv/replica"
	"github.com/quorumkv/quorumkv/ring"
)

// Handoff moves partitions when the membership changes. A node that gains a
// partition (it joins, a member leaves or is removed, its disk was wiped)
// pulls it from the current replicas with anti-entropy exchanges — the
// Merkle diff makes a pull resumable after a restart of either side and
// cheap for data already there — and only then counts the partition as
// held. Once every member of the target ring holds all its partitions, the
// change is committed (joining → valid, leaving → removed), and a node drops
// the partitions it no longer replicates.
type handoff struct {
	n       *Node
	log     *slog.Logger
	space   *replica.Space
	limiter *rate.Limiter
	wake    chan struct{}

	mu        sync.Mutex
	owned     []bool // partitions this node holds completely
	transfers map[int]*Transfer
	dropSig   string // ring signature of the last drop sweep
}

// Transfer is one partition this node is pulling.
type Transfer struct {
	Partition int
	Sources   []string
	State     string // waiting, running or failed
	KeysMoved int
	Error     string
	Since     time.Time
}

const (
	handoffTick = 500 * time.Millisecond
	// Transfers are throttled by the keys they move (an exchange of equal
	// partitions moves nothing and is not throttled).
	handoffKeysPerS  = 20000
	handoffKeysBurst = 2 * 1000 // ≥ one exchange's repairs
	ownedKey         = "owned"
	// exchangeTimeout bounds one exchange, so a hung peer cannot stall the
	// handoff loop.
	exchangeTimeout = 30 * time.Second
)

func newHandoff(n *Node) (*handoff, error) {
	h := &handoff{
		n:         n,
		log:       n.log.With("component", "handoff"),
		space:     n.store.Space("s/handoff/"),
		limiter:   rate.NewLimiter(handoffKeysPerS, handoffKeysBurst),
		wake:      make(chan struct{}, 1),
		owned:     make([]bool, n.cfg.Partitions),
		transfers: map[int]*Transfer{},
	}
	err := h.space.Scan([]byte(ownedKey), nil, func(k, v []byte) error {
		if string(k) == ownedKey {
			for p := range h.owned {
				h.owned[p] = p/8 < len(v) && v[p/8]&(1<<(p%8)) != 0
			}
		}
		return replica.ErrStopScan
	})
	return h, err
}

// kick asks for a step soon (the membership changed).
func (h *handoff) kick() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

func (h *handoff) run(ctx context.Context) {
	t := time.NewTicker(handoffTick)
	defer t.Stop()
	for {
		h.step(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-h.wake:
		}
	}
}

// step does one pass: pull what this node lacks, declare readiness, commit
// a finished change, drop what it no longer replicates.
func (h *handoff) step(ctx context.Context) {
	m := h.n.members
	cur, tgt := m.Ring(), m.Target()
	self := h.n.cfg.ID
	holdsTarget := true
	for p := range h.n.cfg.Partitions {
		if ctx.Err() != nil {
			return
		}
		inCur, inTgt := cur.IsReplica(p, self), tgt.IsReplica(p, self)
		if (inCur || inTgt) && !h.isOwned(p) && !h.pull(ctx, p, cur) && inTgt {
			holdsTarget = false
		}
	}
	if tgt.Contains(self) && holdsTarget {
		m.SetReady(m.Epoch(), tgt.Signature())
	}
	m.SetEmpty(h.n.store.Empty())
	h.commit()
	if cur.Signature() == tgt.Signature() {
		h.dropUnowned(cur)
	}
}

func (h *handoff) isOwned(p int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.owned[p]
}

// setOwned records (durably) whether this node holds all of p.
func (h *handoff) setOwned(p int, v bool) {
	h.mu.Lock()
	h.owned[p] = v
	bits := make([]byte, (len(h.owned)+7)/8)
	for i, o := range h.owned {
		if o {
			bits[i/8] |= 1 << (i % 8)
		}
	}
	h.mu.Unlock()
	if err := h.space.Set([]byte(ownedKey), bits); err != nil {
		h.log.Error("cannot persist held partitions", "err", err)
	}
}

// pull brings partition p from its current replicas. It reports whether p
// is now held; on failure the next step retries (the Merkle diff skips what
// already arrived).
func (h *handoff) pull(ctx context.Context, p int, cur *ring.Ring) bool {
	self := h.n.cfg.ID
	var sources []string
	for _, s := range cur.Preference(p) {
		if s != self {
			sources = append(sources, s)
		}
	}
	if len(sources) == 0 {
		// Only a ring of this node alone (a bootstrap) has nobody to pull
		// from; an empty ring means the cluster is not known yet.
		if cur.Len() == 0 {
			return false
		}
		h.finish(p)
		return true
	}
	tr := h.transfer(p, sources)
	live := slices.DeleteFunc(slices.Clone(sources), func(s string) bool { return !h.n.members.Alive(s) })
	if len(live) == 0 {
		h.update(p, func(t *Transfer) { t.State, t.Error = "waiting", "no live source" })
		return false
	}
	h.update(p, func(t *Transfer) { t.State, t.Error = "running", "" })
	for _, src := range live {
		if err := h.pullFrom(ctx, p, src, tr); err != nil {
			h.update(p, func(t *Transfer) { t.State, t.Error = "failed", err.Error() })
			h.log.Debug("transfer failed; will retry", "partition", p, "source", src, "err", err)
			return false
		}
	}
	h.finish(p)
	return true
}

func (h *handoff) pullFrom(ctx context.Context, p int, src string, tr *Transfer) error {
	for {
		xctx, cancel := context.WithTimeout(ctx, exchangeTimeout)
		r, err := antientropy.Exchange(xctx, antientropy.Config{}, p, h.n.store.AntiEntropy(), h.n.peer(src))
		cancel()
		h.update(p, func(t *Transfer) { t.KeysMoved += r.KeysRepaired })
		if err != nil {
			return err
		}
		if r.KeysRepaired > 0 {
			if err := h.limiter.WaitN(ctx, min(r.KeysRepaired, handoffKeysBurst)); err != nil {
				return err
			}
		}
		if !r.Truncated {
			return nil
		}
	}
}

func (h *handoff) transfer(p int, sources []string) *Transfer {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.transfers[p]
	if !ok {
		t = &Transfer{Partition: p, State: "waiting", Since: time.Now()}
		h.transfers[p] = t
	}
	t.Sources = sources
	return t
}

func (h *handoff) update(p int, fn func(*Transfer)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t, ok := h.transfers[p]; ok {
		fn(t)
	}
}

func (h *handoff) finish(p int) {
	h.setOwned(p, true)
	h.mu.Lock()
	t, ok := h.transfers[p]
	delete(h.transfers, p)
	h.mu.Unlock()
	if ok && t.KeysMoved > 0 {
		h.log.Info("partition transferred", "partition", p, "keys", t.KeysMoved, "took", time.Since(t.Since).Round(time.Millisecond))
	}
}

// Transfers lists the partitions this node is pulling.
func (h *handoff) Transfers() []Transfer {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Transfer, 0, len(h.transfers))
	for _, t := range h.transfers {
		c := *t
		c.Sources = slices.Clone(t.Sources)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Transfer) int { return a.Partition - b.Partition })
	return out
}

// commit installs the next ring once the change can be committed. Any
// node may do it; a commit is the successor of one epoch, so two nodes
// committing the same change write the same record.
func (h *handoff) commit() {
	m := h.n.members
	if r, ok := m.Doc().NextRing(); ok && m.Commit(r) {
		h.log.Info("membership change committed", "epoch", r.Epoch, "ring", r.Members)
	}
}

// dropUnowned deletes the partitions this node no longer replicates, once
// per stable ring.
func (h *handoff) dropUnowned(cur *ring.Ring) {
	if h.dropSig == cur.Signature() {
		return
	}
	self := h.n.cfg.ID
	for p := range h.n.cfg.Partitions {
		if cur.IsReplica(p, self) {
			continue
		}
		has, err := h.n.store.HasPartition(p)
		if err != nil {
			return
		}
		if !has && !h.isOwned(p) {
			continue
		}
		if err := h.n.store.DropPartition(p); err != nil {
			h.log.Error("cannot drop partition", "partition", p, "err", err)
			return
		}
		h.setOwned(p, false)
		h.log.Info("dropped a partition this node no longer replicates", "partition", p)
	}
	h.dropSig = cur.Signature()
}

// Transfers lists the partitions this node is pulling now.
func (n *Node) Transfers() []Transfer { return n.handoff.Transfers() }

// HeldPartitions counts the partitions this node holds completely.
func (n *Node) HeldPartitions() int {
	n.handoff.mu.Lock()
	defer n.handoff.mu.Unlock()
	c := 0
	for _, o := range n.handoff.owned {
		if o {
			c++
		}
	}
	return c
}

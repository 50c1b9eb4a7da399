package node

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/quorumkv/quorumkv/antientropy"
	"github.com/quorumkv/quorumkv/peer"
	"github.com/quorumkv/quorumkv/ring"
)

// rootsPeer is an exchange peer that answers many partitions' roots in one
// call, so a transfer skips at once the partitions already in sync (every
// partition of a cluster that holds no data).
type rootsPeer interface {
	Roots(ctx context.Context, parts []int) ([]peer.PartitionRoot, error)
}

// pull brings every partition of parts (which this node gains or holds
// incompletely) from a quorum of its current replicas, and a repairing
// partition from every other one that is up as well (pullRuleFor). A
// replica that is down and said it holds no data at all counts as synced
// (a cluster that forms while one of its nodes dies has nothing to bring
// from it). It reports whether all of them are now held; the next step
// retries the rest (the Merkle diff skips what already arrived).
func (o *ownership) pull(ctx context.Context, doc ring.Doc, v *ring.View, parts []int) bool {
	self := o.n.cfg.ID
	done := true
	need := map[int]pullRule{}
	alive := map[string]bool{}
	bySource := map[string][]int{}
	for _, p := range parts {
		prefs := v.Ring.Preference(p)
		if len(prefs) == 0 {
			done = false // no ring known yet
			continue
		}
		sources := without(prefs, self)
		if len(sources) == 0 {
			o.finish(p) // this node alone replicates p: nothing to pull
			continue
		}
		if err := o.startPull(p, len(sources) < len(prefs)); err != nil {
			o.log.Error("cannot start a pull", "partition", p, "err", err)
			done = false
			continue
		}
		need[p] = pullRuleFor(len(prefs), o.n.cfg.Replicas, o.isRepairing(p))
		o.transfer(p, sources)
		for _, s := range sources {
			if o.n.members.Alive(s) {
				alive[s] = true
				bySource[s] = append(bySource[s], p)
			}
		}
	}
	// One roots call per source first: partitions whose roots agree are
	// synced with it already; down sources that hold no data count too.
	synced := map[int]map[string]bool{}
	setSynced := func(p int, s string) {
		if synced[p] == nil {
			synced[p] = map[string]bool{}
		}
		synced[p][s] = true
	}
	// A source counts once its registers are copied too.
	registers := map[string]map[int]bool{}
	mark := func(p int, s string) {
		if registers[s][p] {
			setSynced(p, s)
		}
	}
	differ := map[int][]string{}
	for _, s := range slices.Sorted(maps.Keys(bySource)) {
		registers[s] = o.copyRegisters(ctx, s, v, bySource[s])
		eq, diff := o.compareRoots(ctx, s, bySource[s], true)
		for _, p := range eq {
			mark(p, s)
		}
		for _, p := range diff {
			differ[p] = append(differ[p], s)
		}
	}
	for p := range need {
		for _, s := range without(v.Ring.Preference(p), self) {
			if !o.n.members.Alive(s) && isEmpty(doc, s) {
				setSynced(p, s)
			}
		}
	}
	// Then partition by partition, exchanges until the quorum is met: a
	// partition is held as soon as it is complete, so progress shows.
	lastHeld := time.Now()
	for _, p := range slices.Sorted(maps.Keys(need)) {
		sources := without(v.Ring.Preference(p), self)
		for _, s := range differ[p] {
			if need[p].complete(sources, synced[p], alive) || ctx.Err() != nil {
				break
			}
			if o.exchangeFor(ctx, s, p, true) {
				mark(p, s)
			}
		}
		if need[p].complete(sources, synced[p], alive) {
			o.finish(p)
			if time.Since(lastHeld) > time.Second {
				o.n.members.SetHeld(o.n.HeldPartitions())
				lastHeld = time.Now()
			}
			continue
		}
		done = false
		o.update(p, func(t *Transfer) {
			if t.State != TransferFailed {
				t.State, t.Error = TransferWaiting, need[p].shortOf(len(synced[p]))
			}
		})
	}
	return done
}

// startPull marks p as being pulled. Data of p that is neither held nor
// being pulled is left over from an earlier time this node had p: unless
// this node is one of p's current replicas (then it took those writes as
// one), it is dropped first, since the exchanges would push it back.
func (o *ownership) startPull(p int, currentReplica bool) error {
	o.mu.Lock()
	pulling := o.pulling[p]
	o.mu.Unlock()
	if pulling {
		return nil
	}
	if !currentReplica && o.n.store.PartitionKeys(p) > 0 {
		err := o.n.store.DropPartition(p)
		o.n.leases.records.clear()
		if err != nil {
			return err
		}
	}
	o.set(p, false, true)
	return nil
}

// finish records that this node holds all of p.
func (o *ownership) finish(p int) {
	o.set(p, true, false)
	o.mu.Lock()
	t, ok := o.transfers[p]
	delete(o.transfers, p)
	o.mu.Unlock()
	if ok && t.KeysMoved > 0 {
		o.log.Info("partition transferred", "partition", p, "keys", t.KeysMoved, "took", time.Since(t.Since).Round(time.Millisecond))
	}
}

// transferOut brings every partition of lose (which this node replicates
// now but not in the target ring) to the nodes gaining it, once per change
// (named by key). A gainer still pulling a partition is only compared with
// (it brings the data itself, from a quorum of the current replicas); once
// it holds it, what still differs is exchanged. It reports whether all of
// them are transferred out for the change.
func (o *ownership) transferOut(ctx context.Context, key string, v *ring.View, lose []int) bool {
	gainers := map[int][]string{}
	byGainer := map[string][]int{}
	for _, p := range lose {
		o.mu.Lock()
		done := o.sent[p] == key
		o.mu.Unlock()
		if done {
			continue
		}
		cur := v.Ring.Preference(p)
		for _, g := range v.Target.Preference(p) {
			if !slices.Contains(cur, g) && g != o.n.cfg.ID {
				gainers[p] = append(gainers[p], g)
				if o.n.members.Alive(g) {
					byGainer[g] = append(byGainer[g], p)
				}
			}
		}
	}
	synced := map[int]int{}
	for _, g := range slices.Sorted(maps.Keys(byGainer)) {
		for _, p := range o.syncWith(ctx, g, byGainer[g], false) {
			synced[p]++
		}
	}
	all := true
	for _, p := range lose {
		o.mu.Lock()
		switch {
		case o.sent[p] == key:
		case synced[p] == len(gainers[p]):
			o.sent[p] = key
		default:
			all = false
		}
		o.mu.Unlock()
	}
	return all
}

// release drops the partitions of lost, which this node neither
// replicates nor gains any more. A member that loses a partition
// transfers it out before it says it is ready, and a change waits for that; what a
// joiner that was parked or removed took as a pending replica never counted
// toward a write's quorum. So nothing is pushed anywhere first: pushing a
// copy that stopped taking writes could bring back a delete the current
// replicas have reaped since.
func (o *ownership) release(lost []int) {
	for _, p := range lost {
		if err := o.drop(p); err != nil {
			o.log.Error("cannot drop a partition", "partition", p, "err", err)
			return
		}
		o.log.Info("dropped a partition this node no longer replicates", "partition", p)
	}
}

// compareRoots asks peer for the roots of parts in one call and splits
// them into the partitions already in sync with it and those that differ.
// A pull may exchange with any current replica; an outgoing transfer only
// with a peer that holds the partition (one still pulling it brings the data
// itself), so other differing partitions are left out. Without a roots
// call (a peer that has none) every partition differs.
func (o *ownership) compareRoots(ctx context.Context, peer string, parts []int, pull bool) (equal, differ []int) {
	rp, ok := o.n.peer(peer).(rootsPeer)
	if !ok {
		return nil, parts
	}
	rctx, cancel := context.WithTimeout(ctx, rootsTimeout)
	roots, err := rp.Roots(rctx, parts)
	cancel()
	if err != nil {
		o.log.Debug("cannot read a peer's roots", "peer", peer, "err", err)
		return nil, nil
	}
	for i, p := range parts {
		switch r := roots[i]; {
		case r.NotReplica:
		case r.Root == o.n.store.Trees().Root(p):
			equal = append(equal, p)
		case pull || r.Held:
			differ = append(differ, p)
		}
	}
	return equal, differ
}

// exchangeFor runs the exchanges of p with peer; a pull records its
// progress in the partition's transfer. It reports success.
func (o *ownership) exchangeFor(ctx context.Context, peer string, p int, pull bool) bool {
	if pull {
		o.update(p, func(t *Transfer) { t.State, t.Error = TransferRunning, "" })
	}
	if err := o.exchange(ctx, o.n.peer(peer), p, pull); err != nil {
		if pull {
			o.update(p, func(t *Transfer) { t.State, t.Error = TransferFailed, err.Error() })
		}
		o.log.Debug("partition sync failed; will retry", "partition", p, "peer", peer, "err", err)
		return false
	}
	return true
}

// syncWith makes this node and peer agree on each partition of parts it
// may exchange (see compareRoots), and returns the partitions now in sync.
func (o *ownership) syncWith(ctx context.Context, peer string, parts []int, pull bool) []int {
	synced, differ := o.compareRoots(ctx, peer, parts, pull)
	for _, p := range differ {
		if ctx.Err() != nil {
			break
		}
		if o.exchangeFor(ctx, peer, p, pull) {
			synced = append(synced, p)
		}
	}
	return synced
}

// exchange runs anti-entropy exchanges of p with peer until nothing is
// left to repair, throttled by the keys they move.
func (o *ownership) exchange(ctx context.Context, peer antientropy.Peer, p int, pull bool) error {
	for {
		xctx, cancel := context.WithTimeout(ctx, exchangeTimeout)
		r, err := antientropy.Exchange(xctx, antientropy.Config{}, p, o.n.store.AntiEntropy(), peer)
		cancel()
		if pull {
			o.update(p, func(t *Transfer) { t.KeysMoved += r.KeysRepaired })
		}
		if err != nil {
			return err
		}
		if r.KeysRepaired > 0 {
			if err := o.limiter.WaitN(ctx, min(r.KeysRepaired, transferKeysBurst)); err != nil {
				return err
			}
		}
		if !r.Truncated {
			return nil
		}
	}
}

func (o *ownership) transfer(p int, sources []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	t, ok := o.transfers[p]
	if !ok {
		t = &Transfer{Partition: p, State: TransferWaiting, Since: time.Now()}
		o.transfers[p] = t
	}
	t.Sources = sources
}

func (o *ownership) update(p int, fn func(*Transfer)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if t, ok := o.transfers[p]; ok {
		fn(t)
	}
}

// isEmpty reports that member id says it holds no data.
func isEmpty(doc ring.Doc, id string) bool {
	m, ok := doc.Members[id]
	return ok && m.Empty
}

// without returns a copy of nodes with self left out.
func without(nodes []string, self string) []string {
	return slices.DeleteFunc(slices.Clone(nodes), func(n string) bool { return n == self })
}

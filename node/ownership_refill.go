package node

import "github.com/quorumkv/quorumkv/ring"

// startRefill marks the partitions this node repairs after its store
// opened as a new incarnation (see refill.go): none of them is held any
// more, each is being pulled (its data stays: it is this node's own copy,
// only perhaps short of some writes), and the mark is persisted before any
// loop starts, so a restart in the middle of the refill goes on with it.
func (o *ownership) startRefill(r *ring.Ring) error {
	marks := refillMarks(r, o.n.cfg.ID, o.n.cfg.Partitions)
	count := 0
	o.mu.Lock()
	for p, m := range marks {
		if !m {
			continue
		}
		o.owned[p], o.pulling[p], o.repairing[p] = false, true, true
		count++
	}
	o.dirty = o.dirty || count > 0
	o.mu.Unlock()
	if count == 0 {
		return nil
	}
	o.log.Warn("new incarnation (wiped disk, lost WAL or unclean stop): refilling its partitions; until each is repaired, reads of it go to the other replicas",
		"partitions", count)
	return o.flush()
}

// isRepairing reports whether p is being repaired.
func (o *ownership) isRepairing(p int) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.repairing[p]
}

// RepairingPartitions counts the partitions this node replicates in the
// target ring and is still repairing.
func (n *Node) RepairingPartitions() int {
	o := n.own
	v := n.members.View()
	target := make([]bool, n.cfg.Partitions)
	for p := range target {
		target[p] = v.Target.IsReplica(p, n.cfg.ID)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return refillCount(target, o.repairing, o.owned)
}

package node

import (
	"slices"

	"github.com/quorumkv/quorumkv/coordinator"
	"github.com/quorumkv/quorumkv/ring"
)

// placement is what the coordinator and anti-entropy route by: the
// committed ring, and during a membership change also the target ring,
// whose extra replicas get writes and count as owners.
type placement struct {
	*ring.Ring
	target *ring.Ring
}

var _ coordinator.PendingPlacement = placement{}

func placementOf(v *ring.View) placement { return placement{Ring: v.Ring, target: v.Target} }

// Pending lists the target ring's replicas of p that the current ring lacks.
func (pl placement) Pending(p int) []string {
	if pl.target == pl.Ring {
		return nil
	}
	var out []string
	cur := pl.Preference(p)
	for _, n := range pl.target.Preference(p) {
		if !slices.Contains(cur, n) {
			out = append(out, n)
		}
	}
	return out
}

// Fallbacks are the sloppy-quorum substitutes for p: the current ring's
// other members in walk order, without those leaving it (a hint held by a
// node that is about to go would leave with it).
func (pl placement) Fallbacks(p int) []string {
	fb := pl.Ring.Fallbacks(p)
	if pl.target == pl.Ring {
		return fb
	}
	return slices.DeleteFunc(slices.Clone(fb), func(n string) bool { return !pl.target.Contains(n) })
}

// Owners lists every node that holds or is gaining p: the current
// replicas, then the pending ones. Tombstones are reaped only when all of
// them hold them.
func (pl placement) Owners(p int) []string {
	return append(slices.Clone(pl.Preference(p)), pl.Pending(p)...)
}

// placement returns the routing view of the ring now.
func (n *Node) placement() coordinator.Placement { return placementOf(n.members.View()) }

// forwardApplies passes writes this node took (keys) on to the nodes it
// knows are gaining their partitions: all of them when the sender's picture
// of the ring change differs from this node's (the sender may not have sent
// them there), and otherwise those of partitions this node is losing (a
// hint or a repair reaches only this node). A write this node acknowledged
// must reach every new replica before it may drop the partition.
func (n *Node) forwardApplies(v *ring.View, from string, keys [][]byte, senderDiffers bool) {
	if !v.Changing() {
		return
	}
	pl := placementOf(v)
	for _, key := range keys {
		p := pl.Partition(key)
		if !senderDiffers && (!v.Ring.IsReplica(p, n.cfg.ID) || v.Target.IsReplica(p, n.cfg.ID)) {
			continue
		}
		pending := pl.Pending(p)
		if len(pending) == 0 {
			continue
		}
		c, found, err := n.store.Get(key)
		if err != nil || !found {
			continue
		}
		for _, g := range pending {
			if g != n.cfg.ID && g != from {
				n.coord.ReplicateTo(g, key, c)
			}
		}
	}
}

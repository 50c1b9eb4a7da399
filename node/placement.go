package node

import (
	"slices"

	"github.com/quorumkv/quorumkv/coordinator"
	"github.com/quorumkv/quorumkv/ring"
)

// placement is what the coordinator routes by: the current ring, and during a
// membership change also the target ring, whose extra replicas get writes.
type placement struct {
	*ring.Ring
	target *ring.Ring
}

var _ coordinator.PendingPlacement = placement{}

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

// placement returns the routing view of the ring now.
func (n *Node) placement() coordinator.Placement {
	cur, tgt := n.members.Ring(), n.members.Target()
	if cur.Signature() == tgt.Signature() {
		tgt = cur
	}
	return placement{Ring: cur, target: tgt}
}

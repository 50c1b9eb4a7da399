package node

import (
	"context"

	"github.com/quorumkv/quorumkv/ring"

	"github.com/quorumkv/quorumkv/vclock"
)

// rerouteHint delivers the state a hint carries to its key's owners now
// (hintedhandoff.Reroute): the hint's target refused it as no longer a
// replica, because the ring changed since the write. This node applies it
// itself if it is an owner; it returns the owners that did not take it.
func (n *Node) rerouteHint(ctx context.Context, key []byte, c vclock.Clock) ([]string, error) {
	v := n.members.View()
	pl := placementOf(v)
	var missed []string
	for _, owner := range pl.Owners(pl.Partition(key)) {
		if owner == n.cfg.ID {
			if _, _, err := n.store.Apply(key, c); err != nil {
				return nil, err
			}
			continue
		}
		if err := n.peers.Apply(ctx, owner, key, c); err != nil {
			missed = append(missed, owner)
		}
	}
	return missed, nil
}

// gone reports a node that is no longer a member (it left or was removed):
// hints for it go to their keys' owners now.
func (n *Node) gone(id string) bool {
	return n.members.Doc().StateOf(id) == ring.StateRemoved
}

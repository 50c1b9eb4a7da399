package coordinator

import "github.com/quorumkv/quorumkv/vclock"

// ReplicateTo sends c (the key's whole sibling set) to node in the
// background, as a write goes to a node gaining the key's partition: it
// counts toward no quorum, and a node that does not take it gets a hint.
func (c *Coordinator) ReplicateTo(node string, key []byte, clk vclock.Clock) {
	c.replicateExtra(node, key, clk)
}

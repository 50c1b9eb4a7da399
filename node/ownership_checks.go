package node

import (
	"errors"
	"fmt"

	"github.com/quorumkv/quorumkv/coordinator"
	"github.com/quorumkv/quorumkv/replica"
	"github.com/quorumkv/quorumkv/ring"
	"github.com/quorumkv/quorumkv/vclock"
)

// A node takes a write for a partition only if, in its own view of the
// ring, it replicates the partition or is gaining it; it answers a read
// only if it replicates the partition and holds it completely. Anything
// else is refused with a typed error (never acknowledged): the sender
// counts the replica as not having answered, and learns the node's ring
// epoch.

// takesWrites reports whether this node takes writes for partition p in
// view v.
func (n *Node) takesWrites(v *ring.View, p int) bool {
	return v.Ring.IsReplica(p, n.cfg.ID) || v.Target.IsReplica(p, n.cfg.ID)
}

// readable returns nil when this node answers reads of partition p in view
// v, and the refusal otherwise.
func (n *Node) readable(v *ring.View, p int) error {
	if !v.Ring.IsReplica(p, n.cfg.ID) {
		return n.notReplica(v)
	}
	if !n.own.isOwned(p) {
		return replica.ErrNotReady
	}
	return nil
}

// removedSender reports a peer this node counts as removed from the
// cluster: its replica traffic (applies, reads, hints) is
// refused. A node cut off long enough to be removed does not know it yet,
// and what it holds may predate deletes that were reaped meanwhile; the
// refusal carries this node's epoch, so it learns.
func (n *Node) removedSender(from string) bool {
	return from != "" && from != n.cfg.ID && n.members.StateOf(from) == ring.StateRemoved
}

func (n *Node) notReplica(v *ring.View) error {
	return &replica.NotReplicaError{Node: n.cfg.ID, Epoch: v.Epoch}
}

// localReplica is this node's replica as its own coordinator reads it: a
// partition it does not hold completely is refused, as a peer would.
type localReplica struct {
	*replica.Store
	n *Node
}

// CoordinateNoSyncWait is the store's, with a full disk's refusal also
// coordinator.ErrDiskFull (the coordinator then hands the write to
// another replica, or counts this one as not acknowledging).
func (l localReplica) CoordinateNoSyncWait(key []byte, ctx vclock.VV, v vclock.Sibling) (vclock.Clock, func() error, error) {
	res, durable, err := l.Store.CoordinateNoSyncWait(key, ctx, v)
	if err != nil {
		return res, nil, asCoordinatorError(err)
	}
	return res, func() error { return asCoordinatorError(durable()) }, nil
}

// asCoordinatorError marks replica.ErrDiskFull as coordinator.ErrDiskFull.
func asCoordinatorError(err error) error {
	if errors.Is(err, replica.ErrDiskFull) {
		return fmt.Errorf("%w (%w)", coordinator.ErrDiskFull, err)
	}
	return err
}

func (l localReplica) Get(key []byte) (vclock.Clock, bool, error) {
	v := l.n.members.View()
	if err := l.n.readable(v, v.Ring.Partition(key)); err != nil {
		return vclock.Clock{}, false, err
	}
	return l.Store.Get(key)
}

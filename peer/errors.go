package peer

import (
	"errors"

	"github.com/quorumkv/quorumkv/coordinator"
	"github.com/quorumkv/quorumkv/replica"
)

// ErrQuiet says an operation was not sent because its peer is quiet (it
// has left work unanswered for Config.QuietAfter) and its queue is full.
// It comes wrapped with coordinator.ErrUnreachable: the operation did not
// run there.
var ErrQuiet = errors.New("peer is quiet: work sent to it is unanswered")

// peerNotReplica is a peer's refusal: it is not a replica of the key's
// partition at its ring epoch. It is both replica.ErrNotReplica (for hint
// replay, which sends the hint to the key's current replicas instead) and
// coordinator.ErrNotReplica (a forwarded write tries the next replica).
type peerNotReplica struct{ replica.NotReplicaError }

func (e *peerNotReplica) Unwrap() []error {
	return []error{&e.NotReplicaError, coordinator.ErrNotReplica}
}

func isNotReplica(err error) bool {
	return errors.Is(err, replica.ErrNotReplica) || errors.Is(err, coordinator.ErrNotReplica)
}

func isNotReady(err error) bool { return errors.Is(err, replica.ErrNotReady) }

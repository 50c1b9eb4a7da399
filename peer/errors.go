package peer

import (
	"errors"
	"fmt"

	"github.com/quorumkv/quorumkv/coordinator"
	"github.com/quorumkv/quorumkv/replica"
)

// ErrQuiet says an operation was not sent because its peer is quiet (it
// has left work unanswered for Config.QuietAfter) and its queue is full.
// It comes wrapped with coordinator.ErrUnreachable: the operation did not
// run there.
var ErrQuiet = errors.New("peer is quiet: work sent to it is unanswered")

// ErrNoAnswer says a message left for a peer and no answer came: its
// connection failed, or the peer's answer made no sense. Unlike
// coordinator.ErrUnreachable, the message may have run there (an accept
// may have been stored).
var ErrNoAnswer = errors.New("no answer to a message sent: it may have run there")

// noAnswer is ErrNoAnswer for a batch that was sent when its stream
// failed with err (err's chain is kept out: it may say unreachable).
func noAnswer(err error) error {
	return fmt.Errorf("%w (%v)", ErrNoAnswer, err)
}

// errNoPaxosPipe says a peer does not take Paxos messages on its pipe (it
// answered a batch of them as an empty batch of applies): nothing ran
// there, and the Paxos service takes them instead.
var errNoPaxosPipe = errors.New("peer takes no Paxos messages on its pipe")

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

// peerDiskFull is a replica's refusal of a write because its disk is full:
// both replica.ErrDiskFull and coordinator.ErrDiskFull (the write did not
// run there; a forwarded write tries the next replica).
type peerDiskFull struct{ node string }

func (e *peerDiskFull) Error() string {
	return "node " + e.node + ": disk full: it refuses writes until space is freed"
}

func (e *peerDiskFull) Unwrap() []error {
	return []error{replica.ErrDiskFull, coordinator.ErrDiskFull}
}

func isDiskFull(err error) bool {
	return errors.Is(err, replica.ErrDiskFull) || errors.Is(err, coordinator.ErrDiskFull)
}

package serial

import (
	"context"
	"errors"
	"fmt"

	"github.com/quorumkv/quorumkv/paxos"
)

// Target names one register at one acceptor: the key's partition, the
// register kind (paxos key space: 's' a Serial register, 'l' a lock), the
// key, and the ring epoch the sender holds for the partition.
type Target struct {
	Partition int
	Kind      byte
	Key       []byte
	Epoch     uint64
	// Moving names the replica set the partition moves to in the sender's
	// view ("" when it does not move): an acceptor whose view of the same
	// epoch differs refuses the message as stale.
	Moving string
}

// Acceptors sends Paxos messages to the acceptors of a register. The node's
// transport implements it (calls to the node itself go to its local
// acceptor edge).
type Acceptors interface {
	// Prepare sends one prepare at b to node and calls done exactly once
	// with its reply or an error: a transport error, or a typed refusal
	// (*NotReplicaError, ErrNotReady, *StaleEpochError, ErrDiskFull).
	Prepare(ctx context.Context, node string, t Target, b paxos.Ballot, done func(paxos.PrepareReply, error))
	// Accept sends one accept of st at b, with promise piggybacked as the
	// next promise (zero: none), to node and calls done exactly once with
	// its reply or an error, as Prepare.
	Accept(ctx context.Context, node string, t Target, b paxos.Ballot, st paxos.State, promise paxos.Ballot, done func(paxos.AcceptReply, error))
}

// Register kinds: the key space a register lives in.
const (
	KindSerial byte = 's'
	KindLock   byte = 'l'
)

// NotReplicaError: the acceptor is not a replica of the partition in its
// ring view at Epoch.
type NotReplicaError struct {
	Node  string
	Epoch uint64
}

func (e *NotReplicaError) Error() string {
	return fmt.Sprintf("serial: node %q is not a replica of the partition at ring epoch %d", e.Node, e.Epoch)
}

// StaleEpochError: the message's ring epoch is below what the acceptor
// holds for the partition (Epoch); the sender must learn the newer ring.
type StaleEpochError struct {
	Epoch uint64
}

func (e *StaleEpochError) Error() string {
	return fmt.Sprintf("serial: stale ring epoch, the acceptor holds epoch %d", e.Epoch)
}

var (
	// ErrNotReady: the acceptor's copy of the partition is being repaired
	// (refilled) and does not vote yet.
	ErrNotReady = errors.New("serial: acceptor not ready (partition repairing)")
	// ErrDiskFull: the acceptor refuses writes because its disk is full.
	ErrDiskFull = errors.New("serial: acceptor disk full")
)

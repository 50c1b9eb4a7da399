package replica

import (
	"errors"
	"fmt"
)

// ErrWrongNode is returned when a data directory belongs to another node.
var ErrWrongNode = errors.New("replica: data directory belongs to another node")

// ErrBadWrite wraps a client write that cannot be applied (a context that is
// invalid against the stored object).
var ErrBadWrite = errors.New("replica: write rejected")

// ErrClosed is returned after Close.
var ErrClosed = errors.New("replica: store is closed")

// TooManySiblingsError refuses a client write that would leave more siblings
// than the cap. Nothing was stored and no dot was minted.
type TooManySiblingsError struct {
	Siblings int
	Max      int
}

func (e *TooManySiblingsError) Error() string {
	return fmt.Sprintf("write would leave %d siblings (limit %d); read the key, resolve the siblings and write back with the context", e.Siblings, e.Max)
}

// ObjectTooLargeError refuses a client write whose result, the key's
// encoded sibling set, would be Bytes long, past the limit Max. Nothing was
// stored and no dot was minted.
type ObjectTooLargeError struct {
	Bytes int
	Max   int
}

func (e *ObjectTooLargeError) Error() string {
	return fmt.Sprintf("write would make the key's stored object %d bytes (limit %d, --max-object-size); read the key, resolve the siblings and write back with the context", e.Bytes, e.Max)
}

// ErrNotReplica is a node's refusal of an operation on a partition it
// neither replicates nor is gaining at its ring epoch: it neither takes the
// write nor answers for the data (NotReplicaError says who and at which
// epoch).
var ErrNotReplica = errors.New("not a replica of the partition")

// ErrNotReady is a node's refusal to answer a read for a partition it
// replicates but has not pulled completely yet (a joiner just admitted, a
// wiped disk being refilled): the reader asks another replica.
var ErrNotReady = errors.New("partition not pulled completely yet")

// NotReplicaError is ErrNotReplica from Node at ring epoch Epoch.
type NotReplicaError struct {
	Node  string
	Epoch uint64
}

func (e *NotReplicaError) Error() string {
	return fmt.Sprintf("node %s: %v at ring epoch %d", e.Node, ErrNotReplica, e.Epoch)
}

func (e *NotReplicaError) Unwrap() error { return ErrNotReplica }

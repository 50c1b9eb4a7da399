package coordinator

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/quorumkv/quorumkv/vclock"
)

// Defaults for Config.
const (
	DefaultReplicaTimeout = 2 * time.Second
	DefaultHedgeAfter     = 200 * time.Millisecond
	DefaultMaxKeySize     = 1 << 10
	DefaultMaxValueSize   = 1 << 20
)

// Placement answers where a key lives. *ring.Ring implements it.
type Placement interface {
	Partition(key []byte) int
	// Preference is the ordered list of the partition's primary replicas.
	Preference(p int) []string
	// Fallbacks are the other nodes, in the order sloppy quorum uses them.
	Fallbacks(p int) []string
}

// PendingPlacement is a Placement during a membership change: Pending lists
// the nodes that gain partition p and must receive its writes meanwhile.
type PendingPlacement interface {
	Pending(p int) []string
}

// Hints stores a hint for a replica that did not acknowledge a write.
type Hints interface {
	Add(target string, key []byte, c vclock.Clock) error
}

// Local is this node's own replica.
type Local interface {
	// CoordinateNoSyncWait mints the write's dot and applies the result,
	// returning before it is durable: the coordinator replicates it while
	// the fsync runs. durable waits for the fsync and is called exactly
	// once; this replica counts toward the quorum only if it returns nil.
	CoordinateNoSyncWait(key []byte, ctx vclock.VV, v vclock.Sibling) (result vclock.Clock, durable func() error, err error)
	Apply(key []byte, c vclock.Clock) (vclock.Clock, bool, error)
	Get(key []byte) (vclock.Clock, bool, error)
}

// Transport reaches other nodes' replicas. Failures to reach a node should
// wrap ErrUnreachable.
type Transport interface {
	Apply(ctx context.Context, node string, key []byte, c vclock.Clock) error
	Read(ctx context.Context, node string, key []byte) (vclock.Clock, bool, error)
	Coordinate(ctx context.Context, node string, w Write) (WriteResult, error)
	// Hint asks fallback node to hold c for target (sloppy quorum).
	Hint(ctx context.Context, node, target string, key []byte, c vclock.Clock) error
}

// AsyncApplier is an optional Transport extension: ApplyAsync sends like
// Apply but returns at once and reports the outcome to done, which must not
// block. With it the coordinator keeps no goroutine waiting per replica
// write.
type AsyncApplier interface {
	ApplyAsync(ctx context.Context, node string, key []byte, c vclock.Clock, done func(error))
}

// AsyncReader is an optional Transport extension: ReadAsync is Read
// reporting to done (which must not block) instead of waiting.
type AsyncReader interface {
	ReadAsync(ctx context.Context, node string, key []byte, done func(c vclock.Clock, found bool, err error))
}

// Liveness is the gossip view of which nodes are up. It only orders choices;
// quorum decisions rest on RPC results.
type Liveness interface {
	Alive(node string) bool
}

// Responsiveness is the transport's view of which peers answer. Quiet
// reports a peer that has left work unanswered for a while (frozen,
// thrashing, starved) and is false again from its first answer. The
// coordinator treats a quiet peer like a down one: it is asked last, a
// write the quorum can do without it gets a fallback or a hint instead of
// waiting on it, and it is no sloppy-quorum fallback. Like Liveness it
// only steers choices; quorums rest on answers.
type Responsiveness interface {
	Quiet(node string) bool
}

// Config configures a Coordinator.
type Config struct {
	NodeID string
	// Replicas is N, the cluster's replication factor.
	Replicas int
	// Placement returns the current ring; called once per request.
	Placement func() Placement
	Local     Local
	Transport Transport
	// Liveness and Responsiveness are optional.
	Liveness       Liveness
	Responsiveness Responsiveness
	// Hints is optional: nil turns hinted handoff and sloppy quorum off.
	Hints Hints
	// ReadAll makes a read ask every replica (and wait for R of them), so
	// read repair covers all of them; by default a read asks only R
	// replicas (this node first), which costs a third of the round trips
	// at R=1 and leaves the others to anti-entropy.
	ReadAll bool
	// ReplicaTimeout bounds each call to a replica, also the ones that go on
	// after the client has its answer.
	ReplicaTimeout time.Duration
	// HedgeAfter is how long a read that asked fewer replicas than there
	// are waits for their answers before it also asks the next replica
	// for each one still silent (a replica that froze after the read chose
	// it); the first sufficient answers win. Negative: never.
	HedgeAfter   time.Duration
	MaxKeySize   int
	MaxValueSize int
	Logger       *slog.Logger
}

func (c *Config) setDefaults() {
	if c.ReplicaTimeout == 0 {
		c.ReplicaTimeout = DefaultReplicaTimeout
	}
	if c.HedgeAfter == 0 {
		c.HedgeAfter = DefaultHedgeAfter
	}
	if c.MaxKeySize == 0 {
		c.MaxKeySize = DefaultMaxKeySize
	}
	if c.MaxValueSize == 0 {
		c.MaxValueSize = DefaultMaxValueSize
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.NodeID == "":
		return errors.New("coordinator: NodeID is required")
	case c.Replicas < 1:
		return errors.New("coordinator: Replicas must be at least 1")
	case c.Placement == nil || c.Local == nil || c.Transport == nil:
		return errors.New("coordinator: Placement, Local and Transport are required")
	case c.ReplicaTimeout < 0 || c.MaxKeySize < 0 || c.MaxValueSize < 0:
		return errors.New("coordinator: timeouts and limits must not be negative")
	}
	return nil
}

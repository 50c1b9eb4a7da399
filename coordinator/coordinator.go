package coordinator

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quorumkv/quorumkv/internal/deadline"
	"github.com/quorumkv/quorumkv/vclock"
)

// Coordinator runs quorum reads and writes for one node.
type Coordinator struct {
	cfg Config
	log *slog.Logger

	// bg is the parent of work that outlives a request (straggler writes,
	// read repair); Close cancels it and waits.
	bg   context.Context
	stop context.CancelFunc
	// replicaDeadlines bounds replica calls by ReplicaTimeout with contexts
	// that calls starting within one slice share (no timer per call).
	replicaDeadlines *deadline.Shared
	// hedgeDeadlines times the hedges of reads (HedgeAfter), shared alike.
	hedgeDeadlines *deadline.Shared
	wg             sync.WaitGroup
	mu             sync.Mutex
	closed         bool

	repairing sync.Map // key string -> struct{}: read repairs in flight
	// repaired counts replicas a read repair updated; repairFailed those it
	// could not.
	repaired, repairFailed atomic.Uint64
}

// ReadRepairs returns how many replica copies read repair has updated and
// how many updates failed, since the coordinator started.
func (c *Coordinator) ReadRepairs() (repaired, failed uint64) {
	return c.repaired.Load(), c.repairFailed.Load()
}

// New builds a Coordinator.
func New(cfg Config) (*Coordinator, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	bg, stop := context.WithCancel(context.Background())
	return &Coordinator{cfg: cfg, log: cfg.Logger.With("component", "coordinator"), bg: bg, stop: stop,
		replicaDeadlines: deadline.NewShared(bg, deadlineSlice(cfg.ReplicaTimeout), cfg.ReplicaTimeout),
		hedgeDeadlines:   deadline.NewShared(bg, deadlineSlice(cfg.HedgeAfter), max(cfg.HedgeAfter, 0))}, nil
}

// Close stops background work and waits for it.
func (c *Coordinator) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.stop()
	c.wg.Wait()
}

// isClosed reports Close was called.
func (c *Coordinator) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// goBackground runs fn unless the coordinator is closed.
func (c *Coordinator) goBackground(fn func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		fn()
	}()
	return true
}

// Info says who answered a request.
type Info struct {
	Coordinator  string
	Partition    int
	Required     int
	Acks         int
	FallbackAcks int
	Replicas     []string // replicas that answered, in answer order
}

// Write is a put or a delete.
type Write struct {
	Key   []byte
	Value []byte
	// Tombstone makes this a delete; Value is then the tombstone's
	// metadata (why it was written; usually empty), never a live value.
	Tombstone   bool
	Context     vclock.VV
	Consistency Consistency
}

// WriteResult is a write's outcome: the resulting sibling set (the new value
// and every sibling the context did not cover) and who acknowledged it.
type WriteResult struct {
	Clock vclock.Clock
	Info  Info
}

// ReadResult is a read's merged sibling set. Found is false when there is no
// live value (absent, or only tombstones); Clock still carries the context.
type ReadResult struct {
	Clock vclock.Clock
	Found bool
	Info  Info
}

func (c *Coordinator) checkKey(key []byte) error {
	if len(key) == 0 {
		return fmt.Errorf("%w: key is empty", ErrInvalidArgument)
	}
	if len(key) > c.cfg.MaxKeySize {
		return fmt.Errorf("%w: key is %d bytes, the limit is %d", ErrInvalidArgument, len(key), c.cfg.MaxKeySize)
	}
	return nil
}

func (c *Coordinator) checkWrite(w Write) (int, error) {
	if err := c.checkKey(w.Key); err != nil {
		return 0, err
	}
	if len(w.Value) > c.cfg.MaxValueSize {
		return 0, fmt.Errorf("%w: value is %d bytes, the limit is %d", ErrInvalidArgument, len(w.Value), c.cfg.MaxValueSize)
	}
	if err := w.Context.Validate(); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrInvalidArgument, err)
	}
	return w.Consistency.Required(c.cfg.Replicas)
}

// route is where one request's key lives, from one look at the ring.
type route struct {
	pl    Placement
	p     int
	prefs []string
}

// lookup returns the key's partition and preference list.
func (c *Coordinator) lookup(key []byte) route {
	pl := c.cfg.Placement()
	p := pl.Partition(key)
	return route{pl: pl, p: p, prefs: pl.Preference(p)}
}

// pending lists the nodes that will replicate the route's partition once a
// membership change completes; writes go to them too (not counted).
func (r route) pending() []string {
	if pp, ok := r.pl.(PendingPlacement); ok {
		return pp.Pending(r.p)
	}
	return nil
}

func (c *Coordinator) isReplica(prefs []string) bool {
	return slices.Contains(prefs, c.cfg.NodeID)
}

// replicaCtx bounds one replica call by ReplicaTimeout (up to one
// deadlineSlice more) and by Close. The context may be shared with other
// calls: cancel only frees it, it does not end the others.
func (c *Coordinator) replicaCtx() (context.Context, context.CancelFunc) {
	return c.replicaDeadlines.WithTimeout(c.cfg.ReplicaTimeout)
}

// deadlineSlice is how late a replica call's timeout may end: a tenth of
// the timeout, at most 10ms.
func deadlineSlice(timeout time.Duration) time.Duration {
	return max(time.Millisecond, min(10*time.Millisecond, timeout/10))
}

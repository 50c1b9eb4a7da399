package serial

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/quorumkv/quorumkv/internal/clock"
	"github.com/quorumkv/quorumkv/paxos"
)

// View is the node's ring as the proposer routes registers by.
type View interface {
	// Route returns the acceptor configuration of key's register now.
	Route(key []byte) (Route, error)
	// Learn notes that node answered from ring epoch epoch, newer than the
	// message's: the node catches up on the ring.
	Learn(node string, epoch uint64)
}

// Route is a register's acceptor configuration: its partition, the ring
// epoch messages carry, the acceptors (the committed ring's replicas of the
// partition, and while a change moves the partition the target's as well:
// a joint quorum), a name for the whole configuration (a fast path made
// under another is not used) and the partition's ballot floor as the node
// knows it.
type Route struct {
	Partition int
	Epoch     uint64
	// Moving names the partition's target replicas while it moves.
	Moving string
	Quorum paxos.Quorum
	Config string
	Floor  paxos.Ballot
}

// Defaults of Config.
const (
	DefaultRequestTimeout = 5 * time.Second
	DefaultRoundTimeout   = time.Second
	DefaultCacheSize      = 65536
	DefaultMaxBatch       = 128
	DefaultGiveUpRounds   = 3
	// DefaultMaxValue is the largest value a request may carry: a record
	// holds at most 1 MiB, and the rest is left to the window of recent
	// ids, the fences and the lock grant the record also carries.
	DefaultMaxValue = 1<<20 - 64<<10
	// DefaultMaxState is the largest encoded state the proposer sends in
	// an accept (acceptors refuse larger ones).
	DefaultMaxState      = 1 << 20
	DefaultRho           = 0.01
	DefaultBackoffMin    = 10 * time.Millisecond
	DefaultBackoffMax    = 100 * time.Millisecond
	DefaultMaxObserved   = 65536
	DefaultLockPollFloor = 20 * time.Millisecond
)

// Config configures a Proposer.
type Config struct {
	// NodeID names this node in its ballots.
	NodeID    string
	Acceptors Acceptors
	View      View
	// Clock is the wall clock ballots are made from (nil: the host's).
	// Skew affects only how often rounds conflict, never safety.
	Clock clock.Clock
	// Mono is the monotonic clock lock observations are measured on (nil:
	// the host's; time.Time's monotonic reading is what Sub uses).
	Mono clock.Clock
	// Rand returns a number in [0, 1) for randomised backoff (nil:
	// math/rand/v2).
	Rand   func() float64
	Logger *slog.Logger
	// Run runs a register's runner of rounds on a goroutine of its own (nil:
	// a new goroutine each time).
	Run func(task func())

	// RequestTimeout bounds a request whose context has no deadline.
	RequestTimeout time.Duration
	// RoundTimeout bounds one round: a round with answers missing past it
	// ends (NotSent or Unknown) and the next takes a fresh ballot.
	RoundTimeout time.Duration
	// Window is how many recent operation ids a register keeps.
	Window int
	// GiveUpRounds: after this many rounds in a row that no acceptor
	// refused for a greater ballot and that still failed (too few answers:
	// acceptors down or cut off), the operations are answered at once
	// instead of at their deadline.
	GiveUpRounds int
	// CacheSize bounds the fast-path entries kept (least recently used
	// first out).
	CacheSize int
	// MaxBatch bounds the operations one round decides. Of them, at most
	// Window may be changes (reads are not recorded): a round's retry
	// then finds the id of every change the round carried in the
	// register's window, whatever part of it an acceptor accepted.
	MaxBatch int
	// MaxValue bounds a request's value; MaxState an accept's encoded
	// state.
	MaxValue, MaxState int
	// Rho bounds the rate error of monotonic clocks: a contender takes a
	// lock over after seeing its grant unchanged for ttl·(1+Rho).
	Rho float64
	// BackoffMin and BackoffMax bound the longest wait before a retry after
	// a conflict; the wait adapts to the rounds' latency within them.
	BackoffMin, BackoffMax time.Duration
	// MaxObserved bounds the locks held by others whose grants the node
	// keeps watching (an evicted one is observed from scratch).
	MaxObserved int
	// LockPollFloor is the shortest gap between two polls of a lock an
	// Acquire waits for.
	LockPollFloor time.Duration
	// AcceptReads makes every read run the accept of the unchanged state.
	// Otherwise a read whose prepare quorum reports one accepted ballot
	// ends there (paxos.Round.ReadAtPrepare): one round trip and no
	// acceptor write fewer.
	AcceptReads bool
}

// setDefaults fills every unset field.
func (c *Config) setDefaults() {
	c.Clock = clock.Or(c.Clock)
	if c.Run == nil {
		c.Run = func(task func()) { go task() }
	}
	c.Mono = clock.Or(c.Mono)
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	setIfZero(&c.RequestTimeout, DefaultRequestTimeout)
	setIfZero(&c.RoundTimeout, DefaultRoundTimeout)
	setIfZero(&c.Window, paxos.DefaultWindow)
	setIfZero(&c.GiveUpRounds, DefaultGiveUpRounds)
	setIfZero(&c.CacheSize, DefaultCacheSize)
	setIfZero(&c.MaxBatch, DefaultMaxBatch)
	setIfZero(&c.MaxValue, DefaultMaxValue)
	setIfZero(&c.MaxState, DefaultMaxState)
	setIfZero(&c.Rho, DefaultRho)
	setIfZero(&c.BackoffMin, DefaultBackoffMin)
	setIfZero(&c.BackoffMax, DefaultBackoffMax)
	setIfZero(&c.MaxObserved, DefaultMaxObserved)
	setIfZero(&c.LockPollFloor, DefaultLockPollFloor)
}

func setIfZero[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

// Validate reports a config a Proposer cannot run with (after defaults).
func (c Config) Validate() error {
	switch {
	case c.NodeID == "":
		return errors.New("serial: NodeID is required")
	case c.Acceptors == nil || c.View == nil:
		return errors.New("serial: Acceptors and View are required")
	case c.RequestTimeout <= 0 || c.RoundTimeout <= 0:
		return fmt.Errorf("serial: RequestTimeout (%v) and RoundTimeout (%v) must be positive", c.RequestTimeout, c.RoundTimeout)
	case c.Window <= 0 || c.CacheSize <= 0 || c.MaxBatch <= 0 || c.MaxObserved <= 0:
		return fmt.Errorf("serial: Window (%d), CacheSize (%d), MaxBatch (%d) and MaxObserved (%d) must be positive",
			c.Window, c.CacheSize, c.MaxBatch, c.MaxObserved)
	case c.MaxValue <= 0 || c.MaxState < c.MaxValue:
		return fmt.Errorf("serial: MaxValue (%d) must be positive and at most MaxState (%d)", c.MaxValue, c.MaxState)
	case c.Rho < 0 || c.Rho >= 1:
		return fmt.Errorf("serial: Rho (%v) must be in [0, 1)", c.Rho)
	case c.BackoffMin <= 0 || c.BackoffMax < c.BackoffMin:
		return fmt.Errorf("serial: backoff bounds [%v, %v] are not an interval of positive durations", c.BackoffMin, c.BackoffMax)
	case c.LockPollFloor <= 0:
		return fmt.Errorf("serial: LockPollFloor (%v) must be positive", c.LockPollFloor)
	}
	return nil
}

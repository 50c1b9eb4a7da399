package hintedhandoff

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/quorumkv/quorumkv/internal/clock"
	"github.com/quorumkv/quorumkv/vclock"
)

// KV is the durable key space hints live in (replica.Space implements it).
type KV interface {
	Set(k, v []byte) error
	Delete(k []byte) error
	// Scan calls fn for keys in [from, to) in order; to nil means the end.
	Scan(from, to []byte, fn func(k, v []byte) error) error
}

// Sender delivers a hint to its target replica, which merges it (sync).
type Sender interface {
	Apply(ctx context.Context, node string, key []byte, c vclock.Clock) error
}

// Reroute delivers the state a hint carries to the key's owners now (its
// current replicas and the nodes gaining its partition), for a hint whose
// target refused it as no longer a replica of the key (replica.ErrNotReplica).
// It returns the owners that did not take it; the store keeps a hint for
// each of them, as old as the one it replaces.
type Reroute func(ctx context.Context, key []byte, c vclock.Clock) (missed []string, err error)

// Liveness says whether a target is worth trying.
type Liveness interface {
	Alive(node string) bool
}

// Defaults for Config.
const (
	DefaultMaxHintsPerTarget = 100_000
	DefaultMaxBytesPerTarget = 256 << 20
	DefaultWindow            = 3 * time.Hour
	DefaultRate              = 2000 // hints per second
	DefaultBatch             = 128
	DefaultInterval          = time.Second
	DefaultMinBackoff        = 200 * time.Millisecond
	DefaultMaxBackoff        = 30 * time.Second
	DefaultSendTimeout       = 5 * time.Second
)

// Config configures a Store.
type Config struct {
	KV     KV
	Sender Sender
	// Reroute is optional: without it, a hint its target refuses as not
	// a replica is retried until it expires (anti-entropy repairs).
	Reroute Reroute
	// Gone reports a target that is no longer a member of the cluster
	// (left or removed): its hints are rerouted without trying it.
	// Optional; used only with Reroute.
	Gone     func(target string) bool
	Liveness Liveness
	// Clock is the wall clock hint ages are read from (nil: the host's).
	Clock clock.Clock
	// MaxHintsPerTarget and MaxBytesPerTarget cap the hints held for one target.
	MaxHintsPerTarget int
	MaxBytesPerTarget int64
	// Window: new hints for a target whose oldest pending hint is older than
	// this are not stored.
	Window time.Duration
	// MaxAge: older hints are dropped at replay, not delivered (zero: never).
	// The node sets it to the tombstone grace period.
	MaxAge time.Duration
	// Rate limits replay (hints per second, for all targets together).
	Rate float64
	// Batch is how many hints are read per target per round.
	Batch int
	// Interval is how often Run replays.
	Interval               time.Duration
	MinBackoff, MaxBackoff time.Duration
	SendTimeout            time.Duration
	Logger                 *slog.Logger
}

func (c *Config) setDefaults() {
	c.Clock = clock.Or(c.Clock)
	if c.MaxHintsPerTarget == 0 {
		c.MaxHintsPerTarget = DefaultMaxHintsPerTarget
	}
	if c.MaxBytesPerTarget == 0 {
		c.MaxBytesPerTarget = DefaultMaxBytesPerTarget
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.Rate == 0 {
		c.Rate = DefaultRate
	}
	if c.Batch == 0 {
		c.Batch = DefaultBatch
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = DefaultMinBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.SendTimeout == 0 {
		c.SendTimeout = DefaultSendTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.KV == nil || c.Sender == nil || c.Liveness == nil:
		return errors.New("hintedhandoff: KV, Sender and Liveness are required")
	case c.MaxHintsPerTarget < 0 || c.MaxBytesPerTarget < 0 || c.Window < 0 || c.Rate < 0 || c.Batch < 0:
		return errors.New("hintedhandoff: limits must not be negative")
	case c.MinBackoff < 0 || c.MaxAge < 0:
		return errors.New("hintedhandoff: durations must not be negative")
	case c.MinBackoff > c.MaxBackoff:
		return errors.New("hintedhandoff: MinBackoff exceeds MaxBackoff")
	}
	return nil
}

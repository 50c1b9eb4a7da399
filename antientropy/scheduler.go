package antientropy

import (
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/quorumkv/quorumkv/internal/clock"
)

// Topology is the part of the ring the scheduler needs.
type Topology interface {
	// Owners lists every node that holds or is gaining partition p: its
	// current replicas and, during a membership change, the nodes pulling
	// it. Exchanges and the reaper's all-equal check cover all of them.
	Owners(p int) []string
}

// Liveness says whether a node is worth an exchange.
type Liveness interface {
	Alive(node string) bool
}

// Reaper removes tombstones on this node.
type Reaper interface {
	// ReapCandidates lists keys of p held as tombstones only since before
	// `before`, with their encoded state.
	ReapCandidates(p int, before time.Time) ([]Object, error)
	// Reap deletes each key whose stored state is exactly the object's.
	Reap(p int, objs []Object) (int, error)
}

// RemoteReaper asks another replica to reap.
type RemoteReaper interface {
	Reap(ctx context.Context, p int, objs []Object) (int, error)
}

// Defaults for SchedulerConfig.
const (
	DefaultInterval           = 5 * time.Minute
	DefaultExchangesPerSecond = 50
	DefaultTombstoneGrace     = 24 * time.Hour
	DefaultExchangeTimeout    = 30 * time.Second
)

// SchedulerConfig configures the periodic exchanges of one node.
type SchedulerConfig struct {
	NodeID string
	// Partitions is Q, the cluster's partition count.
	Partitions int
	// Topology returns the current ring.
	Topology func() Topology
	Local    Local
	// Peer returns the other replica node as an exchange peer.
	Peer     func(node string) Peer
	Liveness Liveness
	// Interval is the time between two rounds over every partition.
	Interval time.Duration
	// ExchangesPerSecond rate-limits exchanges (each starts with one root
	// comparison; equal partitions cost nothing more).
	ExchangesPerSecond float64
	Exchange           Config
	// ExchangeTimeout bounds one exchange, so a hung peer cannot stall a
	// round (0: DefaultExchangeTimeout).
	ExchangeTimeout time.Duration
	// Reaper and RemoteReaper enable tombstone reaping (nil: never reap).
	Reaper       Reaper
	RemoteReaper func(node string) RemoteReaper
	// TombstoneGrace is how long a tombstone is kept at least, after every
	// replica is known to hold it. It must exceed how long a hint or a slow
	// replica can carry an older value.
	TombstoneGrace time.Duration
	// Clock is the wall clock (tombstone ages); nil means the host's.
	Clock  clock.Clock
	Logger *slog.Logger
}

func (c *SchedulerConfig) setDefaults() {
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.ExchangesPerSecond == 0 {
		c.ExchangesPerSecond = DefaultExchangesPerSecond
	}
	if c.TombstoneGrace == 0 {
		c.TombstoneGrace = DefaultTombstoneGrace
	}
	if c.ExchangeTimeout == 0 {
		c.ExchangeTimeout = DefaultExchangeTimeout
	}
	c.Clock = clock.Or(c.Clock)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports a configuration that cannot work.
func (c *SchedulerConfig) Validate() error {
	switch {
	case c.NodeID == "" || c.Partitions < 1:
		return errors.New("antientropy: NodeID and Partitions are required")
	case c.Topology == nil || c.Local == nil || c.Peer == nil || c.Liveness == nil:
		return errors.New("antientropy: Topology, Local, Peer and Liveness are required")
	case (c.Reaper == nil) != (c.RemoteReaper == nil):
		return errors.New("antientropy: Reaper and RemoteReaper go together")
	case c.Interval < 0 || c.ExchangesPerSecond < 0 || c.TombstoneGrace < 0 || c.ExchangeTimeout < 0:
		return errors.New("antientropy: Interval, ExchangesPerSecond, TombstoneGrace and ExchangeTimeout must not be negative")
	}
	return c.Exchange.Validate()
}

// Scheduler runs this node's exchanges: every Interval a round over each
// partition it replicates, against each other replica with a greater id (so
// every pair is exchanged once per round cluster-wide), skipping peers that
// gossip reports down.
type Scheduler struct {
	cfg     SchedulerConfig
	log     *slog.Logger
	limiter *rate.Limiter

	mu    sync.Mutex
	stats Stats
}

// Stats are a node's exchange counters.
type Stats struct {
	LastExchange     time.Time
	Exchanges        uint64
	KeysRepaired     uint64
	Errors           uint64
	TombstonesReaped uint64
}

// RoundResult sums one round.
type RoundResult struct {
	PartitionsCompared int
	KeysRepaired       int
	TombstonesReaped   int
	Errors             int
	Truncated          bool
}

// NewScheduler builds a Scheduler.
func NewScheduler(cfg SchedulerConfig) (*Scheduler, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Scheduler{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "antientropy"),
		limiter: rate.NewLimiter(rate.Limit(cfg.ExchangesPerSecond), 1),
	}, nil
}

// Run runs a round every Interval until ctx ends. The first round waits a
// per-node fraction of the interval, so nodes started together stagger.
func (s *Scheduler) Run(ctx context.Context) {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s.cfg.NodeID))
	wait := time.Duration(h.Sum64() % uint64(s.cfg.Interval))
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		res, err := s.round(ctx, -1, true)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("anti-entropy round failed", "err", err)
		}
		if res.KeysRepaired > 0 || res.Errors > 0 {
			s.log.Info("anti-entropy round", "partitions", res.PartitionsCompared, "repaired", res.KeysRepaired, "errors", res.Errors)
		}
		wait = s.cfg.Interval
	}
}

// Round exchanges every partition this node replicates (or only p when
// p >= 0) with its peers, now, without the rate limit of periodic rounds
// (an operator asked for it).
func (s *Scheduler) Round(ctx context.Context, only int) (RoundResult, error) {
	return s.round(ctx, only, false)
}

func (s *Scheduler) round(ctx context.Context, only int, throttle bool) (RoundResult, error) {
	var res RoundResult
	topo := s.cfg.Topology()
	for p := range s.cfg.Partitions {
		if only >= 0 && p != only {
			continue
		}
		prefs := topo.Owners(p)
		if !slices.Contains(prefs, s.cfg.NodeID) {
			continue
		}
		if err := s.partition(ctx, p, prefs, throttle, &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

// partition exchanges p with each owner of a greater id; when this node is
// the partition's lowest id (it exchanged with every other owner, pending
// ones included) and all of them were already equal, it reaps p's old
// tombstones.
func (s *Scheduler) partition(ctx context.Context, p int, prefs []string, throttle bool, res *RoundResult) error {
	started := s.cfg.Clock.Now()
	allEqual := true
	for _, peer := range prefs {
		if peer <= s.cfg.NodeID {
			continue
		}
		if !s.cfg.Liveness.Alive(peer) {
			allEqual = false
			continue
		}
		if throttle {
			if err := s.limiter.Wait(ctx); err != nil {
				return err
			}
		}
		xctx, cancel := context.WithTimeout(ctx, s.cfg.ExchangeTimeout)
		r, err := Exchange(xctx, s.cfg.Exchange, p, s.cfg.Local, s.cfg.Peer(peer))
		cancel()
		s.record(r, err)
		res.PartitionsCompared++
		res.KeysRepaired += r.KeysRepaired
		res.Truncated = res.Truncated || r.Truncated
		if err != nil {
			res.Errors++
			allEqual = false
			s.log.Debug("exchange failed", "partition", p, "peer", peer, "err", err)
			continue
		}
		allEqual = allEqual && r.InSync
	}
	if (allEqual || reapWithoutAllReplicas) && s.cfg.Reaper != nil && slices.Min(prefs) == s.cfg.NodeID && len(prefs) > 1 {
		n, err := s.reap(ctx, p, prefs, started)
		res.TombstonesReaped += n
		if err != nil {
			res.Errors++
			s.log.Debug("reaping failed", "partition", p, "err", err)
		}
	}
	return nil
}

// reap removes tombstones that this node held before every replica was
// confirmed equal (so every replica holds them) and that are older than the
// grace period: first on the peers, then here. A peer that misses the reap
// keeps its tombstone, and the next exchange brings it back here to be
// reaped again later; data never comes back.
func (s *Scheduler) reap(ctx context.Context, p int, prefs []string, confirmed time.Time) (int, error) {
	before := confirmed
	if g := s.cfg.Clock.Now().Add(-s.cfg.TombstoneGrace); g.Before(before) {
		before = g
	}
	cands, err := s.cfg.Reaper.ReapCandidates(p, before)
	if err != nil || len(cands) == 0 {
		return 0, err
	}
	for _, peer := range prefs {
		if peer == s.cfg.NodeID {
			continue
		}
		if _, err := s.cfg.RemoteReaper(peer).Reap(ctx, p, cands); err != nil && !reapWithoutAllReplicas {
			return 0, err
		}
	}
	n, err := s.cfg.Reaper.Reap(p, cands)
	s.mu.Lock()
	s.stats.TombstonesReaped += uint64(n)
	s.mu.Unlock()
	return n, err
}

func (s *Scheduler) record(r Result, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Exchanges++
	s.stats.KeysRepaired += uint64(r.KeysRepaired)
	if err != nil {
		s.stats.Errors++
		return
	}
	s.stats.LastExchange = s.cfg.Clock.Now()
}

// Stats returns the exchange counters.
func (s *Scheduler) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

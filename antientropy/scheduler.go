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
)

// Topology is the part of the ring the scheduler needs.
type Topology interface {
	// Preference is the ordered replica list of partition p.
	Preference(p int) []string
}

// Liveness says whether a node is worth an exchange.
type Liveness interface {
	Alive(node string) bool
}

// Defaults for SchedulerConfig.
const (
	DefaultInterval           = 5 * time.Minute
	DefaultExchangesPerSecond = 50
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
	Logger             *slog.Logger
}

func (c *SchedulerConfig) setDefaults() {
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.ExchangesPerSecond == 0 {
		c.ExchangesPerSecond = DefaultExchangesPerSecond
	}
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
	case c.Interval < 0 || c.ExchangesPerSecond < 0:
		return errors.New("antientropy: Interval and ExchangesPerSecond must not be negative")
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
	// synced[p] is when p was last found equal on this node and every peer
	// it exchanges with (see SyncedSince).
	synced map[int]time.Time
}

// Stats are a node's exchange counters.
type Stats struct {
	LastExchange time.Time
	Exchanges    uint64
	KeysRepaired uint64
	Errors       uint64
}

// RoundResult sums one round.
type RoundResult struct {
	PartitionsCompared int
	KeysRepaired       int
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
		synced:  map[int]time.Time{},
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
		prefs := topo.Preference(p)
		if !slices.Contains(prefs, s.cfg.NodeID) {
			continue
		}
		started := time.Now()
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
					return res, err
				}
			}
			r, err := Exchange(ctx, s.cfg.Exchange, p, s.cfg.Local, s.cfg.Peer(peer))
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
			if !r.InSync {
				allEqual = false
			}
		}
		if allEqual {
			s.markSynced(p, started)
		}
	}
	return res, nil
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
	s.stats.LastExchange = time.Now()
}

func (s *Scheduler) markSynced(p int, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.synced[p] = at
}

// SyncedSince reports when partition p was last confirmed equal between
// this node and every peer it exchanges with (zero: never).
func (s *Scheduler) SyncedSince(p int) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.synced[p]
}

// Stats returns the exchange counters.
func (s *Scheduler) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

package hintedhandoff

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/quorumkv/quorumkv/replica"
)

// errRateLimited ends a round early when the replay budget is spent.
var errRateLimited = errors.New("replay rate limit reached")

// Run replays hints every Interval until ctx ends. Kick-free: a target that
// comes back is picked up on the next tick.
func (s *Store) Run(ctx context.Context) {
	tick := time.NewTicker(s.cfg.Interval)
	defer tick.Stop()
	for {
		s.ReplayOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// ReplayOnce runs one replay round: for every live target whose backoff has
// passed, it delivers up to Batch hints in sequence order, deleting each
// after the target acknowledges it. It returns how many were delivered.
func (s *Store) ReplayOnce(ctx context.Context) int {
	delivered := 0
	names := s.due()
	for i, name := range names {
		n, err := s.replayTarget(ctx, name)
		delivered += n
		if errors.Is(err, errRateLimited) || ctx.Err() != nil {
			for _, rest := range names[i+1:] {
				s.setIdle(rest)
			}
			break
		}
	}
	return delivered
}

// due lists targets with hints that are alive and out of backoff, and marks
// them busy.
func (s *Store) due() []string {
	now := s.cfg.Clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for name, t := range s.targets {
		if t.count == 0 || t.busy {
			continue
		}
		gone := s.gone(name)
		if !gone && !s.cfg.Liveness.Alive(name) {
			t.wasDown = true
			continue
		}
		if t.wasDown {
			// It came back: try at once, whatever the backoff said.
			t.wasDown, t.failures, t.retryAt = false, 0, time.Time{}
		}
		if now.Before(t.retryAt) {
			continue
		}
		t.busy = true
		out = append(out, name)
	}
	return out
}

func (s *Store) replayTarget(ctx context.Context, name string) (int, error) {
	defer s.setIdle(name)
	batch, err := s.read(name)
	if err != nil {
		s.log.Error("reading hints", "target", name, "err", err)
		return 0, err
	}
	delivered := 0
	// removed records that batch[i] is gone (delivered or dropped): the
	// target's oldest is now the next pending hint's creation time (after
	// the batch, refreshOldest reads it).
	removed := func(i int) {
		if i+1 < len(batch) {
			s.setOldest(name, batch[i+1].h.created)
		}
	}
	for i, b := range batch {
		if s.expired(b.h) {
			if err := s.drop(name, b); err != nil {
				return delivered, err
			}
			removed(i)
			continue
		}
		if !s.limiter.AllowN(s.cfg.Clock.Now(), 1) {
			return delivered, errRateLimited
		}
		sctx, cancel := context.WithTimeout(ctx, s.cfg.SendTimeout)
		var err error
		if s.gone(name) {
			err = s.reroute(sctx, name, b.h)
		} else {
			err = s.cfg.Sender.Apply(sctx, name, b.h.key, b.h.clock)
			if errors.Is(err, replica.ErrNotReplica) && s.cfg.Reroute != nil {
				err = s.reroute(sctx, name, b.h)
			}
		}
		cancel()
		if err != nil {
			s.failed(name, err)
			return delivered, err
		}
		if err := s.cfg.KV.Delete(hintKey(name, b.h.seq)); err != nil {
			return delivered, err
		}
		s.release(name, b.size)
		s.succeeded(name)
		delivered++
		removed(i)
	}
	s.refreshOldest(name)
	return delivered, nil
}

// gone reports a target that is no longer a member: its hints go to their
// keys' owners now, whether it is up or not.
func (s *Store) gone(name string) bool {
	return s.cfg.Reroute != nil && s.cfg.Gone != nil && s.cfg.Gone(name)
}

// reroute hands a hint its target refused as no longer a replica of the
// key to the key's owners now; for the owners that do not take it, it
// keeps hints as old as h. If this node still counts the target as an
// owner, its picture of the ring is stale: the hint waits for the next
// round.
func (s *Store) reroute(ctx context.Context, target string, h hint) error {
	missed, err := s.cfg.Reroute(ctx, h.key, h.clock)
	if err != nil {
		return err
	}
	if slices.Contains(missed, target) {
		return fmt.Errorf("%s refused a hint as not a replica, but this node still counts it as one", target)
	}
	for _, m := range missed {
		if err := s.add(m, h.key, h.clock, h.created); err != nil {
			s.log.Warn("rerouted hint not stored; anti-entropy will repair", "target", m, "err", err)
		}
	}
	s.mu.Lock()
	s.target(target).rerouted++
	s.mu.Unlock()
	return nil
}

// refreshOldest re-reads the creation time of name's oldest pending hint
// after a whole batch was delivered or dropped.
func (s *Store) refreshOldest(name string) {
	s.mu.Lock()
	pending := s.target(name).count
	s.mu.Unlock()
	if pending == 0 {
		return
	}
	from, to := targetRange(name)
	_ = s.cfg.KV.Scan(from, to, func(_, v []byte) error {
		if h, err := decodeHint(v); err == nil {
			s.setOldest(name, h.created)
		}
		return replica.ErrStopScan
	})
}

// expired reports a hint older than MaxAge: it is dropped, not delivered
// (tombstones older than that may have been reaped, and an old value must
// not come back; anti-entropy repairs the replica instead).
func (s *Store) expired(h hint) bool {
	return s.cfg.MaxAge > 0 && s.cfg.Clock.Now().Sub(h.created) > s.cfg.MaxAge
}

func (s *Store) drop(name string, b stored) error {
	if err := s.cfg.KV.Delete(hintKey(name, b.h.seq)); err != nil {
		return err
	}
	s.release(name, b.size)
	s.mu.Lock()
	s.target(name).expired++
	s.mu.Unlock()
	s.log.Warn("dropping an expired hint; anti-entropy will repair", "target", name, "key", b.h.key, "created", b.h.created)
	return nil
}

type stored struct {
	h    hint
	size int64
}

// read returns up to Batch of name's hints in sequence order.
func (s *Store) read(name string) ([]stored, error) {
	from, to := targetRange(name)
	var out []stored
	err := s.cfg.KV.Scan(from, to, func(k, v []byte) error {
		_, seq, err := parseHintKey(k)
		if err != nil {
			return err
		}
		h, err := decodeHint(v)
		if err != nil {
			return err
		}
		h.seq = seq
		out = append(out, stored{h: h, size: int64(len(v))})
		if len(out) >= s.cfg.Batch {
			return replica.ErrStopScan
		}
		return nil
	})
	return out, err
}

func (s *Store) setIdle(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.target(name).busy = false
}

// failed backs the target off exponentially.
func (s *Store) failed(name string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.target(name)
	t.failures++
	t.retryAt = s.cfg.Clock.Now().Add(backoff(s.cfg.MinBackoff, s.cfg.MaxBackoff, t.failures))
	s.log.Debug("hint delivery failed; backing off", "target", name, "failures", t.failures, "retry_at", t.retryAt, "err", err)
}

func (s *Store) succeeded(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.target(name)
	t.failures = 0
	t.retryAt = time.Time{}
	t.delivered++
}

// backoff is min·2^(failures-1), capped at max.
func backoff(minD, maxD time.Duration, failures int) time.Duration {
	d := minD
	for i := 1; i < failures && d < maxD; i++ {
		if d > maxD/2 {
			return maxD
		}
		d *= 2
	}
	return min(d, maxD)
}

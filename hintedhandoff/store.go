package hintedhandoff

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/quorumkv/quorumkv/vclock"
)

// Errors for a hint that was not stored. Callers log them; the write the
// hint belongs to is not affected.
var (
	ErrTargetFull   = errors.New("hintedhandoff: hint cap for target reached")
	ErrWindowPassed = errors.New("hintedhandoff: target down longer than the hint window")
	ErrBadTarget    = errors.New("hintedhandoff: bad target name")
)

// Store holds one node's hints.
type Store struct {
	cfg     Config
	log     *slog.Logger
	limiter *rate.Limiter

	mu      sync.Mutex
	nextSeq uint64
	targets map[string]*target
}

// target is the in-memory summary of one target's hints.
type target struct {
	count     int
	bytes     int64
	oldest    time.Time // creation time of the oldest pending hint
	dropped   uint64    // hints refused by caps or the window
	expired   uint64    // hints dropped at replay for being older than MaxAge
	rerouted  uint64    // hints the target refused as not a replica, sent to the key's owners
	delivered uint64    // hints acknowledged (by the target or, rerouted, by the key's owners) and deleted
	failures  int       // consecutive failed deliveries
	retryAt   time.Time // no replay before this (backoff)
	busy      bool      // a replay round is running for it
	wasDown   bool      // gossip called it down at the last look
}

// Stats describes the hints held for one target.
type Stats struct {
	Target  string
	Pending int
	Bytes   int64
	Oldest  time.Time
	Dropped uint64
	Expired uint64
	// Rerouted counts hints the target refused as no longer a replica,
	// sent to the key's owners instead.
	Rerouted uint64
}

// Delivered returns, per target that was ever sent one, how many hints
// were acknowledged and deleted since the store opened.
func (s *Store) Delivered() map[string]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]uint64{}
	for name, t := range s.targets {
		if t.delivered > 0 {
			out[name] = t.delivered
		}
	}
	return out
}

// Open scans the stored hints to rebuild the per-target summaries.
func Open(cfg Config) (*Store, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Store{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "hints"),
		limiter: rate.NewLimiter(rate.Limit(cfg.Rate), max(1, int(cfg.Rate/10))),
		targets: map[string]*target{},
	}
	err := cfg.KV.Scan(nil, nil, func(k, v []byte) error {
		name, seq, err := parseHintKey(k)
		if err != nil {
			return err
		}
		h, err := decodeHint(v)
		if err != nil {
			return fmt.Errorf("hint %s/%d: %w", name, seq, err)
		}
		t := s.target(name)
		if t.count == 0 || h.created.Before(t.oldest) {
			t.oldest = h.created
		}
		t.count++
		t.bytes += int64(len(v))
		s.nextSeq = max(s.nextSeq, seq+1)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// target returns the summary of name, creating it. Called with mu held (or
// before the store is shared).
func (s *Store) target(name string) *target {
	t, ok := s.targets[name]
	if !ok {
		t = &target{}
		s.targets[name] = t
	}
	return t
}

// Add durably stores a hint of c for target. It refuses (with ErrTargetFull
// or ErrWindowPassed) rather than grow past the caps.
func (s *Store) Add(targetID string, key []byte, c vclock.Clock) error {
	return s.add(targetID, key, c, s.cfg.Clock.Now())
}

// add stores a hint created at created (now, or the time of the hint it
// replaces when a hint is rerouted: its age goes on counting).
func (s *Store) add(targetID string, key []byte, c vclock.Clock, created time.Time) error {
	if targetID == "" || strings.IndexByte(targetID, 0) >= 0 {
		return fmt.Errorf("%w: %q", ErrBadTarget, targetID)
	}
	enc := encodeHint(hint{created: created, key: key, clock: c})
	seq, err := s.reserve(targetID, created, int64(len(enc)))
	if err != nil {
		return err
	}
	if err := s.cfg.KV.Set(hintKey(targetID, seq), enc); err != nil {
		s.release(targetID, int64(len(enc)))
		return err
	}
	return nil
}

// reserve checks the caps and counts a new hint before it is written.
func (s *Store) reserve(name string, now time.Time, size int64) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.target(name)
	switch {
	case t.count >= s.cfg.MaxHintsPerTarget || t.bytes+size > s.cfg.MaxBytesPerTarget:
		t.dropped++
		return 0, ErrTargetFull
	case t.count > 0 && now.Sub(t.oldest) > s.cfg.Window:
		t.dropped++
		return 0, ErrWindowPassed
	}
	if t.count == 0 || now.Before(t.oldest) {
		t.oldest = now
	}
	t.count++
	t.bytes += size
	seq := s.nextSeq
	s.nextSeq++
	return seq, nil
}

// release forgets a hint that was delivered or failed to be written.
func (s *Store) release(name string, size int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.target(name)
	t.count--
	t.bytes -= size
	if t.count <= 0 {
		t.count, t.bytes = 0, 0
		t.oldest = time.Time{}
	}
}

// setOldest records the creation time of name's oldest pending hint after
// an older one was delivered.
func (s *Store) setOldest(name string, created time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.target(name); t.count > 0 {
		t.oldest = created
	}
}

// Pending is the number of hints held for every target together.
func (s *Store) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, t := range s.targets {
		n += t.count
	}
	return n
}

// Stats lists the targets with pending or dropped hints, by target.
func (s *Store) Stats() []Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Stats
	for name, t := range s.targets {
		if t.count == 0 && t.dropped == 0 && t.expired == 0 && t.rerouted == 0 {
			continue
		}
		out = append(out, Stats{Target: name, Pending: t.count, Bytes: t.bytes, Oldest: t.oldest, Dropped: t.dropped, Expired: t.expired, Rerouted: t.rerouted})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Target < out[j].Target })
	return out
}

// Clear deletes every hint: the node joins the cluster afresh, and hints it
// took before (as coordinator or fallback) may carry values whose deletes
// were reaped while no reaper counted it.
func (s *Store) Clear() error {
	var keys [][]byte
	if err := s.cfg.KV.Scan(nil, nil, func(k, _ []byte) error {
		keys = append(keys, bytes.Clone(k))
		return nil
	}); err != nil {
		return err
	}
	for _, k := range keys {
		if err := s.cfg.KV.Delete(k); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.targets {
		t.count, t.bytes, t.oldest = 0, 0, time.Time{}
	}
	return nil
}

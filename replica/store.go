package replica

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/quorumkv/quorumkv/antientropy"
	wall "github.com/quorumkv/quorumkv/internal/clock"
	"github.com/quorumkv/quorumkv/vclock"
)

// Store is one node's local replica on Pebble.
type Store struct {
	cfg   Config
	log   *slog.Logger
	db    *pebble.DB
	wopt  *pebble.WriteOptions
	locks [lockStripes]sync.Mutex
	regs  registerState

	id    identity
	fresh bool

	// clog is the change log's state (changelog.go).
	clog changeLog

	epochMu     sync.Mutex
	epochNext   uint64
	epochLeased uint64

	clock wall.Clock

	// disk refuses writes while the disk is full (see diskWatch).
	disk *diskWatch
	// corrupt records the damaged files Pebble reported.
	corrupt *corruptions

	// trees are the anti-entropy Merkle trees of the partitions held here,
	// updated on every write and rebuilt from a scan at open.
	trees antientropy.Trees

	// keys holds every data key written here: a write to a key it has
	// never seen skips the read (see keyFilter).
	keys *keyFilter

	countMu sync.Mutex
	counts  map[int]int64 // keys per partition
	onData  func()        // called (in a goroutine) when the store stops being empty

	// life guards the DB's lifetime: operations hold it shared (enter/exit),
	// Close exclusively, so no operation runs on a closed DB.
	life   sync.RWMutex
	closed bool
}

// enter starts an operation on the DB, or fails with ErrClosed.
func (s *Store) enter() error {
	s.life.RLock()
	if s.closed {
		s.life.RUnlock()
		return ErrClosed
	}
	return nil
}

func (s *Store) exit() { s.life.RUnlock() }

// Open opens (or creates) the replica in cfg.Dir.
func Open(cfg Config) (*Store, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Store{cfg: cfg, log: cfg.Logger.With("component", "replica"), clock: cfg.Clock, keys: newKeyFilter(keyFilterFirstLayer, cfg.KeyFilterSize),
		clog: changeLog{last: map[int]uint64{}, waiters: map[int]chan struct{}{}}}
	s.corrupt = &corruptions{log: s.log}
	s.wopt = pebble.Sync
	if cfg.NoSync {
		s.wopt = pebble.NoSync
	}
	s.disk = newDiskWatch(cfg, s.log)
	db, err := pebble.Open(cfg.Dir, pebbleOptions(cfg, s.log, s.disk.eventListener(), s.disk.sawNoSpace, s.corrupt))
	if err != nil {
		if cerr := s.corruptionError(err); cerr != err {
			return nil, cerr
		}
		return nil, fmt.Errorf("replica: open %s: %w", cfg.Dir, err)
	}
	s.db = db
	if err := s.openState(); err != nil {
		_ = db.Close()
		return nil, s.corruptionError(err)
	}
	s.disk.start()
	return s, nil
}

// openState reads the node's state and rebuilds the trees from a scan of
// the data, which reads (and checksums) every data block: a damaged file
// found by it, or by a compaction meanwhile, fails the open.
func (s *Store) openState() error {
	if err := s.loadIdentity(); err != nil {
		return err
	}
	if err := s.rebuildTrees(); err != nil {
		return err
	}
	if err := s.countRegisters(); err != nil {
		return err
	}
	if f := s.corrupt.firstFile(); f != "" {
		return &CorruptionError{File: f, Dir: s.cfg.Dir, Err: errors.New("found while opening")}
	}
	return nil
}

// Fresh reports whether this open created a new incarnation (new or wiped
// storage, or an unclean stop without fsync).
func (s *Store) Fresh() bool { return s.fresh }

// Close marks a clean shutdown and closes Pebble.
func (s *Store) Close() error {
	s.life.Lock()
	defer s.life.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.disk.close()
	if s.disk.walFailed() {
		// Pebble stops the process on a commit to a failed log: no clean
		// mark, so the next start takes a new incarnation (an unclean stop).
		s.log.Error("closing without the clean mark: the write-ahead log failed for want of space")
		return s.db.Close()
	}
	err := s.db.Set(keyClean, []byte{1}, pebble.Sync)
	return errors.Join(err, s.db.Close())
}

// pebbleOptions tunes Pebble for this store: every write reads the key
// first and new keys are absent, so each level has a Bloom filter (a miss
// skips the table instead of seeking in it), and the block cache is large
// enough to keep those reads off the page cache.
//
// A damaged file is recorded by corrupt (Pebble's default handler panics).
func pebbleOptions(cfg Config, log *slog.Logger, events *pebble.EventListener, noSpace func(), corrupt *corruptions) *pebble.Options {
	events.DataCorruption = corrupt.report
	o := &pebble.Options{
		FS:                 walFS{FS: cfg.FS, noSpace: noSpace},
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             newPebbleLogger(log, cfg.LogInterval),
		EventListener:      events,
		WALMinSyncInterval: cfg.syncWindow(),
		CacheSize:          cfg.CacheSize,
		MemTableSize:       cfg.MemTableSize,
	}
	for i := range o.Levels {
		o.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	return o
}

// dataKey is key's data key (see segmentKey) and its partition.
func (s *Store) dataKey(key []byte) (dk []byte, p int) {
	p = s.cfg.Partition(key)
	return segmentKey(p, antientropy.Segment(key), key), p
}

func (s *Store) lock(key []byte) *sync.Mutex {
	return &s.locks[xxhash.Sum64(key)%lockStripes]
}

// Get returns the stored sibling set of key; found is false when none is stored.
func (s *Store) Get(key []byte) (c vclock.Clock, found bool, err error) {
	if err := s.enter(); err != nil {
		return c, false, err
	}
	defer s.exit()
	dk, _ := s.dataKey(key)
	o, err := s.read(dk)
	return o.clock, o.found, err
}

// object is a key's stored state as read: the clock and its encoding.
type object struct {
	clock vclock.Clock
	raw   []byte
	found bool
}

// leaf is the object's anti-entropy leaf hash (0 when absent).
func (o object) leaf(key []byte) uint64 { return antientropy.LeafHash(key, o.raw) }

func (s *Store) read(dk []byte) (object, error) {
	if !s.keys.mayContain(dk) {
		return object{}, nil
	}
	v, closer, err := s.db.Get(dk)
	if errors.Is(err, pebble.ErrNotFound) {
		return object{}, nil
	}
	if err != nil {
		return object{}, err
	}
	defer closer.Close()
	c, err := vclock.Unmarshal(v)
	if err != nil {
		return object{}, fmt.Errorf("replica: stored object %q: %w", dk, err)
	}
	return object{clock: c, raw: bytes.Clone(v), found: true}, nil
}

// write stores c as key's new state, durably, and records the change in
// the partition's Merkle tree. Called with the key's lock held.
func (s *Store) write(dk []byte, p int, key []byte, old object, c vclock.Clock) error {
	durable, err := s.writeNoSyncWait(dk, p, key, old, c)
	if err != nil {
		return err
	}
	return durable()
}

// writeNoSyncWait is write returning once c is applied and visible;
// durable waits for the fsync that makes it durable and must be called
// exactly once. Called with the key's lock held.
func (s *Store) writeNoSyncWait(dk []byte, p int, key []byte, old object, c vclock.Clock) (durable func() error, err error) {
	enc := c.Marshal()
	s.keys.add(dk)
	b := s.db.NewBatch()
	if err := b.Set(dk, enc, nil); err != nil {
		_ = b.Close()
		return nil, err
	}
	if err := s.indexLeaseKey(b, p, key, old); err != nil {
		_ = b.Close()
		return nil, err
	}
	if err := s.indexTombstone(b, p, key, old, c); err != nil {
		_ = b.Close()
		return nil, err
	}
	logged := []change{{p: p, key: key}}
	if s.cfg.NoSync {
		err = s.logAndApply(b, logged, func() error { return b.Commit(s.wopt) })
		_ = b.Close()
		durable = func() error { return nil }
	} else {
		err = s.logAndApply(b, logged, func() error { return s.db.ApplyNoSyncWait(b, s.wopt) })
		durable = func() error {
			defer b.Close()
			return s.disk.failed(b.SyncWait())
		}
	}
	if err != nil {
		return nil, s.disk.failed(err)
	}
	s.trees.Update(p, key, old.leaf(key), antientropy.LeafHash(key, enc))
	if !old.found {
		s.countKeys(p, 1)
	}
	return durable, nil
}

// countKeys adjusts the approximate key count of partition p.
func (s *Store) countKeys(p int, delta int64) {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	if s.counts == nil {
		s.counts = map[int]int64{}
	}
	if len(s.counts) == 0 && delta > 0 && s.onData != nil {
		go s.onData()
	}
	s.counts[p] += delta
	if s.counts[p] <= 0 {
		delete(s.counts, p)
	}
}

// PartitionKeys is the number of keys (tombstones included) stored in p.
func (s *Store) PartitionKeys(p int) int64 {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	return s.counts[p]
}

// Coordinate runs a client write on this replica, the key's coordinator: it
// discards the siblings ctx covers, adds v with a fresh dot of this replica's
// actor for the key, and persists the result before returning it. The result
// must then be replicated whole.
func (s *Store) Coordinate(key []byte, ctx vclock.VV, v vclock.Sibling) (vclock.Clock, error) {
	result, durable, err := s.CoordinateNoSyncWait(key, ctx, v)
	if err != nil {
		return vclock.Clock{}, err
	}
	if err := durable(); err != nil {
		return vclock.Clock{}, err
	}
	return result, nil
}

// CoordinateNoSyncWait is Coordinate returning as soon as the result is
// applied, before it is durable, so the coordinator can replicate it while
// the fsync runs; durable waits for the fsync and must be called exactly
// once. A dot this replica hands out may thus reach other replicas and then
// be lost here in a power failure; the next start is then unclean and takes
// a new incarnation, so the dot is never minted again.
func (s *Store) CoordinateNoSyncWait(key []byte, ctx vclock.VV, v vclock.Sibling) (result vclock.Clock, durable func() error, err error) {
	if err := s.enter(); err != nil {
		return vclock.Clock{}, nil, err
	}
	if err := s.disk.admit(); err != nil {
		s.exit()
		return vclock.Clock{}, nil, err
	}
	defer func() {
		if err != nil {
			s.exit()
		}
	}()
	result, wait, err := s.coordinateLocked(key, ctx, v)
	if err != nil {
		return vclock.Clock{}, nil, err
	}
	return result, func() error {
		defer s.exit()
		return wait()
	}, nil
}

func (s *Store) coordinateLocked(key []byte, ctx vclock.VV, v vclock.Sibling) (vclock.Clock, func() error, error) {
	mu := s.lock(key)
	mu.Lock()
	defer mu.Unlock()
	dk, p := s.dataKey(key)
	old, err := s.read(dk)
	if err != nil {
		return vclock.Clock{}, nil, err
	}
	local := old.clock
	actor, err := s.actorFor(local, old.found, ctx)
	if err != nil {
		return vclock.Clock{}, nil, err
	}
	result, err := vclock.TryPut(local, ctx, actor, v)
	if err != nil {
		return vclock.Clock{}, nil, fmt.Errorf("%w: %v", ErrBadWrite, err)
	}
	if err := s.checkSiblings(key, result.Size()); err != nil {
		return vclock.Clock{}, nil, err
	}
	if err := s.checkSize(local, result); err != nil {
		return vclock.Clock{}, nil, err
	}
	wait, err := s.writeNoSyncWait(dk, p, key, old, result)
	if err != nil {
		return vclock.Clock{}, nil, err
	}
	return result, wait, nil
}

func (s *Store) checkSiblings(key []byte, n int) error {
	if s.cfg.MaxSiblings > 0 && n > s.cfg.MaxSiblings {
		return &TooManySiblingsError{Siblings: n, Max: s.cfg.MaxSiblings}
	}
	if s.cfg.WarnSiblings > 0 && n >= s.cfg.WarnSiblings {
		s.log.Warn("key has many siblings; clients should resolve them", "key", key, "siblings", n)
	}
	return nil
}

// checkSize refuses a client write whose result would pass the object
// limits and grow the stored object: a write that shrinks an object past
// them (merges of concurrent writes can make one) is what resolves it.
func (s *Store) checkSize(local, result vclock.Clock) error {
	if n := result.EncodedSize(); s.cfg.MaxObjectBytes > 0 && n > s.cfg.MaxObjectBytes && n > local.EncodedSize() {
		return &ObjectTooLargeError{Bytes: n, Max: s.cfg.MaxObjectBytes}
	}
	if n := len(result.Entries); s.cfg.MaxClockActors > 0 && n > s.cfg.MaxClockActors && n > len(local.Entries) {
		return fmt.Errorf("%w: the result would have %d actors (limit %d)", ErrBadWrite, n, s.cfg.MaxClockActors)
	}
	return nil
}

// checkIncoming refuses a peer's clock that is invalid or has more actors
// than MaxClockActors (a forged one).
func (s *Store) checkIncoming(c vclock.Clock) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrBadWrite, err)
	}
	if s.cfg.MaxClockActors > 0 && len(c.Entries) > s.cfg.MaxClockActors {
		return fmt.Errorf("%w: clock has %d actors (limit %d)", ErrBadWrite, len(c.Entries), s.cfg.MaxClockActors)
	}
	return nil
}

// actorFor picks the actor that mints the dot of a client write
// (docs/causality.md §6.1): a fresh per-key epoch when this replica holds no
// copy of the key or shows amnesia (the context knows more of one of its actors
// than it does); otherwise the newest of its own actors already in the clock.
func (s *Store) actorFor(local vclock.Clock, found bool, ctx vclock.VV) (vclock.Actor, error) {
	if !found || s.amnesiac(local, ctx) {
		return s.newEpochActor()
	}
	best, bestEpoch, ok := vclock.Actor(""), uint64(0), false
	for _, e := range local.Entries {
		if ep, own := s.ownEpoch(e.Actor); own && (!ok || ep > bestEpoch) {
			best, bestEpoch, ok = e.Actor, ep, true
		}
	}
	if !ok {
		return s.newEpochActor()
	}
	return best, nil
}

func (s *Store) amnesiac(local vclock.Clock, ctx vclock.VV) bool {
	for _, d := range ctx {
		if _, own := s.ownEpoch(d.Actor); own && d.N > local.Counter(d.Actor) {
			return true
		}
	}
	return false
}

// Apply merges an incoming sibling set into the local copy (vclock.Sync) and
// persists the result if anything changed. It never mints a dot for a value
// and never applies the sibling cap: refusing a merge would lose data.
func (s *Store) Apply(key []byte, incoming vclock.Clock) (merged vclock.Clock, changed bool, err error) {
	if err := s.checkIncoming(incoming); err != nil {
		return vclock.Clock{}, false, err
	}
	if err := s.enter(); err != nil {
		return vclock.Clock{}, false, err
	}
	defer s.exit()
	if err := s.disk.admit(); err != nil {
		return vclock.Clock{}, false, err
	}
	mu := s.lock(key)
	mu.Lock()
	defer mu.Unlock()
	dk, p := s.dataKey(key)
	old, err := s.read(dk)
	if err != nil {
		return vclock.Clock{}, false, err
	}
	local := old.clock
	if merged, err = s.merge(old, incoming); err != nil {
		return vclock.Clock{}, false, err
	}
	if merged.Equal(local) {
		return local, false, nil
	}
	if err := s.write(dk, p, key, old, merged); err != nil {
		return vclock.Clock{}, false, err
	}
	return merged, true, nil
}

// forgotOwnDots reports that incoming holds one of this replica's own
// actors with more history than the local copy (or the copy is gone).
func (s *Store) forgotOwnDots(local vclock.Clock, found bool, incoming vclock.Clock) bool {
	for _, e := range incoming.Entries {
		if _, own := s.ownEpoch(e.Actor); own && (!found || e.N > local.Counter(e.Actor)) {
			return true
		}
	}
	return false
}

// ScanPartition calls fn for every key stored in partition p, in (segment,
// key) order.
func (s *Store) ScanPartition(p int, fn func(key []byte, c vclock.Clock) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.exit()
	lower := partitionPrefix(p)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		c, err := vclock.Unmarshal(it.Value())
		if err != nil {
			return fmt.Errorf("replica: stored object %q: %w", it.Key(), err)
		}
		key := bytes.Clone(it.Key()[dataKeyHeader:])
		if err := fn(key, c); err != nil {
			return err
		}
	}
	return it.Error()
}

func (s *Store) getState(k []byte) ([]byte, error) {
	v, closer, err := s.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return bytes.Clone(v), nil
}

// LoadDoc returns the persisted ring document (nil if none).
func (s *Store) LoadDoc() ([]byte, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.exit()
	return s.getState(keyRingDoc)
}

// SaveDoc durably stores the ring document.
func (s *Store) SaveDoc(b []byte) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.exit()
	return s.db.Set(keyRingDoc, b, pebble.Sync)
}

// pebbleLogger is Pebble's logger: its info lines go to debug, and its
// errors at most once per log interval (a background job that fails for a
// full disk retries at once, over and over), with the count held back.
type pebbleLogger struct {
	l       *slog.Logger
	mu      sync.Mutex
	limiter logLimiter
}

func newPebbleLogger(l *slog.Logger, every time.Duration) *pebbleLogger {
	return &pebbleLogger{l: l, limiter: logLimiter{every: every}}
}

func (p *pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...))
}
func (p *pebbleLogger) Errorf(format string, args ...any) {
	p.mu.Lock()
	ok, n := p.limiter.allow(time.Now())
	p.mu.Unlock()
	if ok {
		p.l.Error(fmt.Sprintf(format, args...), "suppressed", n)
	}
}
func (p *pebbleLogger) Fatalf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...))
	panic(fmt.Sprintf(format, args...))
}

package replica

import (
	"github.com/cockroachdb/pebble/v2"
	"slices"

	"github.com/cespare/xxhash/v2"

	"github.com/quorumkv/quorumkv/antientropy"
	"github.com/quorumkv/quorumkv/vclock"
)

// Item is one sibling set to merge into the replica.
type Item struct {
	Key   []byte
	Clock vclock.Clock
}

// ApplyMany merges many sibling sets (vclock.Sync, as Apply does) with one
// durable write for all of them: a peer's batched replication costs one
// fsync, not one per key. errs[i] is item i's outcome; a failed commit fails
// every changed item.
func (s *Store) ApplyMany(items []Item) (errs []error) {
	errs = make([]error, len(items))
	if err := s.enter(); err != nil {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	defer s.exit()
	if err := s.disk.admit(); err != nil {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	for _, mu := range s.lockAll(items) {
		defer mu.Unlock()
	}
	b := s.db.NewBatch()
	defer b.Close()
	var changes []change
	latest := map[string]object{} // items of one key in one batch merge in order
	var changed []int
	for i, it := range items {
		if err := s.checkIncoming(it.Clock); err != nil {
			errs[i] = err
			continue
		}
		dk, p := s.dataKey(it.Key)
		old, ok := latest[string(dk)]
		if !ok {
			var err error
			if old, err = s.read(dk); err != nil {
				errs[i] = err
				continue
			}
		}
		merged, err := s.merge(old, it.Clock)
		if err != nil {
			errs[i] = err
			continue
		}
		if merged.Equal(old.clock) {
			continue
		}
		enc := merged.Marshal()
		s.keys.add(dk)
		if err := b.Set(dk, enc, nil); err != nil {
			errs[i] = err
			continue
		}
		if err := s.indexLeaseKey(b, p, it.Key, old); err != nil {
			errs[i] = err
			continue
		}
		if err := s.indexTombstone(b, p, it.Key, old, merged); err != nil {
			errs[i] = err
			continue
		}
		latest[string(dk)] = object{clock: merged, raw: enc, found: true}
		changes = append(changes, change{p: p, key: it.Key, old: old.leaf(it.Key), new: antientropy.LeafHash(it.Key, enc), created: !old.found})
		changed = append(changed, i)
	}
	if len(changes) == 0 {
		return errs
	}
	if err := s.commitLogged(b, changes); err != nil {
		err = s.disk.failed(err)
		for _, i := range changed {
			errs[i] = err
		}
		return errs
	}
	for _, c := range changes {
		s.trees.Update(c.p, c.key, c.old, c.new)
		if c.created {
			s.countKeys(c.p, 1)
		}
	}
	return errs
}

// merge is Apply's rule: local := Sync(local, incoming), plus a fresh epoch
// entry when our own dots come back newer than our copy (amnesia, K5).
func (s *Store) merge(old object, incoming vclock.Clock) (vclock.Clock, error) {
	merged := vclock.Sync(old.clock, incoming)
	if s.forgotOwnDots(old.clock, old.found, incoming) {
		a, err := s.newEpochActor()
		if err != nil {
			return vclock.Clock{}, err
		}
		merged = vclock.Sync(merged, vclock.Clock{Entries: []vclock.Entry{{Actor: a, N: 1}}})
	}
	return merged, nil
}

// lockAll takes the lock stripes of every item's key, in stripe order (so
// two batches never deadlock), and returns them to unlock.
func (s *Store) lockAll(items []Item) []interface{ Unlock() } {
	stripes := make([]int, len(items))
	for i, it := range items {
		stripes[i] = int(xxhash.Sum64(it.Key) % lockStripes)
	}
	slices.Sort(stripes)
	stripes = slices.Compact(stripes)
	out := make([]interface{ Unlock() }, len(stripes))
	for i, st := range stripes {
		s.locks[st].Lock()
		out[i] = &s.locks[st]
	}
	return out
}

// change is one key a batch changed: its partition, its Merkle leaf before
// and after, and whether the key is new here.
type change struct {
	p        int
	key      []byte
	old, new uint64
	created  bool
}

// commitLogged logs changes in b's change log entries and commits b:
// applied under the log's lock, then synced outside it (when the store
// syncs), so writers still share fsyncs.
func (s *Store) commitLogged(b *pebble.Batch, changes []change) error {
	if s.cfg.NoSync {
		return s.logAndApply(b, changes, func() error { return b.Commit(s.wopt) })
	}
	if err := s.logAndApply(b, changes, func() error { return s.db.ApplyNoSyncWait(b, s.wopt) }); err != nil {
		return err
	}
	return b.SyncWait()
}

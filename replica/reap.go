package replica

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/quorumkv/quorumkv/antientropy"
	"github.com/quorumkv/quorumkv/lease"
	"github.com/quorumkv/quorumkv/vclock"
)

// Tombstones are indexed as t/<partition:be16>/<key> (tombKey) → the time (unix ns)
// this replica last changed the key's tombstones-only state (it became
// tombstones only, or a newer tombstones-only state replaced the held one).
// The index lets the anti-entropy reaper find old tombstones without
// scanning the data. The age restarts on every change because a newer
// tombstone may delete a value this replica never saw: the grace must run
// from that delete, or a hint still carrying the value could land after
// the reap and bring it back.

// indexTombstone keeps the tombstone index in step with a write in batch b:
// a tombstones-only state that differs from the held one (re)starts the
// tombstone age.
func (s *Store) indexTombstone(b *pebble.Batch, p int, key []byte, old object, c vclock.Clock) error {
	was := old.found && old.clock.AllTombstones()
	is := c.AllTombstones()
	switch {
	case is && !(was && old.clock.Equal(c)):
		return b.Set(tombKey(p, key), binary.BigEndian.AppendUint64(nil, uint64(s.clock.Now().UnixNano())), nil)
	case was && !is:
		return b.Delete(tombKey(p, key), nil)
	}
	return nil
}

// ReapCandidates lists the keys of partition p whose tombstones-only state
// this replica has held unchanged since before `before`, with that encoded
// state.
func (s *Store) ReapCandidates(p int, before time.Time) ([]antientropy.Object, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.exit()
	lower := tombKey(p, nil)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
	if err != nil {
		return nil, err
	}
	var keys [][]byte
	for it.First(); it.Valid(); it.Next() {
		if len(it.Value()) != 8 {
			_ = it.Close()
			return nil, fmt.Errorf("replica: corrupt tombstone index entry %q", it.Key())
		}
		since := time.Unix(0, int64(binary.BigEndian.Uint64(it.Value())))
		if since.Before(before) {
			keys = append(keys, bytes.Clone(it.Key()[len(lower):]))
		}
	}
	if err := errorsJoinClose(it); err != nil {
		return nil, err
	}
	out := make([]antientropy.Object, 0, len(keys))
	for _, k := range keys {
		dk, _ := s.dataKey(k)
		o, err := s.read(dk)
		if err != nil {
			return nil, err
		}
		if o.found && o.clock.AllTombstones() {
			out = append(out, antientropy.Object{Key: k, Clock: o.raw})
		}
	}
	return out, nil
}

// Reap deletes each object's key if this replica still holds exactly that
// state (tombstones only, byte for byte): the anti-entropy reaper has
// established that every replica holds it and the grace period has passed.
// It returns how many keys it deleted.
func (s *Store) Reap(p int, objs []antientropy.Object) (int, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.exit()
	n := 0
	for _, o := range objs {
		ok, err := s.reapOne(p, o)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

func (s *Store) reapOne(p int, obj antientropy.Object) (bool, error) {
	mu := s.lock(obj.Key)
	mu.Lock()
	defer mu.Unlock()
	dk, kp := s.dataKey(obj.Key)
	if kp != p {
		return false, fmt.Errorf("replica: key %q is in partition %d, not %d", obj.Key, kp, p)
	}
	old, err := s.read(dk)
	if err != nil || !old.found || !bytes.Equal(old.raw, obj.Clock) || !old.clock.AllTombstones() {
		return false, err
	}
	b := s.db.NewBatch()
	defer b.Close()
	if err := b.Delete(dk, nil); err != nil {
		return false, err
	}
	if err := b.Delete(tombKey(p, obj.Key), nil); err != nil {
		return false, err
	}
	if lease.IsLeaseKey(obj.Key) {
		if err := b.Delete(leaseIndexKey(p, obj.Key), nil); err != nil {
			return false, err
		}
	}
	if err := b.Commit(s.wopt); err != nil {
		return false, err
	}
	if s.cfg.OnChange != nil {
		s.cfg.OnChange(obj.Key)
	}
	s.trees.Update(p, obj.Key, old.leaf(obj.Key), 0)
	s.countKeys(p, -1)
	return true, nil
}

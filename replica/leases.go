package replica

import (
	"bytes"

	"github.com/cockroachdb/pebble/v2"

	"github.com/quorumkv/quorumkv/antientropy"
	"github.com/quorumkv/quorumkv/lease"
	"github.com/quorumkv/quorumkv/vclock"
)

// Lease keys (package lease: records and attachments) are indexed as
// l/<partition:be16>/<key> (leaseIndexKey), so the node finds the leases
// it holds without scanning the data. An entry is written with the key's
// first state and deleted with the key (reap, partition drop).

// indexLeaseKey adds key to the lease index in batch b when it is a lease
// key this replica did not hold.
func (s *Store) indexLeaseKey(b *pebble.Batch, p int, key []byte, old object) error {
	if old.found || !lease.IsLeaseKey(key) {
		return nil
	}
	return b.Set(leaseIndexKey(p, key), nil, nil)
}

// ScanLeaseKeys calls fn for every lease key of partition p this replica
// holds whose key starts with prefix, with its stored state, in key order.
func (s *Store) ScanLeaseKeys(p int, prefix []byte, fn func(key []byte, c vclock.Clock) error) error {
	return s.ScanLeaseIndex(p, prefix, func(key []byte) error {
		obj, err := s.read(segmentKey(p, antientropy.Segment(key), key))
		if err != nil || !obj.found {
			return err // not found: reaped between the index and the data
		}
		return fn(key, obj.clock)
	})
}

// ScanLeaseIndex calls fn with every lease key of partition p this replica
// holds whose key starts with prefix, in key order, without reading the
// keys' states.
func (s *Store) ScanLeaseIndex(p int, prefix []byte, fn func(key []byte) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.exit()
	head := len(leaseIndexKey(p, nil))
	lower := leaseIndexKey(p, prefix)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		if err := fn(bytes.Clone(it.Key()[head:])); err != nil {
			return err
		}
	}
	return it.Error()
}

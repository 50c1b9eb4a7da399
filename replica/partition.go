package replica

import (
	"github.com/cockroachdb/pebble/v2"
)

// PartitionBytes estimates the bytes partition p occupies on disk (data
// still in memtables is not counted).
func (s *Store) PartitionBytes(p int) (uint64, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.exit()
	lower := partitionPrefix(p)
	return s.db.EstimateDiskUsage(lower, prefixEnd(lower))
}

// DropPartition deletes every key of partition p (data, tombstone index,
// registers and their floors)
// and resets its Merkle tree: the node no longer replicates p and the new
// owners hold it. It holds every key lock meanwhile, so a write racing it
// lands wholly before (and is dropped, tree leaf and count included) or
// wholly after (and is kept): the tree always matches the data.
func (s *Store) DropPartition(p int) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.exit()
	for i := range s.locks {
		s.locks[i].Lock()
	}
	defer func() {
		for i := range s.locks {
			s.locks[i].Unlock()
		}
	}()
	b := s.db.NewBatch()
	defer b.Close()
	held := s.lockAllRegisters()
	defer held()
	for _, lower := range [][]byte{partitionPrefix(p), tombKey(p, nil), leaseIndexKey(p, nil), registerPrefix(p)} {
		if err := b.DeleteRange(lower, prefixEnd(lower), nil); err != nil {
			return err
		}
	}
	for _, k := range [][]byte{floorKey(p), paxosEpochKey(p)} {
		if err := b.Delete(k, nil); err != nil {
			return err
		}
	}
	s.clog.mu.Lock()
	defer s.clog.mu.Unlock()
	if err := s.dropLog(b, p); err != nil {
		return err
	}
	// The partition's cached registers go whether or not the batch
	// commits: the next step reads whatever is stored.
	s.dropCachedRegisters(p)
	if err := b.Commit(s.wopt); err != nil {
		return err
	}
	s.trees.Reset(p)
	s.regs.mu.Lock()
	delete(s.regs.floors, p)
	delete(s.regs.epochs, p)
	s.regs.mu.Unlock()
	s.countMu.Lock()
	delete(s.counts, p)
	s.countMu.Unlock()
	return nil
}

// HasPartition reports whether any key of p is stored.
func (s *Store) HasPartition(p int) (bool, error) {
	if err := s.enter(); err != nil {
		return false, err
	}
	defer s.exit()
	lower := partitionPrefix(p)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
	if err != nil {
		return false, err
	}
	found := it.First()
	return found, errorsJoinClose(it)
}

// OnData registers fn, called in a goroutine whenever the store goes from
// holding no key to holding one.
func (s *Store) OnData(fn func()) {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	s.onData = fn
}

// Empty reports that no partition holds a key (tombstones count as keys).
func (s *Store) Empty() bool {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	return len(s.counts) == 0
}

package replica

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/quorumkv/quorumkv/antientropy"
)

// rebuildTrees computes every partition's Merkle tree, and fills the key
// filter, from one scan of the data (at open, before the store serves
// anything).
func (s *Store) rebuildTrees() error {
	lower := []byte(dataPrefix)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		if len(k) < dataKeyHeader {
			return fmt.Errorf("replica: malformed data key %q", k)
		}
		p := dataKeyPartition(k)
		key := k[dataKeyHeader:]
		s.keys.add(k)
		s.trees.Update(p, key, 0, antientropy.LeafHash(key, it.Value()))
		s.countKeys(p, 1)
	}
	return it.Error()
}

// Trees are the anti-entropy trees of this replica.
func (s *Store) Trees() *antientropy.Trees { return &s.trees }

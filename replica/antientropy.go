package replica

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"

	"github.com/quorumkv/quorumkv/antientropy"
	"github.com/quorumkv/quorumkv/vclock"
)

// AntiEntropy is this replica's side of an anti-entropy exchange
// (antientropy.Local). The same methods serve a peer's requests.
type AntiEntropy struct{ s *Store }

// AntiEntropy returns the replica's anti-entropy side.
func (s *Store) AntiEntropy() AntiEntropy { return AntiEntropy{s: s} }

var _ antientropy.Local = AntiEntropy{}

func (a AntiEntropy) Root(_ context.Context, p int) (uint64, error) {
	return a.s.trees.Root(p), nil
}

func (a AntiEntropy) Branches(_ context.Context, p int) ([antientropy.Branches]uint64, error) {
	return a.s.trees.Branches(p), nil
}

func (a AntiEntropy) Segments(_ context.Context, p int, branches []int) ([][antientropy.SegmentsPerBranch]uint64, error) {
	return a.s.trees.Segments(p, branches)
}

// Keys lists the keys of the given segments with their leaf hashes, computed
// from the stored data, in antientropy.CompareKeys order.
func (a AntiEntropy) Keys(_ context.Context, p int, segments []int) ([]antientropy.KeyHash, error) {
	if err := a.s.enter(); err != nil {
		return nil, err
	}
	defer a.s.exit()
	segs := slices.Clone(segments)
	slices.Sort(segs)
	var out []antientropy.KeyHash
	for _, seg := range slices.Compact(segs) {
		if seg < 0 || seg >= antientropy.Segments {
			return nil, fmt.Errorf("replica: segment %d out of range", seg)
		}
		lower := segmentKey(p, seg, nil)
		it, err := a.s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
		if err != nil {
			return nil, err
		}
		for it.First(); it.Valid(); it.Next() {
			key := it.Key()[dataKeyHeader:]
			out = append(out, antientropy.KeyHash{Key: bytes.Clone(key), Hash: antientropy.LeafHash(key, it.Value())})
		}
		if err := errorsJoinClose(it); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func errorsJoinClose(it *pebble.Iterator) error {
	err := it.Error()
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	return err
}

// Fetch returns the stored states of the first keys (nil Clock when absent)
// that fit antientropy.DefaultRepairBytes, at least one (Replica.Fetch).
func (a AntiEntropy) Fetch(ctx context.Context, p int, keys [][]byte) ([]antientropy.Object, error) {
	return a.FetchUpTo(ctx, p, keys, antientropy.DefaultRepairBytes)
}

// FetchUpTo is Fetch answering the first keys whose states fit maxBytes
// (by antientropy.ObjectSize), at least one; maxBytes <= 0 means every key.
func (a AntiEntropy) FetchUpTo(_ context.Context, p int, keys [][]byte, maxBytes int) ([]antientropy.Object, error) {
	if err := a.s.enter(); err != nil {
		return nil, err
	}
	defer a.s.exit()
	return antientropy.FetchBounded(keys, maxBytes, func(k []byte) ([]byte, error) {
		dk, kp := a.s.dataKey(k)
		if kp != p {
			return nil, fmt.Errorf("replica: key %q is in partition %d, not %d", k, kp, p)
		}
		o, err := a.s.read(dk)
		return o.raw, err
	})
}

// Apply merges each object into the local copy (vclock.Sync): the repair
// side of an exchange. It never mints dots for values and never applies the
// sibling cap.
func (a AntiEntropy) Apply(_ context.Context, p int, objs []antientropy.Object) error {
	items := make([]Item, 0, len(objs))
	for _, o := range objs {
		if o.Clock == nil {
			continue
		}
		if kp := a.s.cfg.Partition(o.Key); kp != p {
			return fmt.Errorf("replica: key %q is in partition %d, not %d", o.Key, kp, p)
		}
		c, err := vclock.Unmarshal(o.Clock)
		if err != nil {
			return fmt.Errorf("replica: object for %q: %w", o.Key, err)
		}
		items = append(items, Item{Key: o.Key, Clock: c})
	}
	// One durable write for the batch, not one per key: a transfer moves
	// thousands of keys.
	for _, err := range a.s.ApplyMany(items) {
		if err != nil {
			return err
		}
	}
	return nil
}

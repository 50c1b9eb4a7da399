package antientropy

import (
	"bytes"
	"fmt"
	"slices"
)

// splitListing checks a Keys answer for the ascending segments segs
// (strictly increasing in CompareKeys order, every key in one of segs, no
// zero hash) and splits it by segment: runs[i] holds the keys of segs[i].
// It hashes every key once.
func splitListing(ks []KeyHash, segs []int) ([][]KeyHash, error) {
	runs := make([][]KeyHash, len(segs))
	i, start, cur := -1, 0, -1 // current run: segs[i] == cur, from ks[start]
	for k, kh := range ks {
		if kh.Hash == 0 {
			return nil, fmt.Errorf("key %q has a zero hash", kh.Key)
		}
		s := Segment(kh.Key)
		if s == cur {
			if bytes.Compare(ks[k-1].Key, kh.Key) >= 0 {
				return nil, fmt.Errorf("key %q out of order or duplicated", kh.Key)
			}
			continue
		}
		j, ok := slices.BinarySearch(segs[i+1:], s)
		if !ok {
			return nil, fmt.Errorf("key %q (segment %d) not in the requested segments or out of order", kh.Key, s)
		}
		if i >= 0 {
			runs[i] = ks[start:k]
		}
		i, start, cur = i+1+j, k, s
	}
	if i >= 0 {
		runs[i] = ks[start:]
	}
	return runs, nil
}

func xorHashes(ks []KeyHash) uint64 {
	var x uint64
	for _, kh := range ks {
		x ^= kh.Hash
	}
	return x
}

// checkFetched checks that a Fetch answer matches a prefix, not empty, of
// the keys asked.
func checkFetched(objs []Object, keys [][]byte) error {
	if len(objs) > len(keys) || len(objs) == 0 && len(keys) > 0 {
		return fmt.Errorf("%d objects for %d keys", len(objs), len(keys))
	}
	for i, o := range objs {
		if !bytes.Equal(o.Key, keys[i]) {
			return fmt.Errorf("object %d is key %q, asked %q", i, o.Key, keys[i])
		}
	}
	return nil
}

// repairsFor pairs the two sides' states of the same keys: the local
// states to push to the peer, the peer's states to apply locally, and the
// number of keys that still differ (equal states need no repair).
func repairsFor(local, peer []Object) (push, apply []Object, n int) {
	for i := range local {
		l, r := local[i], peer[i]
		if bytes.Equal(l.Clock, r.Clock) {
			continue
		}
		n++
		if len(l.Clock) > 0 {
			push = append(push, l)
		}
		if len(r.Clock) > 0 {
			apply = append(apply, r)
		}
	}
	return push, apply, n
}

func sortedCopy(s []int) []int {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

package antientropy

import (
	"bytes"
	"cmp"
	"slices"
)

// KeyHash is one key of a segment listing and its leaf hash.
type KeyHash struct {
	Key  []byte
	Hash uint64
}

// CompareKeys is the order of key listings: by segment, then bytewise by
// key — the order of a range scan of d/<partition>/<segment>/<key> over
// ascending segments.
func CompareKeys(a, b []byte) int {
	if c := cmp.Compare(Segment(a), Segment(b)); c != 0 {
		return c
	}
	return bytes.Compare(a, b)
}

// SortKeyHashes sorts ks into the order of CompareKeys.
func SortKeyHashes(ks []KeyHash) {
	slices.SortFunc(ks, func(a, b KeyHash) int { return CompareKeys(a.Key, b.Key) })
}

// DiffBranches returns the branches whose hashes differ, ascending.
func DiffBranches(a, b [Branches]uint64) []int {
	var out []int
	for i := range a {
		if a[i] != b[i] {
			out = append(out, i)
		}
	}
	return out
}

// DiffSegments returns the segments (0 ≤ s < Segments, ascending if
// branches is) whose hashes differ, where a[i] and b[i] hold the segment
// hashes of branches[i] on the two sides. It panics if the lengths differ.
func DiffSegments(branches []int, a, b [][SegmentsPerBranch]uint64) []int {
	if len(a) != len(branches) || len(b) != len(branches) {
		panic("antientropy: DiffSegments: length mismatch")
	}
	var out []int
	for i, br := range branches {
		for j := range SegmentsPerBranch {
			if a[i][j] != b[i][j] {
				out = append(out, br*SegmentsPerBranch+j)
			}
		}
	}
	return out
}

// DiffKeys returns the keys, in CompareKeys order, that are on one side
// only or whose hashes differ. Both listings must be sorted by CompareKeys
// without duplicates. The result aliases the inputs' key bytes.
func DiffKeys(local, remote []KeyHash) [][]byte {
	var out [][]byte
	l, r := segmentRuns(local), segmentRuns(remote)
	for len(l) > 0 || len(r) > 0 {
		switch {
		case len(r) == 0 || len(l) > 0 && l[0].seg < r[0].seg:
			out = diffRun(l[0].keys, nil, out)
			l = l[1:]
		case len(l) == 0 || r[0].seg < l[0].seg:
			out = diffRun(nil, r[0].keys, out)
			r = r[1:]
		default:
			out = diffRun(l[0].keys, r[0].keys, out)
			l, r = l[1:], r[1:]
		}
	}
	return out
}

// run is the part of a listing in one segment.
type run struct {
	seg  int
	keys []KeyHash
}

// segmentRuns splits a CompareKeys-sorted listing into runs by segment.
func segmentRuns(ks []KeyHash) []run {
	var runs []run
	for k, kh := range ks {
		s := Segment(kh.Key)
		if len(runs) == 0 || runs[len(runs)-1].seg != s {
			runs = append(runs, run{seg: s, keys: ks[k:k]})
		}
		last := &runs[len(runs)-1]
		last.keys = last.keys[:len(last.keys)+1]
	}
	return runs
}

// diffRun appends the differing keys of two bytewise-sorted listings of
// one segment to out.
func diffRun(a, b []KeyHash, out [][]byte) [][]byte {
	for len(a) > 0 && len(b) > 0 {
		switch c := bytes.Compare(a[0].Key, b[0].Key); {
		case c < 0:
			out, a = append(out, a[0].Key), a[1:]
		case c > 0:
			out, b = append(out, b[0].Key), b[1:]
		default:
			if a[0].Hash != b[0].Hash {
				out = append(out, a[0].Key)
			}
			a, b = a[1:], b[1:]
		}
	}
	for _, kh := range a {
		out = append(out, kh.Key)
	}
	for _, kh := range b {
		out = append(out, kh.Key)
	}
	return out
}

package antientropy

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cespare/xxhash/v2"
)

// Tree shape. A partition's keys fall into Segments segments; Branches
// branches each cover SegmentsPerBranch consecutive segments.
const (
	Segments          = 1024
	Branches          = 32
	SegmentsPerBranch = Segments / Branches
)

// Segment returns the segment (0 ≤ s < Segments) of key within its
// partition: bits 40–49 of xxhash64(key). The partition is xxhash64(key)
// mod Q, which for a power-of-two Q ≤ 65536 uses only the low 16 bits, so
// the two are independent and a partition's keys spread evenly over its
// segments.
//
// Contract: the replica stores a key under d/<partition:be16>/<Segment(key):
// be16>/<key> (or any layout where one segment of one partition is one
// contiguous range ordered by key), so that listing the keys of a segment
// is a single range scan. Changing this function changes the on-disk
// layout and the wire protocol: never change it in place.
func Segment(key []byte) int {
	return int((xxhash.Sum64(key) >> 40) % Segments)
}

// BranchOf returns the branch that covers segment s.
func BranchOf(s int) int { return s / SegmentsPerBranch }

// LeafHash is a key's contribution to its partition's tree: xxhash64 of
// uvarint(len(key)) ‖ key ‖ encodedClock, where encodedClock must be the
// canonical encoding of the stored clock (vclock.Clock.Marshal) so that
// equal clocks hash equally on every replica. An absent key (nil or empty
// encodedClock) contributes 0; a present key never hashes to 0.
func LeafHash(key, encodedClock []byte) uint64 {
	if len(encodedClock) == 0 {
		return 0
	}
	var n [binary.MaxVarintLen64]byte
	var d xxhash.Digest
	d.Reset()
	_, _ = d.Write(n[:binary.PutUvarint(n[:], uint64(len(key)))])
	_, _ = d.Write(key)
	_, _ = d.Write(encodedClock)
	if h := d.Sum64(); h != 0 {
		return h
	}
	return 1
}

// Tree is one partition's Merkle tree. Every level is the XOR of the level
// below: a segment hash is the XOR of the leaf hashes of its keys, a branch
// hash the XOR of its segments, the root the XOR of all segments. Two
// replicas holding the same keys with the same clocks therefore have equal
// trees, and (with high probability) only they do, whatever the order of
// their writes. The zero value is the empty tree. A Tree is not safe for
// concurrent use; [Trees] is.
type Tree struct {
	segments [Segments]uint64
	branches [Branches]uint64
	root     uint64
}

// Update records that key's leaf hash changed from oldLeaf to newLeaf
// (either may be 0: insert, delete). It is O(1): XOR out the old leaf and
// XOR in the new one on the key's segment, branch and root.
func (t *Tree) Update(key []byte, oldLeaf, newLeaf uint64) {
	t.updateSegment(Segment(key), oldLeaf^newLeaf)
}

func (t *Tree) updateSegment(s int, delta uint64) {
	t.segments[s] ^= delta
	t.branches[BranchOf(s)] ^= delta
	t.root ^= delta
}

// Root returns the root hash; 0 for an empty tree.
func (t *Tree) Root() uint64 { return t.root }

// BranchHashes returns the branch hashes.
func (t *Tree) BranchHashes() [Branches]uint64 { return t.branches }

// SegmentHashes returns the hashes of the segments of branch b
// (segments b*SegmentsPerBranch ...). It panics if b is out of range.
func (t *Tree) SegmentHashes(b int) [SegmentsPerBranch]uint64 {
	return [SegmentsPerBranch]uint64(t.segments[b*SegmentsPerBranch : (b+1)*SegmentsPerBranch])
}

// Clone returns a copy of t.
func (t *Tree) Clone() *Tree {
	c := *t
	return &c
}

// Equal reports whether t and u have the same segment hashes (hence the
// same branches and root).
func (t *Tree) Equal(u *Tree) bool { return t.segments == u.segments }

const treeFormatV1 = 0x31

// treeLen is the encoded length: format byte and the segment hashes.
const treeLen = 1 + 8*Segments

// ErrCorruptTree is returned (wrapped) by Tree.UnmarshalBinary.
var ErrCorruptTree = errors.New("antientropy: corrupt tree")

// MarshalBinary encodes the tree (a format byte and the big-endian segment
// hashes; branches and root are derived), for persisting it across a clean
// restart. It never fails.
func (t *Tree) MarshalBinary() ([]byte, error) {
	b := make([]byte, 1, treeLen)
	b[0] = treeFormatV1
	for _, h := range t.segments {
		b = binary.BigEndian.AppendUint64(b, h)
	}
	return b, nil
}

// UnmarshalBinary replaces t with a tree encoded by MarshalBinary.
func (t *Tree) UnmarshalBinary(b []byte) error {
	if len(b) != treeLen || b[0] != treeFormatV1 {
		return fmt.Errorf("%w: %d bytes, format %#x", ErrCorruptTree, len(b), firstByte(b))
	}
	*t = Tree{}
	for s := range Segments {
		t.updateSegment(s, binary.BigEndian.Uint64(b[1+8*s:]))
	}
	return nil
}

func firstByte(b []byte) byte {
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

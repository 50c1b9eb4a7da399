package replica

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/quorumkv/quorumkv/vclock"
)

// TestObjectByteCap: a client write that would make the stored object pass
// MaxObjectBytes is refused with ObjectTooLargeError and stores nothing; a
// write that resolves siblings is taken, even one that leaves an object
// (made too large by a merge) still above the cap; merges are never refused.
func TestObjectByteCap(t *testing.T) {
	cfg := memConfig(vfs.NewMem())
	cfg.MaxObjectBytes = 10 << 10
	s := mustOpen(t, cfg)
	v := func(b byte) vclock.Sibling { return vclock.Sibling{Value: bytes.Repeat([]byte{b}, 3<<10)} }
	for i := range 3 {
		mustCoordinate(t, s, "k", nil, v(byte('a'+i)))
	}
	before, _, _ := s.Get([]byte("k"))
	var tl *ObjectTooLargeError
	if _, err := s.Coordinate([]byte("k"), nil, v('d')); !errors.As(err, &tl) || tl.Max != 10<<10 || tl.Bytes <= 10<<10 {
		t.Fatalf("4th 3 KiB sibling: %v, want ObjectTooLargeError", err)
	}
	if after, _, _ := s.Get([]byte("k")); !after.Equal(before) {
		t.Fatal("a refused write changed the object")
	}
	// A merge past the cap is taken.
	var vals []string
	for i := range 5 {
		vals = append(vals, string(bytes.Repeat([]byte{byte('0' + i)}, 3<<10)))
	}
	merged, _ := mustApply(t, s, "k", clock(entry("other#1", 5, vals...)))
	if merged.EncodedSize() <= 10<<10 {
		t.Fatalf("merged object is %d bytes, want past the cap", merged.EncodedSize())
	}
	// A write that resolves part of it is taken though still past the cap.
	partial := merged.Bounded(10 << 10)
	r := mustCoordinate(t, s, "k", partial.Context(), vclock.Sibling{Value: []byte("resolved")})
	if r.EncodedSize() >= merged.EncodedSize() {
		t.Fatal("the resolving write did not shrink the object")
	}
	// A blind write that grows it is not.
	if _, err := s.Coordinate([]byte("k"), nil, v('e')); !errors.As(err, &tl) {
		t.Fatalf("growing an object past the cap: %v", err)
	}
}

// TestClockActorBound: a peer's clock with more actors than MaxClockActors
// is a bad write (single and batched apply); a client write whose result
// would pass it is refused too.
func TestClockActorBound(t *testing.T) {
	cfg := memConfig(vfs.NewMem())
	cfg.MaxClockActors = 5
	s := mustOpen(t, cfg)
	var es []vclock.Entry
	for i := range 6 {
		es = append(es, vclock.Entry{Actor: vclock.Actor(fmt.Sprintf("x#%d", i)), N: 1, Values: []vclock.Sibling{{Value: []byte("v")}}})
	}
	forged := vclock.Clock{Entries: es}
	if _, _, err := s.Apply([]byte("k"), forged); !errors.Is(err, ErrBadWrite) {
		t.Fatalf("Apply of a 6-actor clock: %v, want ErrBadWrite", err)
	}
	if errs := s.ApplyMany([]Item{{Key: []byte("k"), Clock: forged}}); !errors.Is(errs[0], ErrBadWrite) {
		t.Fatalf("ApplyMany of a 6-actor clock: %v, want ErrBadWrite", errs[0])
	}
	if _, found, _ := s.Get([]byte("k")); found {
		t.Fatal("a refused clock was stored")
	}
	if _, err := s.Coordinate([]byte("k"), forged.Context(), vclock.Sibling{Value: []byte("v")}); !errors.Is(err, ErrBadWrite) {
		t.Fatalf("a write with a 6-actor context: %v, want ErrBadWrite", err)
	}
	mustApply(t, s, "k", vclock.Clock{Entries: es[:5]})
}

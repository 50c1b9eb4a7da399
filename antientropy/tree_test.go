package antientropy

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cespare/xxhash/v2"
)

func TestSegmentRangeAndSpread(t *testing.T) {
	const q, n = 1024, 200_000
	// Keys of one partition (Q a power of two) must still spread over all
	// segments: Segment is independent from the partition function.
	var counts [Segments]int
	inPartition := 0
	for i := range n {
		key := fmt.Appendf(nil, "key-%d", i)
		s := Segment(key)
		if s < 0 || s >= Segments {
			t.Fatalf("Segment(%q) = %d out of range", key, s)
		}
		if xxhash.Sum64(key)%q == 3 {
			counts[s]++
			inPartition++
		}
	}
	used, maxc := 0, 0
	for _, c := range counts {
		if c > 0 {
			used++
		}
		maxc = max(maxc, c)
	}
	// ~195 keys over 1024 segments: expect ~170 distinct segments, no pile-up.
	if used < inPartition*8/10 || maxc > 4 {
		t.Errorf("%d keys of one partition use %d segments (max %d per segment): not independent", inPartition, used, maxc)
	}
}

func TestLeafHash(t *testing.T) {
	if LeafHash([]byte("k"), nil) != 0 || LeafHash([]byte("k"), []byte{}) != 0 {
		t.Error("absent key must hash to 0")
	}
	if LeafHash([]byte("ab"), []byte("c")) == LeafHash([]byte("a"), []byte("bc")) {
		t.Error("key/clock boundary is not part of the hash")
	}
	if LeafHash([]byte("k"), []byte("v")) != LeafHash([]byte("k"), []byte("v")) {
		t.Error("not deterministic")
	}
	if LeafHash(nil, []byte{0x11, 0}) == 0 {
		t.Error("present key hashed to 0")
	}
}

func TestTreeUpdateAndLevels(t *testing.T) {
	var tr Tree
	if tr.Root() != 0 {
		t.Fatal("zero tree has a root")
	}
	k1, k2 := []byte("alpha"), []byte("beta")
	h1, h2 := LeafHash(k1, []byte("1")), LeafHash(k2, []byte("2"))
	tr.Update(k1, 0, h1)
	tr.Update(k2, 0, h2)
	if tr.Root() != h1^h2 {
		t.Fatalf("root %x, want %x", tr.Root(), h1^h2)
	}
	checkLevels(t, &tr)
	c := tr.Clone()
	tr.Update(k1, h1, 0)
	tr.Update(k2, h2, 0)
	if tr.Root() != 0 || tr.Equal(&Tree{}) == false {
		t.Fatal("deleting every key must give the empty tree")
	}
	if c.Root() != h1^h2 {
		t.Fatal("Clone aliases the original")
	}
}

// checkLevels verifies branch = XOR of segments, root = XOR of branches.
func checkLevels(t *testing.T, tr *Tree) {
	t.Helper()
	br := tr.BranchHashes()
	var root uint64
	for b := range Branches {
		var x uint64
		for _, h := range tr.SegmentHashes(b) {
			x ^= h
		}
		if x != br[b] {
			t.Fatalf("branch %d = %x, XOR of its segments %x", b, br[b], x)
		}
		root ^= x
	}
	if root != tr.Root() {
		t.Fatalf("root %x, XOR of branches %x", tr.Root(), root)
	}
}

func TestTreeMarshal(t *testing.T) {
	var tr Tree
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		tr.Update(fmt.Appendf(nil, "k%d", i), 0, r.Uint64())
	}
	b, _ := tr.MarshalBinary()
	var got Tree
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if got != tr {
		t.Fatal("round trip changed the tree")
	}
	for _, bad := range [][]byte{nil, b[:len(b)-1], append([]byte{0x32}, b[1:]...)} {
		if err := got.UnmarshalBinary(bad); !errors.Is(err, ErrCorruptTree) {
			t.Errorf("UnmarshalBinary(%d bytes) = %v, want ErrCorruptTree", len(bad), err)
		}
	}
}

func TestTreesBasics(t *testing.T) {
	var ts Trees
	if ts.Root(5) != 0 || ts.Branches(5) != [Branches]uint64{} {
		t.Fatal("unknown partition must have the empty tree")
	}
	k := []byte("k")
	ts.Update(5, k, 0, 42)
	ts.Update(6, k, 0, 43)
	if ts.Root(5) != 42 || ts.Root(6) != 43 {
		t.Fatal("partitions are not separate")
	}
	b := BranchOf(Segment(k))
	hs, err := ts.Segments(5, []int{b, (b + 1) % Branches})
	if err != nil || hs[0][Segment(k)%SegmentsPerBranch] != 42 || hs[1] != [SegmentsPerBranch]uint64{} {
		t.Fatalf("Segments = %v, %v", hs, err)
	}
	for _, bad := range [][]int{{-1}, {Branches}} {
		if _, err := ts.Segments(5, bad); err == nil {
			t.Errorf("Segments(%v) accepted", bad)
		}
	}
	if got := ts.Partitions(); fmt.Sprint(got) != "[5 6]" {
		t.Fatalf("Partitions = %v", got)
	}
	snap := ts.Snapshot(5)
	ts.Reset(5)
	if ts.Root(5) != 0 || fmt.Sprint(ts.Partitions()) != "[6]" {
		t.Fatal("Reset kept the tree")
	}
	ts.Load(5, snap)
	if ts.Root(5) != 42 {
		t.Fatal("Load did not install the tree")
	}
}

func TestRebuildAbort(t *testing.T) {
	var ts Trees
	ts.Update(1, []byte("a"), 0, 7)
	scanErr := errors.New("scan failed")
	if err := ts.Rebuild(1, func(func([]byte, uint64)) error { return scanErr }); err != scanErr {
		t.Fatalf("Rebuild = %v", err)
	}
	if ts.Root(1) != 7 {
		t.Fatal("failed rebuild replaced the tree")
	}
	old := ts.BeginRebuild(1)
	newer := ts.BeginRebuild(1)
	if err := old.Commit(); !errors.Is(err, ErrRebuildAborted) {
		t.Fatalf("superseded Commit = %v", err)
	}
	ts.Reset(1)
	if err := newer.Commit(); !errors.Is(err, ErrRebuildAborted) {
		t.Fatalf("Commit after Reset = %v", err)
	}
	rb := ts.BeginRebuild(1)
	rb.Add([]byte("b"), 9)
	if err := rb.Commit(); err != nil || ts.Root(1) != 9 {
		t.Fatalf("Commit = %v, root %d", err, ts.Root(1))
	}
	if err := rb.Commit(); !errors.Is(err, ErrRebuildAborted) {
		t.Fatal("second Commit accepted")
	}
	rb.Abort() // no effect after Commit
	if ts.Root(1) != 9 {
		t.Fatal("Abort after Commit changed the tree")
	}
}

// TestRebuildWithConcurrentWrites rebuilds while writers run, using the
// gate pattern documented on BeginRebuild; the result must equal a tree
// built from the final data.
func TestRebuildWithConcurrentWrites(t *testing.T) {
	const p, writers, keys, writes = 3, 2, 300, 20_000
	var (
		ts   Trees
		gate sync.RWMutex // the replica's per-partition gate
		data sync.Map     // key → leaf: the "storage"
		wg   sync.WaitGroup
	)
	keyName := func(i int) []byte { return fmt.Appendf(nil, "key-%d", i) }
	write := func(r *rand.Rand, w int) {
		i := w + writers*r.IntN(keys/writers) // each writer owns its keys: per-key order
		k := keyName(i)
		var leaf uint64
		if r.IntN(4) > 0 {
			leaf = r.Uint64() | 1
		}
		gate.RLock()
		old, _ := data.Load(i)
		oldLeaf, _ := old.(uint64)
		data.Store(i, leaf)
		ts.Update(p, k, oldLeaf, leaf)
		gate.RUnlock()
	}
	var running atomic.Int32
	running.Store(writers)
	for w := range writers {
		wg.Go(func() {
			defer running.Add(-1)
			r := rand.New(rand.NewPCG(uint64(w), 9))
			for range writes {
				write(r, w)
			}
		})
	}
	for n := 0; n < 3 || running.Load() > 0; n++ { // rebuild while writers run
		gate.Lock()
		snap := map[int]uint64{}
		data.Range(func(k, v any) bool { snap[k.(int)] = v.(uint64); return true })
		rb := ts.BeginRebuild(p)
		gate.Unlock()
		for i, leaf := range snap {
			rb.Add(keyName(i), leaf)
		}
		if err := rb.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	var want Tree
	data.Range(func(k, v any) bool { want.Update(keyName(k.(int)), 0, v.(uint64)); return true })
	if got := ts.Snapshot(p); !got.Equal(&want) {
		t.Fatalf("rebuilt tree root %x, want %x", got.Root(), want.Root())
	}
}

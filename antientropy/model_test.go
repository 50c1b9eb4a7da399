package antientropy

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// side is one replica in the naive model: key → clock bytes, with its
// incrementally maintained Trees.
type side struct {
	data  map[string][]byte
	trees Trees
}

const modelP = 7

func (s *side) set(key string, enc []byte) {
	old := LeafHash([]byte(key), s.data[key])
	if enc == nil {
		delete(s.data, key)
	} else {
		s.data[key] = enc
	}
	s.trees.Update(modelP, []byte(key), old, LeafHash([]byte(key), enc))
}

// fromScratch builds the tree of s.data without the incremental path.
func (s *side) fromScratch() *Tree {
	var t Tree
	for k, v := range s.data {
		t.Update([]byte(k), 0, LeafHash([]byte(k), v))
	}
	return &t
}

// listing returns s's keys in the given segments (nil = all) as a Keys answer.
func (s *side) listing(segs []int) []KeyHash {
	var out []KeyHash
	for k, v := range s.data {
		if segs == nil || slices.Contains(segs, Segment([]byte(k))) {
			out = append(out, KeyHash{Key: []byte(k), Hash: LeafHash([]byte(k), v)})
		}
	}
	SortKeyHashes(out)
	return out
}

// modelDiff is the naive answer: keys whose presence or bytes differ.
func modelDiff(a, b *side) []string {
	var out []string
	for k, v := range a.data {
		if w, ok := b.data[k]; !ok || string(v) != string(w) {
			out = append(out, k)
		}
	}
	for k := range b.data {
		if _, ok := a.data[k]; !ok {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(x, y string) int { return CompareKeys([]byte(x), []byte(y)) })
	return out
}

func randomOp(r *rand.Rand, a, b *side, keys int) {
	key := fmt.Sprintf("k%d", r.IntN(keys))
	// A small value alphabet, so equal values arise independently too.
	val := func() []byte { return fmt.Appendf(nil, "v%d", r.IntN(4)) }
	switch r.IntN(6) {
	case 0:
		a.set(key, val())
	case 1:
		b.set(key, val())
	case 2:
		a.set(key, nil)
	case 3:
		b.set(key, nil)
	case 4: // replicate a → b
		b.set(key, a.data[key])
	case 5: // replicate b → a
		a.set(key, b.data[key])
	}
}

// descend runs the exchange's descent purely: branches, segments, keys.
func descend(a, b *side) [][]byte {
	br := DiffBranches(a.trees.Branches(modelP), b.trees.Branches(modelP))
	sa, _ := a.trees.Segments(modelP, br)
	sb, _ := b.trees.Segments(modelP, br)
	segs := DiffSegments(br, sa, sb)
	if len(segs) == 0 {
		return nil
	}
	return DiffKeys(a.listing(segs), b.listing(segs))
}

// splitDiff is the exchange's key diff: both full listings checked and
// split by segment, then diffed segment by segment.
func splitDiff(t *testing.T, a, b *side) [][]byte {
	t.Helper()
	segs := make([]int, Segments)
	for i := range segs {
		segs[i] = i
	}
	ra, err1 := splitListing(a.listing(nil), segs)
	rb, err2 := splitListing(b.listing(nil), segs)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	var out [][]byte
	for i := range segs {
		out = diffRun(ra[i], rb[i], out)
	}
	return out
}

func strs(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}

func TestTreesAgainstModel(t *testing.T) {
	for seed := range uint64(30) {
		r := rand.New(rand.NewPCG(seed, 0xAE))
		keys := 20 + r.IntN(400)
		a := &side{data: map[string][]byte{}}
		b := &side{data: map[string][]byte{}}
		for step := range 40 {
			for range r.IntN(60) {
				randomOp(r, a, b, keys)
			}
			if step == 39 { // end equal: replicate everything a → b
				for k := range b.data {
					b.set(k, a.data[k])
				}
				for k, v := range a.data {
					b.set(k, v)
				}
			}
			checkModel(t, fmt.Sprintf("seed %d step %d", seed, step), a, b)
		}
	}
}

func checkModel(t *testing.T, name string, a, b *side) {
	t.Helper()
	for i, s := range []*side{a, b} {
		got := s.trees.Snapshot(modelP)
		if !got.Equal(s.fromScratch()) {
			t.Fatalf("%s: side %d: incremental tree differs from the tree rebuilt from scratch", name, i)
		}
		checkLevels(t, got)
	}
	want := modelDiff(a, b)
	if eq := a.trees.Root(modelP) == b.trees.Root(modelP); eq != (len(want) == 0) {
		t.Fatalf("%s: roots equal = %v, but %d keys differ", name, eq, len(want))
	}
	if got := strs(DiffKeys(a.listing(nil), b.listing(nil))); !slices.Equal(got, want) {
		t.Fatalf("%s: DiffKeys = %v, want %v", name, got, want)
	}
	if got := strs(descend(a, b)); !slices.Equal(got, want) {
		t.Fatalf("%s: descent finds %v, want %v", name, got, want)
	}
	if got := strs(splitDiff(t, a, b)); !slices.Equal(got, want) {
		t.Fatalf("%s: per-segment diff finds %v, want %v", name, got, want)
	}
}

func TestDiffKeysTable(t *testing.T) {
	kh := func(k string, h uint64) KeyHash { return KeyHash{Key: []byte(k), Hash: h} }
	sorted := func(ks ...KeyHash) []KeyHash { SortKeyHashes(ks); return ks }
	cases := []struct {
		name          string
		local, remote []KeyHash
		want          []string
	}{
		{"both empty", nil, nil, nil},
		{"local only", sorted(kh("a", 1), kh("b", 2)), nil, []string{"a", "b"}},
		{"remote only", nil, sorted(kh("a", 1)), []string{"a"}},
		{"equal", sorted(kh("a", 1), kh("b", 2)), sorted(kh("a", 1), kh("b", 2)), nil},
		{"hash differs", sorted(kh("a", 1), kh("b", 2)), sorted(kh("a", 1), kh("b", 3)), []string{"b"}},
		{"interleaved", sorted(kh("a", 1), kh("c", 3)), sorted(kh("b", 2), kh("c", 3)), nil},
	}
	cases[5].want = []string{"a", "b"}
	for _, c := range cases {
		want := strs(sortedKeys(c.want...)) // CompareKeys order
		if got := strs(DiffKeys(c.local, c.remote)); !slices.Equal(got, want) {
			t.Errorf("%s: DiffKeys = %v, want %v", c.name, got, want)
		}
	}
}

func sortedKeys(ks ...string) [][]byte {
	out := make([][]byte, len(ks))
	for i, k := range ks {
		out[i] = []byte(k)
	}
	slices.SortFunc(out, CompareKeys)
	return out
}

func TestDiffBranchesAndSegments(t *testing.T) {
	var a, b [Branches]uint64
	a[3], b[3] = 1, 2
	a[31] = 5
	if got := DiffBranches(a, b); !slices.Equal(got, []int{3, 31}) {
		t.Fatalf("DiffBranches = %v", got)
	}
	sa := make([][SegmentsPerBranch]uint64, 2)
	sb := make([][SegmentsPerBranch]uint64, 2)
	sa[0][0], sb[1][31] = 1, 1
	if got := DiffSegments([]int{3, 31}, sa, sb); !slices.Equal(got, []int{96, 1023}) {
		t.Fatalf("DiffSegments = %v", got)
	}
}

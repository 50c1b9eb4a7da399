package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 42)) }

// counts draws n keys from c.
func counts(c KeyChooser, r *rand.Rand, n int) map[int64]int {
	m := map[int64]int{}
	for range n {
		m[c.Next(r)]++
	}
	return m
}

func TestZipfianMatchesTheory(t *testing.T) {
	const items, draws = 1000, 400_000
	z := newZipfian(items, ZipfianTheta)
	got := counts(z, newRand(1), draws)
	zetan := zeta(0, items, ZipfianTheta, 0)
	p := func(rank int64) float64 { return 1 / math.Pow(float64(rank+1), ZipfianTheta) / zetan }
	// Ranks 0 and 1 are exact in Gray's algorithm; the rest approximate.
	for rank := range int64(2) {
		freq := float64(got[rank]) / draws
		if rel := math.Abs(freq-p(rank)) / p(rank); rel > 0.03 {
			t.Errorf("rank %d: frequency %.4f, theory %.4f", rank, freq, p(rank))
		}
	}
	// The head of the distribution: the 100 most popular items.
	var head, theory float64
	for rank := range int64(100) {
		head += float64(got[rank]) / draws
		theory += p(rank)
	}
	if math.Abs(head-theory) > 0.03 {
		t.Errorf("top 100 items: %.3f of draws, theory %.3f", head, theory)
	}
	for k := range got {
		if k < 0 || k >= items {
			t.Fatalf("key %d out of range", k)
		}
	}
}

func TestScrambledZipfianSkew(t *testing.T) {
	const n, draws = 1000, 400_000
	got := counts(NewScrambledZipfian(n), newRand(2), draws)
	type kc struct {
		k int64
		c int
	}
	var byCount []kc
	for k, c := range got {
		if k < 0 || k >= n {
			t.Fatalf("key %d out of range", k)
		}
		byCount = append(byCount, kc{k, c})
	}
	slices.SortFunc(byCount, func(a, b kc) int { return b.c - a.c })
	// The hottest key is zipfian rank 0 hashed into the key space, with
	// probability 1/zeta(10^10, 0.99) (plus a sliver of the tail that hashes
	// onto it); the next is rank 1 at half that.
	if want := int64(fnv64(0) % n); byCount[0].k != want {
		t.Errorf("hottest key %d, want fnv(0)%%n = %d", byCount[0].k, want)
	}
	if want := int64(fnv64(1) % n); byCount[1].k != want {
		t.Errorf("second key %d, want fnv(1)%%n = %d", byCount[1].k, want)
	}
	p0 := 1 / scrambledZetan
	if f := float64(byCount[0].c) / draws; f < p0 || f > p0*1.15 {
		t.Errorf("hottest key: frequency %.4f, theory %.4f", f, p0)
	}
	p1 := math.Pow(0.5, ZipfianTheta) / scrambledZetan
	if f := float64(byCount[1].c) / draws; f < p1*0.95 || f > p1*1.25 {
		t.Errorf("second key: frequency %.4f, theory %.4f", f, p1)
	}
	// Far from uniform: the hottest key gets ~38x its uniform share.
	if ratio := float64(byCount[0].c) / (draws / n); ratio < 30 {
		t.Errorf("hottest key only %.1fx its uniform share", ratio)
	}
}

func TestLatestFavoursRecentKeys(t *testing.T) {
	const records, draws = 1000, 200_000
	ks := newKeySpace(records, records)
	c, err := newKeyChooser(DistLatest, ks)
	if err != nil {
		t.Fatal(err)
	}
	r := newRand(3)
	got := counts(c, r, draws)
	newest := int64(records - 1)
	var recent int
	for k, n := range got {
		if k < 0 || k > newest {
			t.Fatalf("key %d never inserted", k)
		}
		if k >= records*9/10 {
			recent += n
		}
		if n > got[newest] {
			t.Errorf("key %d drawn %d times, more than the newest key (%d)", k, n, got[newest])
		}
	}
	if f := float64(recent) / draws; f < 0.6 {
		t.Errorf("the newest 10%% of keys got %.2f of reads, want most", f)
	}

	// Insert 100 keys, out of order: reads follow the newest finished insert.
	for k := int64(records); k < records+100; k++ {
		if got := ks.nextInsert(); got != k {
			t.Fatalf("insert key %d, want %d", got, k)
		}
	}
	for k := int64(records + 99); k >= records; k-- {
		ks.acked.ack(k)
	}
	if last := ks.acked.last(); last != records+99 {
		t.Fatalf("last acknowledged %d, want %d", last, records+99)
	}
	got = counts(c, r, draws)
	best := int64(-1)
	for k, n := range got {
		if best < 0 || n > got[best] {
			best = k
		}
	}
	if best != records+99 {
		t.Errorf("after inserts the hottest key is %d, want %d", best, records+99)
	}
}

func TestAckCounterOutOfOrder(t *testing.T) {
	ks := newKeySpace(10, 10)
	for range 3 {
		ks.nextInsert() // 10, 11, 12
	}
	ks.acked.ack(12)
	ks.acked.ack(11)
	if got := ks.acked.last(); got != 9 {
		t.Fatalf("last %d before key 10 finished, want 9", got)
	}
	ks.acked.ack(10)
	if got := ks.acked.last(); got != 12 {
		t.Fatalf("last %d, want 12", got)
	}
}

func TestUniformAndSequential(t *testing.T) {
	const n = 50
	ks := newKeySpace(n, n)
	seq, _ := newKeyChooser(DistSequential, ks)
	for i := range int64(2 * n) {
		if got := seq.Next(nil); got != i%n {
			t.Fatalf("sequential draw %d = %d, want %d", i, got, i%n)
		}
	}
	uni, _ := newKeyChooser(DistUniform, ks)
	got := counts(uni, newRand(4), 100_000)
	if len(got) != n {
		t.Fatalf("uniform hit %d keys, want %d", len(got), n)
	}
	for k, c := range got {
		if c < 1600 || c > 2400 {
			t.Errorf("uniform key %d drawn %d times, want ~2000", k, c)
		}
	}
	if _, err := newKeyChooser("pareto", ks); err == nil {
		t.Error("unknown distribution accepted")
	}
}

func TestKeyStreamsAreDeterministic(t *testing.T) {
	for _, dist := range []string{DistUniform, DistZipfian, DistLatest} {
		draw := func() []int64 {
			c, _ := newKeyChooser(dist, newKeySpace(10_000, 10_000))
			r := newRand(7)
			out := make([]int64, 1000)
			for i := range out {
				out[i] = c.Next(r)
			}
			return out
		}
		if a, b := draw(), draw(); !slices.Equal(a, b) {
			t.Errorf("%s: two streams with one seed differ", dist)
		}
	}
	v1 := newValueGen(ValueSize{10, 20}, newRand(9))
	v2 := newValueGen(ValueSize{10, 20}, newRand(9))
	r1, r2 := newRand(10), newRand(10)
	for range 100 {
		a, b := v1.next(r1), v2.next(r2)
		if string(a) != string(b) {
			t.Fatal("two value streams with one seed differ")
		}
		if len(a) < 10 || len(a) > 20 {
			t.Fatalf("value of %d bytes, want 10-20", len(a))
		}
	}
}

func TestKeyName(t *testing.T) {
	if got := string(keyName("bench/", 42)); got != "bench/000000000042" {
		t.Errorf("keyName = %q", got)
	}
	if got := string(keyName("", 1234567890123)); got != "1234567890123" {
		t.Errorf("keyName of a 13-digit number = %q", got)
	}
}

package antientropy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
)

const testP = 11

// baseEntries returns n keys with small real vclock encodings (shared).
func baseEntries(n int) []entry {
	encs := [][]byte{clk(dot("a", 1)), clk(dot("a", 2), dot("b", 1)), clk(dot("b", 3))}
	out := make([]entry, n)
	for i := range out {
		out[i] = newEntry(fmt.Appendf(nil, "key-%07d", i), encs[i%len(encs)])
	}
	return out
}

// pair returns two equal fakes holding n keys.
func pair(n int) (a, b *fake) {
	a = newFake(testP, baseEntries(n))
	return a, cloneFake(a)
}

// diverge makes d keys differ between a and b, spread over the key space
// of n keys and cycling through the kinds of divergence: a newer on a,
// concurrent writes on both, present on a only, present on b only.
func diverge(a, b *fake, n, d int) {
	for i := range d {
		k := fmt.Appendf(nil, "key-%07d", i*(n/d))
		switch i % 4 {
		case 0:
			a.set(k, syncEnc(a.get(k), clk(dot("x", 5))))
		case 1:
			a.set(k, syncEnc(a.get(k), clk(dot("y", 2))))
			b.set(k, syncEnc(b.get(k), clk(dot("z", 1))))
		case 2:
			b.set(k, nil)
		case 3:
			b.set(fmt.Appendf(nil, "new-%d", i), clk(dot("w", 1)))
		}
	}
}

// merged is the expected state of both sides after full repair.
func merged(a, b *fake) map[string]string {
	want := a.contents()
	for k, v := range b.contents() {
		var av []byte
		if s, ok := want[k]; ok {
			av = []byte(s)
		}
		want[k] = string(syncEnc(av, []byte(v)))
	}
	return want
}

func countDiff(a, b *fake) int {
	n := 0
	ac, bc := a.contents(), b.contents()
	for k, v := range ac {
		if w, ok := bc[k]; !ok || v != w {
			n++
		}
	}
	for k := range bc {
		if _, ok := ac[k]; !ok {
			n++
		}
	}
	return n
}

func assertConverged(t *testing.T, a, b *fake, want map[string]string) {
	t.Helper()
	for name, f := range map[string]*fake{"local": a, "peer": b} {
		if got := f.contents(); !maps.Equal(got, want) {
			t.Fatalf("%s: %d keys, want %d; %d differ from the merge", name, len(got), len(want), countDiff(a, b))
		}
		tree := f.trees.Snapshot(testP)
		f.rebuild()
		if !tree.Equal(f.trees.Snapshot(testP)) {
			t.Fatalf("%s: incremental tree differs from the rebuilt tree", name)
		}
	}
	if a.trees.Root(testP) != b.trees.Root(testP) {
		t.Fatal("roots differ after convergence")
	}
}

func runExchange(t *testing.T, cfg Config, a, b *fake) Result {
	t.Helper()
	res, err := Exchange(context.Background(), cfg, testP, a, b)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// assertOneRootCall checks that an exchange of equal partitions calls
// Root once on each side and nothing else.
func assertOneRootCall(t *testing.T, cfg Config, a, b *fake) {
	t.Helper()
	a.calls, b.calls = calls{}, calls{}
	res := runExchange(t, cfg, a, b)
	if res != (Result{InSync: true, RootsCompared: 1}) {
		t.Fatalf("exchange of equal partitions: %+v", res)
	}
	for name, c := range map[string]calls{"local": a.calls, "peer": b.calls} {
		if c != (calls{Root: 1}) {
			t.Fatalf("%s answered %+v, want exactly one Root call", name, c)
		}
	}
}

func TestExchangeEqualIsOneRootComparison(t *testing.T) {
	a, b := pair(5000)
	assertOneRootCall(t, Config{}, a, b)
	e1, e2 := newFake(testP, nil), newFake(testP, nil)
	assertOneRootCall(t, Config{}, e1, e2)
}

func TestExchangeRepairsBothWays(t *testing.T) {
	for _, d := range []int{1, 2, 3, 4, 17, 100, 1000} {
		t.Run(fmt.Sprint("d=", d), func(t *testing.T) {
			a, b := pair(20_000)
			diverge(a, b, 20_000, d)
			if got := countDiff(a, b); got != d {
				t.Fatalf("setup: %d keys differ, want %d", got, d)
			}
			want := merged(a, b)
			res := runExchange(t, Config{}, a, b)
			if res.KeysRepaired != d || res.KeysDiffering != d || res.Truncated || res.InSync {
				t.Fatalf("result %+v, want %d repaired, not truncated", res, d)
			}
			if res.StaleLocal+res.StalePeer != 0 {
				t.Fatalf("stale segments reported: %+v", res)
			}
			assertConverged(t, a, b, want)
			assertOneRootCall(t, Config{}, a, b)
		})
	}
}

func TestExchangeTruncatedConverges(t *testing.T) {
	cases := []struct{ d, bound, batch, perCall int }{
		{25, 10, 0, 0},
		{25, 10, 3, 1},
		{100, 7, 2, 5},
		{64, 64, 10, 2},
		{65, 64, 0, 0},
		{1000, 999, 0, 0},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("d=%d,bound=%d,batch=%d,perCall=%d", c.d, c.bound, c.batch, c.perCall), func(t *testing.T) {
			a, b := pair(10_000)
			diverge(a, b, 10_000, c.d)
			want := merged(a, b)
			cfg := Config{MaxRepairsPerExchange: c.bound, RepairBatch: c.batch, SegmentsPerCall: c.perCall}
			rounds := (c.d + c.bound - 1) / c.bound
			for i := range rounds {
				res := runExchange(t, cfg, a, b)
				left := c.d - i*c.bound
				if res.KeysRepaired != min(left, c.bound) || res.Truncated != (left > c.bound) {
					t.Fatalf("round %d: %+v, %d keys left before it", i+1, res, left)
				}
			}
			assertConverged(t, a, b, want)
			assertOneRootCall(t, cfg, a, b)
		})
	}
}

func TestExchangeCostScalesWithDivergence(t *testing.T) {
	const n, d = 100_000, 10
	a, b := pair(n)
	diverge(a, b, n, d)
	// What must be listed: the peer's keys in the segments holding a
	// differing key, and nothing else.
	segs := map[int]bool{}
	for k := range merged(a, b) {
		if a.get([]byte(k)) == nil || !bytes.Equal(a.get([]byte(k)), b.get([]byte(k))) {
			segs[Segment([]byte(k))] = true
		}
	}
	wantListed := 0
	for s := range segs {
		wantListed += len(b.segs[s])
	}
	a.calls, b.calls = calls{}, calls{}
	res := runExchange(t, Config{}, a, b)
	t.Logf("%d keys, %d differing: %+v; peer: %+v", n, d, res, b.calls)
	if res.KeysRepaired != d {
		t.Fatalf("repaired %d, want %d", res.KeysRepaired, d)
	}
	if b.calls.KeysListed != wantListed {
		t.Fatalf("peer listed %d keys, want %d (the %d differing segments)", b.calls.KeysListed, wantListed, len(segs))
	}
	if b.calls.KeysListed*100 >= 2*n {
		t.Fatalf("peer listed %d of %d keys: cost does not scale with divergence", b.calls.KeysListed, n)
	}
	if b.calls.ObjsFetched != d || b.calls.Keys != 1 || b.calls.Segments != 1 {
		t.Fatalf("peer calls %+v: want one Segments call, one Keys call, %d objects fetched", b.calls, d)
	}
}

func TestExchangeReportsStaleTree(t *testing.T) {
	a, b := pair(2000)
	a.trees.Update(testP, []byte("ghost"), 0, 12345) // a write the data does not have
	res := runExchange(t, Config{}, a, b)
	if res.StaleLocal != 1 || res.StalePeer != 0 || res.KeysRepaired != 0 || res.KeysDiffering != 0 {
		t.Fatalf("result %+v, want one stale local segment and nothing repaired", res)
	}
	a.rebuild()
	assertOneRootCall(t, Config{}, a, b)
}

func TestExchangeErrors(t *testing.T) {
	methods := []struct {
		side, method string
	}{
		{"local", "Root"}, {"peer", "Root"}, {"local", "Branches"}, {"peer", "Branches"},
		{"local", "Segments"}, {"peer", "Segments"}, {"local", "Keys"}, {"peer", "Keys"},
		{"local", "Fetch"}, {"peer", "Fetch"}, {"peer", "Push"}, {"local", "Apply"},
	}
	for _, m := range methods {
		t.Run(m.side+"."+m.method, func(t *testing.T) {
			a, b := pair(1000)
			diverge(a, b, 1000, 8)
			map[string]*fake{"local": a, "peer": b}[m.side].fail = m.method
			_, err := Exchange(context.Background(), Config{}, testP, a, b)
			if !errors.Is(err, errInjected) {
				t.Fatalf("error %v, want the injected failure", err)
			}
		})
	}
}

func TestExchangeRejectsBadAnswers(t *testing.T) {
	mangles := map[string]func(b *fake){
		"segments short": func(b *fake) {
			b.mangleSegments = func(hs [][SegmentsPerBranch]uint64) [][SegmentsPerBranch]uint64 { return hs[1:] }
		},
		"keys unsorted": func(b *fake) {
			b.mangleKeys = func(ks []KeyHash) []KeyHash { slices.Reverse(ks); return ks }
		},
		"keys duplicated": func(b *fake) {
			b.mangleKeys = func(ks []KeyHash) []KeyHash { return append(ks, ks[len(ks)-1]) } // b lists new-* keys
		},
		"key outside segments": func(b *fake) {
			b.mangleKeys = func(ks []KeyHash) []KeyHash {
				return append(ks, KeyHash{Key: []byte("elsewhere-7"), Hash: 1})
			}
		},
		"zero hash": func(b *fake) {
			b.mangleKeys = func(ks []KeyHash) []KeyHash { ks[len(ks)-1].Hash = 0; return ks }
		},
		"fetch short": func(b *fake) {
			b.mangleFetch = func(os []Object) []Object { return os[1:] }
		},
		"fetch empty": func(b *fake) {
			b.mangleFetch = func([]Object) []Object { return nil }
		},
		"fetch long": func(b *fake) {
			b.mangleFetch = func(os []Object) []Object { return append(os, Object{Key: []byte("extra")}) }
		},
		"fetch wrong key": func(b *fake) {
			b.mangleFetch = func(os []Object) []Object { os[0].Key = []byte("other"); return os }
		},
	}
	for name, mangle := range mangles {
		t.Run(name, func(t *testing.T) {
			a, b := pair(1000)
			diverge(a, b, 1000, 8)
			mangle(b)
			if _, err := Exchange(context.Background(), Config{}, testP, a, b); err == nil {
				t.Fatal("bad peer answer accepted")
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{MaxRepairsPerExchange: -1}, {SegmentsPerCall: -1}, {RepairBatch: -1}, {RepairBytes: -1}} {
		if c.Validate() == nil {
			t.Errorf("%+v accepted", c)
		}
		a, b := pair(10)
		if _, err := Exchange(context.Background(), c, testP, a, b); err == nil {
			t.Errorf("Exchange with %+v accepted", c)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Fatal(err)
	}
	if d := (Config{}).withDefaults(); d.MaxRepairsPerExchange != 1000 || d.RepairBatch <= 0 || d.SegmentsPerCall <= 0 || d.RepairBytes != DefaultRepairBytes {
		t.Fatalf("defaults %+v", d)
	}
}

func TestExchangeStopsWhenCancelled(t *testing.T) {
	a, b := pair(1000)
	diverge(a, b, 1000, 8)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Exchange(ctx, Config{}, testP, a, b); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if b.calls.Keys+b.calls.Merge != 0 {
		t.Fatalf("cancelled exchange went on: peer %+v", b.calls)
	}
}

package replica

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestKeyFilterNeverForgets: every added key tests present, whether the
// filter grows or is capped; absent keys mostly test absent.
func TestKeyFilterNeverForgets(t *testing.T) {
	for _, tc := range []struct {
		name       string
		maxBytes   int64
		wantLayers int
		maxFalse   float64 // false-positive rate allowed on absent keys
	}{
		{"grows", 1 << 20, 5, 0.05},      // 1k, 2k, 4k, 8k, 16k keys
		{"capped", 0, 1, 1},              // one 1k-key layer overfilled 20×
		{"partly capped", 6 << 10, 2, 1}, // room for the 1k and 2k layers only
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newKeyFilter(1000, tc.maxBytes)
			const n = 20000
			for i := range n {
				f.add(fmt.Appendf(nil, "key-%d", i))
			}
			if len(f.layers) != tc.wantLayers {
				t.Errorf("%d layers, want %d", len(f.layers), tc.wantLayers)
			}
			if tc.maxBytes > 0 && f.size() > max(tc.maxBytes, 1200) {
				t.Errorf("size %d over the bound %d", f.size(), tc.maxBytes)
			}
			for i := range n {
				if k := fmt.Appendf(nil, "key-%d", i); !f.mayContain(k) {
					t.Fatalf("added key %s tests absent", k)
				}
			}
			falsePos := 0
			for i := range n {
				if f.mayContain(fmt.Appendf(nil, "other-%d", i)) {
					falsePos++
				}
			}
			if rate := float64(falsePos) / n; rate > tc.maxFalse {
				t.Errorf("false-positive rate %.3f, want at most %.3f", rate, tc.maxFalse)
			}
		})
	}
}

// TestKeyFilterConcurrent: adds and tests from many goroutines (run with
// -race); every key a writer added before signalling tests present.
func TestKeyFilterConcurrent(t *testing.T) {
	f := newKeyFilter(100, 1<<20)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				k := fmt.Appendf(nil, "w%d-%d", w, i)
				f.add(k)
				if !f.mayContain(k) {
					t.Errorf("key %s absent right after add", k)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestKeyFilterRebuiltAtOpen: keys written by each write path before a
// restart are still found by the next write (a blind write keeps the old
// value as a sibling; had the filter forgotten the key, the write would
// have replaced it).
func TestKeyFilterRebuiltAtOpen(t *testing.T) {
	fs := vfs.NewMem()
	s := mustOpen(t, memConfig(fs))
	mustCoordinate(t, s, "coordinated", nil, sib("old"))
	mustApply(t, s, "applied", clock(entry("x#1", 1, "old")))
	if errs := s.ApplyMany([]Item{{Key: []byte("batched"), Clock: clock(entry("x#1", 2, "old"))}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	closeStore(t, s)

	s = mustOpen(t, memConfig(fs))
	for _, k := range []string{"coordinated", "applied", "batched"} {
		if got := live(mustCoordinate(t, s, k, nil, sib("new"))); !slices.Equal(got, []string{"new", "old"}) && !slices.Equal(got, []string{"old", "new"}) {
			t.Errorf("%s: blind write after reopen left %v, want old and new", k, got)
		}
	}
	if dk, _ := s.dataKey([]byte("never written")); s.keys.mayContain(dk) {
		t.Log("a never-written key tests present (a false positive: allowed, but unlikely)")
	}
}

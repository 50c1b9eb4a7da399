package replica

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/quorumkv/quorumkv/vclock"
)

// Crash tests on Pebble's crashable in-memory FS: CrashClone keeps what was
// fsynced plus a chosen share of what was not, which a kill -9 cannot show.

// TestAcknowledgedCoordinateSurvivesCrash: with fsync (the default) every
// Coordinate and Apply that returned is on disk after a power loss, whatever
// share of unsynced data the crash keeps.
func TestAcknowledgedCoordinateSurvivesCrash(t *testing.T) {
	for _, keep := range []int{0, 30, 100} {
		t.Run(fmt.Sprintf("unsynced kept %d%%", keep), func(t *testing.T) {
			fs := vfs.NewCrashableMem()
			s := mustOpen(t, memConfig(fs))
			actor := s.Actor()
			acked := map[string]vclock.Clock{}
			var mu sync.Mutex
			// Sequential read-modify-writes.
			for i := range 10 {
				k := fmt.Sprintf("seq%d", i%3)
				cur := acked[k]
				acked[k] = mustCoordinate(t, s, k, cur.Context(), sib(val(i)))
			}
			// Concurrent writers (group commit), each on its own key.
			var wg sync.WaitGroup
			for w := range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					k := fmt.Sprintf("conc%d", w)
					var c vclock.Clock
					for i := range 5 {
						r, err := s.Coordinate([]byte(k), c.Context(), sib(val(i)))
						if err != nil {
							t.Error(err)
							return
						}
						c = r
					}
					mu.Lock()
					acked[k] = c
					mu.Unlock()
				}()
			}
			wg.Wait()
			// Replicated copies.
			rep := clock(entry("peer#1", 3, "r3", "r2"))
			acked["rep"], _ = mustApply(t, s, "rep", rep)

			fs = crash(t, s, fs, keep)
			s = mustOpen(t, memConfig(fs))
			// Coordinated writes are replicated before their fsync, so a
			// crash may have lost dots others hold: never mint them again.
			if !s.Fresh() || s.Actor() == actor {
				t.Fatal("a crash did not start a new incarnation")
			}
			for k, want := range acked {
				if got, found := mustGet(t, s, k); !found || !got.Equal(want) {
					t.Errorf("acknowledged %s lost: %v, want %v", k, got, want)
				}
			}
			// Writing on after the crash continues every key's history.
			for k, prev := range acked {
				r := mustCoordinate(t, s, k, prev.Context(), sib("after"))
				if got := live(r); !slices.Equal(got, []string{"after"}) {
					t.Errorf("%s after crash: %v", k, got)
				}
			}
		})
	}
}

// TestNoSyncWriteLostInCrash: without fsync an acknowledged write can be lost
// by a power loss (here it is: the crash keeps nothing unsynced), and the
// node then comes back as a new incarnation.
func TestNoSyncWriteLostInCrash(t *testing.T) {
	fs := vfs.NewCrashableMem()
	cfg := memConfig(fs)
	cfg.NoSync = true
	s := mustOpen(t, cfg)
	actor := s.Actor()
	c := mustCoordinate(t, s, "k", nil, sib("v"))
	if got, found := mustGet(t, s, "k"); !found || !got.Equal(c) {
		t.Fatal("write not visible before the crash")
	}
	fs = crash(t, s, fs, 0)
	cfg.FS = fs
	s = mustOpen(t, cfg)
	if _, found := mustGet(t, s, "k"); found {
		t.Fatal("an unsynced write survived a crash that keeps nothing unsynced")
	}
	if !s.Fresh() || s.Actor() == actor {
		t.Fatal("want a new incarnation after losing writes")
	}
	// The new write cannot collide with the lost dot.
	r := mustCoordinate(t, s, "k", nil, sib("w"))
	if d := dotOf(t, r, "w"); d == dotOf(t, c, "v") {
		t.Fatalf("dot %v re-issued", d)
	}
}

// TestNoSyncRandomCrash: a crash that keeps a random share of unsynced data
// leaves a store that opens as a new incarnation, where every key is absent
// or holds one of the states it had, and the lost states' dots are never
// reissued.
func TestNoSyncRandomCrash(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			fs := vfs.NewCrashableMem()
			cfg := memConfig(fs)
			cfg.NoSync = true
			s := mustOpen(t, cfg)
			history := map[string][]vclock.Clock{}
			last := map[string]vclock.Clock{}
			rng := rand.New(rand.NewPCG(seed, 99))
			for i := range 60 {
				k := fmt.Sprintf("k%d", rng.IntN(8))
				ctx := last[k].Context()
				if rng.IntN(3) == 0 {
					ctx = nil
				}
				last[k] = mustCoordinate(t, s, k, ctx, sib(val(i)))
				history[k] = append(history[k], last[k])
			}
			clone := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rand.New(rand.NewPCG(seed, 1))})
			closeStore(t, s)
			cfg.FS = clone
			s = mustOpen(t, cfg)
			if !s.Fresh() {
				t.Fatal("same incarnation after an unclean NoSync stop")
			}
			for k, states := range history {
				got, found := mustGet(t, s, k)
				if found && !slices.ContainsFunc(states, got.Equal) {
					t.Fatalf("%s recovered as %v, a state it never had", k, got)
				}
				// B holds the last acknowledged state; a new write through the
				// recovered node must keep every value of it that it does not
				// supersede.
				r := mustCoordinate(t, s, k, got.Context(), sib("new"))
				m := vclock.Sync(r, last[k])
				if !slices.Contains(live(m), "new") {
					t.Fatalf("%s: new write lost in the merge with the last state: %v", k, live(m))
				}
				for _, v := range live(last[k]) {
					if !slices.Contains(live(got), v) && !slices.Contains(live(m), v) {
						t.Fatalf("%s: value %s, unseen by the new write, lost: %v", k, v, live(m))
					}
				}
			}
		})
	}
}

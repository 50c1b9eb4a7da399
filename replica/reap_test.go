package replica

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/quorumkv/quorumkv/antientropy"
	"github.com/quorumkv/quorumkv/vclock"
)

// fakeNow is a settable wall clock for Config.Clock.
type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeNow) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeNow) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
}

func tombEntry(actor vclock.Actor, n uint64, tombs int) vclock.Entry {
	e := vclock.Entry{Actor: actor, N: n}
	for range tombs {
		e.Values = append(e.Values, tomb)
	}
	return e
}

func candidateKeys(t *testing.T, s *Store, p int, before time.Time) []string {
	t.Helper()
	cands, err := s.ReapCandidates(p, before)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range cands {
		out = append(out, string(c.Key))
	}
	return out
}

// TestTombstoneAgeRestartsOnChange: the tombstone age of a key restarts
// whenever its tombstones-only state changes (a newer tombstone that deletes
// a value this replica never saw), on every write path; an unchanged state
// (an apply of what is already held) does not restart it.
func TestTombstoneAgeRestartsOnChange(t *testing.T) {
	const grace = time.Hour
	old := clock(tombEntry("y#1", 1, 1)) // {y:1 [⊥]}
	// x wrote v with context {y:1} and deleted it: this replica never saw v.
	newer := clock(tombEntry("x#1", 2, 1), tombEntry("y#1", 1, 0)) // {x:2 [⊥], y:1 []}
	paths := map[string]func(t *testing.T, s *Store, key string){
		"Apply": func(t *testing.T, s *Store, key string) {
			if _, changed := mustApply(t, s, key, newer); !changed {
				t.Fatal("newer tombstone did not change the state")
			}
		},
		"ApplyMany": func(t *testing.T, s *Store, key string) {
			if errs := s.ApplyMany([]Item{{Key: []byte(key), Clock: newer}}); errs[0] != nil {
				t.Fatal(errs[0])
			}
		},
		"Coordinate delete": func(t *testing.T, s *Store, key string) {
			c, _ := mustGet(t, s, key)
			if r := mustCoordinate(t, s, key, c.Context(), tomb); !r.AllTombstones() {
				t.Fatalf("delete left %v", r)
			}
		},
	}
	for name, change := range paths {
		t.Run(name, func(t *testing.T) {
			now := &fakeNow{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
			cfg := memConfig(vfs.NewMem())
			cfg.Clock = now
			s := mustOpen(t, cfg)
			const key = "k"
			p := part4([]byte(key))
			mustApply(t, s, key, old)
			now.advance(grace + time.Second)
			if got := candidateKeys(t, s, p, now.Now().Add(-grace)); !slices.Equal(got, []string{key}) {
				t.Fatalf("setup: candidates %v, want [k]", got)
			}

			change(t, s, key)
			if got := candidateKeys(t, s, p, now.Now().Add(-grace)); len(got) != 0 {
				t.Fatalf("right after its tombstones-only state changed the key is a reap candidate: %v", got)
			}
			// Applying what is already held changes nothing and keeps the age.
			now.advance(grace / 2)
			cur, _ := mustGet(t, s, key)
			if _, changed := mustApply(t, s, key, cur); changed {
				t.Fatal("re-applying the held state changed it")
			}
			now.advance(grace / 2)
			if got := candidateKeys(t, s, p, now.Now().Add(-grace)); len(got) != 0 {
				t.Fatalf("exactly the grace after the change: candidates %v", got)
			}
			now.advance(time.Nanosecond)
			if got := candidateKeys(t, s, p, now.Now().Add(-grace)); !slices.Equal(got, []string{key}) {
				t.Fatalf("the grace after the change: candidates %v, want [k]", got)
			}
		})
	}
}

// ---- end to end: two replicas, the anti-entropy scheduler, a late hint ----

// aePeer is another store's anti-entropy side as an exchange peer.
type aePeer struct{ AntiEntropy }

func (p aePeer) Push(ctx context.Context, part int, objs []antientropy.Object) error {
	return p.Apply(ctx, part, objs)
}

type remoteReaper struct{ s *Store }

func (r remoteReaper) Reap(_ context.Context, p int, objs []antientropy.Object) (int, error) {
	return r.s.Reap(p, objs)
}

type twoReplicas []string

func (t twoReplicas) Owners(int) []string { return t }

type allAlive struct{}

func (allAlive) Alive(string) bool { return true }

// TestReapedDeleteStaysDeletedAfterLateHint: replica a has held key k as an
// old tombstone for longer than the grace. A client then writes v (on b; a
// misses it and a hint for a carries v) and deletes it again seconds later.
// Anti-entropy brings that new tombstone to a. The reaper (a, the lowest
// id) must not reap k in the next round, although a's first tombstone is
// old: the tombstone that deletes v is seconds old, and the hint, younger
// than its max age, still carries v. Once the grace has passed since the
// new tombstone arrived, k is reaped.
func TestReapedDeleteStaysDeletedAfterLateHint(t *testing.T) {
	const grace = time.Hour
	now := &fakeNow{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	open := func(id string) *Store {
		cfg := memConfig(vfs.NewMem())
		cfg.NodeID, cfg.Clock = id, now
		return mustOpen(t, cfg)
	}
	stores := map[string]*Store{"a": open("a"), "b": open("b")}
	sched, err := antientropy.NewScheduler(antientropy.SchedulerConfig{
		NodeID:         "a",
		Partitions:     4,
		Topology:       func() antientropy.Topology { return twoReplicas{"a", "b"} },
		Local:          stores["a"].AntiEntropy(),
		Peer:           func(n string) antientropy.Peer { return aePeer{stores[n].AntiEntropy()} },
		Liveness:       allAlive{},
		Reaper:         stores["a"],
		RemoteReaper:   func(n string) antientropy.RemoteReaper { return remoteReaper{stores[n]} },
		TombstoneGrace: grace,
		Clock:          now,
		Logger:         discardLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	const key = "k"
	p := part4([]byte(key))
	ctx := context.Background()
	round := func() antientropy.RoundResult {
		t.Helper()
		res, err := sched.Round(ctx, p)
		if err != nil || res.Errors != 0 {
			t.Fatalf("round: %+v, %v", res, err)
		}
		return res
	}

	old := clock(tombEntry("y#1", 1, 1))                             // {y:1 [⊥]}, on both
	withV := clock(entry("x#1", 1, "v"), tombEntry("y#1", 1, 0))     // x writes v seeing {y:1}
	deleted := clock(tombEntry("x#1", 2, 1), tombEntry("y#1", 1, 0)) // x deletes v
	mustApply(t, stores["a"], key, old)
	mustApply(t, stores["b"], key, old)

	now.advance(grace + 10*time.Second)   // old is past the grace
	mustApply(t, stores["b"], key, withV) // a misses it: a hint for a carries withV
	now.advance(time.Second)
	mustApply(t, stores["b"], key, deleted)

	now.advance(time.Second)
	if res := round(); res.KeysRepaired != 1 || res.TombstonesReaped != 0 {
		t.Fatalf("first round: %+v, want k repaired and nothing reaped", res)
	}
	now.advance(time.Second)
	if res := round(); res.TombstonesReaped != 0 {
		t.Errorf("second round reaped %d tombstones two seconds after the delete of v reached a", res.TombstonesReaped)
	}
	// The hint for a arrives (4 s old, well inside its max age).
	mustApply(t, stores["a"], key, withV)
	for id, s := range stores {
		if c, _ := mustGet(t, s, key); len(live(c)) != 0 {
			t.Fatalf("%s: the deleted value came back: %v", id, live(c))
		}
	}

	// The grace after the new tombstone reached a: reaped everywhere.
	now.advance(grace)
	if res := round(); res.TombstonesReaped != 1 {
		t.Fatalf("round past the grace: %+v, want k reaped", res)
	}
	for id, s := range stores {
		if _, found := mustGet(t, s, key); found {
			t.Fatalf("%s still holds k after the reap", id)
		}
	}
}

package hintedhandoff

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/vclock"
)

// TestClearDropsEveryHint: a node that joins afresh drops every hint it
// holds.
func TestClearDropsEveryHint(t *testing.T) {
	e := newEnv("a", "b")
	s := e.open(t, nil)
	mustAdd(t, s, "a", "a0")
	mustAdd(t, s, "b", "b0")
	if err := s.Clear(); err != nil {
		t.Fatal(err)
	}
	if n := s.Pending(); n != 0 {
		t.Fatalf("%d hints pending after Clear", n)
	}
	if got := e.kv.hintKeys(t, "a"); len(got) != 0 {
		t.Fatalf("KV still holds %v", got)
	}
}

// TestGoneTargetIsRerouted: hints for a target that is no longer a member
// go to their keys' owners without trying the target, even while it is
// down, and a rerouted hint the owners do not take is kept for them with
// its original age.
func TestGoneTargetIsRerouted(t *testing.T) {
	e := newEnv() // nobody alive: the gone target is not tried anyway
	var rerouted []string
	s := e.open(t, func(c *Config) {
		c.Gone = func(target string) bool { return target == "old" }
		c.Reroute = func(_ context.Context, key []byte, _ vclock.Clock) ([]string, error) {
			rerouted = append(rerouted, string(key))
			return []string{"owner2"}, nil
		}
	})
	t0 := e.clk.Now()
	mustAdd(t, s, "old", "k")
	e.clk.Set(t0.Add(time.Minute))
	s.ReplayOnce(context.Background())
	if !slices.Equal(rerouted, []string{"k"}) {
		t.Fatalf("rerouted %v, want [k]", rerouted)
	}
	st, ok := statsFor(s, "owner2")
	if !ok || st.Pending != 1 || !st.Oldest.Equal(t0) {
		t.Fatalf("hint kept for owner2: %+v (%v), want 1 pending as old as %v", st, ok, t0)
	}
	if st, _ := statsFor(s, "old"); st.Pending != 0 || st.Rerouted != 1 {
		t.Fatalf("old: %+v, want 0 pending, 1 rerouted", st)
	}
}

package node

import (
	"slices"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/internal/clock"
	"github.com/quorumkv/quorumkv/ring"
)

// TestToPark: a joiner is parked once gossip has seen it down for
// ParkAfter, or once the change has waited for it for StuckAfter while its
// count of held partitions did not move; coming back up, or making
// progress, resets its clock, whatever the other members are waiting for.
func TestToPark(t *testing.T) {
	now := time.Unix(1000, 0)
	pk := newParking(2*time.Second, 30*time.Second, clock.Func(func() time.Time { return now }))
	ch := ring.Change{Epoch: 4, From: []string{"a", "b", "c"}, To: []string{"a", "b", "c", "j", "k"}, Joining: []string{"j", "k"}}
	up := map[string]bool{"a": true, "b": true, "c": true, "j": false, "k": true}
	held := map[string]uint32{"k": 3}
	alive := func(id string) bool { return up[id] }
	heldOf := func(id string) uint32 { return held[id] }
	for _, step := range []struct {
		at       time.Duration
		notReady []string
		jUp      bool
		kHeld    uint32
		want     []string
	}{
		{0, []string{"a", "j", "k"}, false, 3, nil}, // j down: its clock starts; k's progress clock too
		{1900 * time.Millisecond, []string{"a", "j", "k"}, false, 3, nil},
		{2 * time.Second, []string{"a", "j", "k"}, false, 3, []string{"j"}}, // down for ParkAfter
		{3 * time.Second, []string{"a", "j", "k"}, true, 3, nil},            // back up: clock reset
		{4 * time.Second, []string{"a", "j", "k"}, false, 3, nil},           // down again: a new clock
		{6 * time.Second, []string{"a", "j", "k"}, false, 3, []string{"j"}},
		{20 * time.Second, []string{"a", "k"}, true, 9, nil},           // k progressed: a new clock
		{49 * time.Second, []string{"a", "k"}, true, 9, nil},           // still waiting, no progress
		{50 * time.Second, []string{"a", "k"}, true, 9, []string{"k"}}, // stuck for StuckAfter, although a waits too
		{51 * time.Second, []string{"a"}, true, 9, nil},                // k ready: forgotten
		{82 * time.Second, []string{"a", "k"}, true, 9, nil},           // waiting again: a new clock
	} {
		now = time.Unix(1000, 0).Add(step.at)
		up["j"], held["k"] = step.jUp, step.kHeld
		if got := pk.toPark(ch, step.notReady, alive, heldOf); !slices.Equal(got, step.want) {
			t.Fatalf("at %v (not ready %v, j up %v): park %v, want %v", step.at, step.notReady, step.jUp, got, step.want)
		}
	}
}

// TestToUnpark: a parked member is taken up again once it has been seen
// alive for ParkAfter without a break.
func TestToUnpark(t *testing.T) {
	now := time.Unix(1000, 0)
	pk := newParking(2*time.Second, 30*time.Second, clock.Func(func() time.Time { return now }))
	up := map[string]bool{}
	alive := func(id string) bool { return up[id] }
	for _, step := range []struct {
		at   time.Duration
		jUp  bool
		want []string
	}{
		{0, true, nil},
		{1 * time.Second, false, nil}, // down again: the clock restarts
		{2 * time.Second, true, nil},
		{3900 * time.Millisecond, true, nil},
		{4 * time.Second, true, []string{"j"}},
	} {
		now = time.Unix(1000, 0).Add(step.at)
		up["j"] = step.jUp
		if got := pk.toUnpark([]string{"j"}, alive); !slices.Equal(got, step.want) {
			t.Fatalf("at %v: unpark %v, want %v", step.at, got, step.want)
		}
	}
}

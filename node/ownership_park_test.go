package node

import (
	"slices"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/ring"
)

// TestToPark: a joiner is parked once gossip has seen it down for
// ParkAfter, or once it alone (with other joiners) has kept a change that
// everyone else is ready for from committing for StuckAfter; coming back
// up, or the others not being ready either, resets its clock.
func TestToPark(t *testing.T) {
	now := time.Unix(1000, 0)
	pk := newParking(2*time.Second, 30*time.Second)
	pk.now = func() time.Time { return now }
	ch := ring.Change{Epoch: 4, From: []string{"a", "b", "c"}, To: []string{"a", "b", "c", "j", "k"}, Joining: []string{"j", "k"}}
	up := map[string]bool{"a": true, "b": true, "c": true, "j": false, "k": true}
	alive := func(id string) bool { return up[id] }
	for _, step := range []struct {
		at       time.Duration
		notReady []string
		jUp      bool
		want     []string
	}{
		{0, []string{"j", "k"}, false, nil}, // j down: its clock starts
		{1900 * time.Millisecond, []string{"j", "k"}, false, nil},
		{2 * time.Second, []string{"j", "k"}, false, []string{"j"}}, // down for ParkAfter
		{3 * time.Second, []string{"j", "k"}, true, nil},            // back up: clock reset
		{4 * time.Second, []string{"j", "k"}, false, nil},           // down again: a new clock
		{6 * time.Second, []string{"a", "j", "k"}, false, []string{"j"}},
		// k alone is not ready from 29 s on (a valid member was not ready
		// either at 6 s, which reset every stuck clock).
		{29 * time.Second, []string{"k"}, true, nil},
		{58 * time.Second, []string{"k"}, true, nil},
		{59 * time.Second, []string{"k"}, true, []string{"k"}}, // stuck for StuckAfter
		{60 * time.Second, []string{"a", "k"}, true, nil},      // a valid member not ready: nobody is stuck
		{61 * time.Second, []string{"k"}, true, nil},           // a new clock
	} {
		now = time.Unix(1000, 0).Add(step.at)
		up["j"] = step.jUp
		if got := pk.toPark(ch, step.notReady, alive); !slices.Equal(got, step.want) {
			t.Fatalf("at %v (not ready %v, j up %v): park %v, want %v", step.at, step.notReady, step.jUp, got, step.want)
		}
	}
}

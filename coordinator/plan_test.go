package coordinator

import (
	"fmt"
	"slices"
	"testing"
)

func TestByResponsiveness(t *testing.T) {
	states := map[string]peerState{"b": {quiet: true}, "c": {down: true}, "d": {down: true, quiet: true}}
	got := byResponsiveness([]string{"b", "c", "a", "d", "e"}, func(n string) peerState { return states[n] })
	if want := []string{"a", "e", "b", "c", "d"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestPlanWrite(t *testing.T) {
	ok, quiet, down, both := peerState{}, peerState{quiet: true}, peerState{down: true}, peerState{down: true, quiet: true}
	for _, tc := range []struct {
		need   int
		states []peerState
		sloppy bool
		want   string
	}{
		// N=3, W=2: the write counts on the one healthy primary, which
		// may have died unseen, so the quiet one is still sent it (a
		// sloppy write tries a fallback first).
		{2, []peerState{ok, quiet}, false, "[send send]"},
		{2, []peerState{ok, quiet}, true, "[send fallback-first]"},
		{2, []peerState{quiet, both}, false, "[send send]"}, // the quorum needs one of them
		{2, []peerState{quiet, ok}, true, "[fallback-first send]"},
		// N=4, W=2: one healthy primary to spare, so a quiet one is not
		// waited on.
		{2, []peerState{ok, ok, quiet}, false, "[send send hint]"},
		{2, []peerState{quiet, ok, ok}, true, "[fallback-or-hint send send]"},
		// W=3: the quorum needs the quiet one; sloppy writes try a fallback first.
		{3, []peerState{ok, quiet}, false, "[send send]"},
		{3, []peerState{ok, quiet}, true, "[send fallback-first]"},
		// A primary gossip calls down (not quiet) keeps its old plan.
		{2, []peerState{ok, down}, false, "[send send]"},
		{2, []peerState{ok, down}, true, "[send fallback-first]"},
		// W=1: nothing waits on anyone quiet.
		{1, []peerState{quiet, quiet}, false, "[hint hint]"},
		{1, []peerState{}, false, "[]"},
	} {
		if got := fmt.Sprint(planWrite(tc.need, tc.states, tc.sloppy)); got != tc.want {
			t.Errorf("planWrite(%d, %v, sloppy %v) = %s, want %s", tc.need, tc.states, tc.sloppy, got, tc.want)
		}
	}
}

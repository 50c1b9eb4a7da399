package discovery

import (
	"slices"
	"testing"
	"time"
)

func TestPeerTable(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tb := newPeerTable(2, 10*time.Second)
	if changed, full := tb.observe("n2", "10.0.0.2:7201", t0); !changed || full {
		t.Fatal("a new peer is a change")
	}
	if changed, _ := tb.observe("n2", "10.0.0.2:7201", t0.Add(time.Second)); changed {
		t.Fatal("the same peer again is no change")
	}
	if changed, _ := tb.observe("n2", "10.0.0.9:7201", t0.Add(2*time.Second)); !changed {
		t.Fatal("a peer at a new address is a change")
	}
	tb.observe("n3", "10.0.0.3:7201", t0.Add(3*time.Second))
	if changed, full := tb.observe("n4", "10.0.0.4:7201", t0.Add(4*time.Second)); changed || !full {
		t.Fatal("a third peer fits in a table of two")
	}
	if got := tb.seeds(t0.Add(5 * time.Second)); !slices.Equal(got, []string{"10.0.0.3:7201", "10.0.0.9:7201"}) {
		t.Fatalf("seeds %v", got)
	}
	// n2 was last heard at +2 s: at +12.5 s it is forgotten, and n4 fits.
	if got := tb.seeds(t0.Add(12500 * time.Millisecond)); !slices.Equal(got, []string{"10.0.0.3:7201"}) {
		t.Fatalf("seeds after n2's ttl %v", got)
	}
	if changed, full := tb.observe("n4", "10.0.0.4:7201", t0.Add(12500*time.Millisecond)); !changed || full {
		t.Fatal("an expired peer's room is not given to a new one")
	}
	// Two ids at one address (a node restarted under a new id) are one seed.
	tb.observe("n3", "10.0.0.4:7201", t0.Add(13*time.Second))
	if got := tb.seeds(t0.Add(13 * time.Second)); !slices.Equal(got, []string{"10.0.0.4:7201"}) {
		t.Fatalf("seeds %v", got)
	}
}

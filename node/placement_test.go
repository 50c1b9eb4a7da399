package node

import (
	"slices"
	"testing"

	"github.com/quorumkv/quorumkv/ring"
)

// TestPlacementDuringAChange: during a change, the nodes gaining a
// partition are pending owners, and a member on its way out is never a
// sloppy-quorum fallback (a hint it held would leave with it).
func TestPlacementDuringAChange(t *testing.T) {
	cfg := ring.ClusterConfig{Partitions: 64, Replicas: 3}
	cur, _ := ring.Build(cfg, []string{"a", "b", "c", "d", "e"}, nil)
	tgt, _ := ring.Build(cfg, []string{"a", "b", "c", "d"}, nil) // e leaving
	pl := placementOf(&ring.View{Epoch: 3, Ring: cur, Target: tgt})
	for p := range 64 {
		if slices.Contains(pl.Fallbacks(p), "e") {
			t.Fatalf("partition %d: leaving e is a fallback: %v", p, pl.Fallbacks(p))
		}
		owners := pl.Owners(p)
		for _, n := range tgt.Preference(p) {
			if !slices.Contains(owners, n) {
				t.Fatalf("partition %d: %s gains it but is no owner: %v", p, n, owners)
			}
		}
	}
	stable := placementOf(&ring.View{Epoch: 3, Ring: cur, Target: cur})
	if got := stable.Fallbacks(0); !slices.Equal(got, cur.Fallbacks(0)) || stable.Pending(0) != nil {
		t.Fatalf("stable ring: fallbacks %v, pending %v", got, stable.Pending(0))
	}
}

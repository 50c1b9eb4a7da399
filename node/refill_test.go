package node

import (
	"slices"
	"testing"

	"github.com/quorumkv/quorumkv/ring"
)

func idSet(ids ...string) map[string]bool {
	m := map[string]bool{}
	for _, id := range ids {
		m[id] = true
	}
	return m
}

// TestPullRule: when a partition being pulled is complete, for a joiner
// (a quorum of the current replicas) and for a repairing replica (the
// quorum counting itself, and every other replica that is up).
func TestPullRule(t *testing.T) {
	for _, tc := range []struct {
		name          string
		prefs, n      int
		repairing     bool
		sources       []string
		synced, alive map[string]bool
		want          bool
	}{
		// N=3, a repairing replica: the quorum is both others.
		{"repair N3 none synced", 3, 3, true, []string{"b", "c"}, idSet(), idSet("b", "c"), false},
		{"repair N3 one synced", 3, 3, true, []string{"b", "c"}, idSet("b"), idSet("b", "c"), false},
		{"repair N3 both synced", 3, 3, true, []string{"b", "c"}, idSet("b", "c"), idSet("b", "c"), true},
		// One other replica down (not empty): the quorum is not met; a
		// QUORUM write the node lost may be on that one alone.
		{"repair N3 other down", 3, 3, true, []string{"b", "c"}, idSet("b"), idSet("b"), false},
		// ... unless it said it holds no data (the caller marks it synced).
		{"repair N3 other down and empty", 3, 3, true, []string{"b", "c"}, idSet("b", "c"), idSet("b"), true},
		// N=5: the quorum is 3 of the 4 others, and every other that is up.
		{"repair N5 quorum but one up missing", 5, 5, true, []string{"b", "c", "d", "e"}, idSet("b", "c", "d"), idSet("b", "c", "d", "e"), false},
		{"repair N5 all up synced", 5, 5, true, []string{"b", "c", "d", "e"}, idSet("b", "c", "d", "e"), idSet("b", "c", "d", "e"), true},
		{"repair N5 one down, rest synced", 5, 5, true, []string{"b", "c", "d", "e"}, idSet("b", "c", "d"), idSet("b", "c", "d"), true},
		{"repair N5 two down", 5, 5, true, []string{"b", "c", "d", "e"}, idSet("b", "c"), idSet("b", "c"), false},
		// A joiner (not a current replica: all 3 are sources) needs 2 of 3,
		// not the alive ones.
		{"join N3 two of three", 3, 3, false, []string{"a", "b", "c"}, idSet("a", "b"), idSet("a", "b", "c"), true},
		{"join N3 one of three", 3, 3, false, []string{"a", "b", "c"}, idSet("a"), idSet("a", "b", "c"), false},
	} {
		r := pullRuleFor(tc.prefs, tc.n, tc.repairing)
		if got := r.complete(tc.sources, tc.synced, tc.alive); got != tc.want {
			t.Errorf("%s: complete = %v, want %v (rule %+v)", tc.name, got, tc.want, r)
		}
	}
}

// TestRefillMarks: a new incarnation repairs the partitions it replicates
// with another replica to pull from; all of them while the ring is unknown;
// none in a ring of itself alone.
func TestRefillMarks(t *testing.T) {
	cfg := ring.ClusterConfig{Partitions: 64, Replicas: 3}
	five, err := ring.Build(cfg, []string{"a", "b", "c", "d", "e"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	marks := refillMarks(five, "a", cfg.Partitions)
	for p, m := range marks {
		if m != five.IsReplica(p, "a") {
			t.Errorf("partition %d: marked %v, a replicates it: %v", p, m, five.IsReplica(p, "a"))
		}
	}
	alone, err := ring.Build(cfg, []string{"a"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for p, m := range refillMarks(alone, "a", cfg.Partitions) {
		if m {
			t.Fatalf("partition %d marked in a ring of this node alone", p)
		}
	}
	for _, r := range []*ring.Ring{nil, mustRing(t, cfg)} {
		for p, m := range refillMarks(r, "a", cfg.Partitions) {
			if !m {
				t.Fatalf("ring %v unknown: partition %d not marked", r, p)
			}
		}
	}
}

func mustRing(t *testing.T, cfg ring.ClusterConfig, members ...string) *ring.Ring {
	t.Helper()
	r, err := ring.Build(cfg, members, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRefillCount: the partitions left are those of the target ring still
// repairing and not held; held ones and those this node does not
// replicate are not counted.
func TestRefillCount(t *testing.T) {
	target := []bool{true, true, true, false, true}
	repairing := []bool{true, true, false, true, true}
	owned := []bool{false, true, false, false, false}
	if got := refillCount(target, repairing, owned); got != 2 {
		t.Fatalf("refillCount = %d, want 2 (partitions 0 and 4)", got)
	}
}

// TestRepairingEndsWhenHeldOrDropped: a repairing partition stays
// repairing while it is pulled, and stops once it is held or dropped.
func TestRepairingEndsWhenHeldOrDropped(t *testing.T) {
	o := &ownership{owned: make([]bool, 3), pulling: make([]bool, 3), repairing: []bool{true, true, true}}
	for p := range 3 {
		o.set(p, false, true) // pulling
	}
	o.set(1, true, false)  // held
	o.set(2, false, false) // dropped
	if want := []bool{true, false, false}; !slices.Equal(o.repairing, want) {
		t.Fatalf("repairing = %v, want %v", o.repairing, want)
	}
	if !o.dirty {
		t.Fatal("the change is not marked for persisting")
	}
}

package ring

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func nodeNames(prefix string, m int) []string {
	out := make([]string, m)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i+1)
	}
	return out
}

func mustBuild(t testing.TB, cfg ClusterConfig, members []string) *Ring {
	t.Helper()
	r, err := Build(cfg, members, nil)
	if err != nil {
		t.Fatalf("Build(%v, %v): %v", cfg, members, err)
	}
	return r
}

func TestClusterConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg ClusterConfig
		ok  bool
	}{
		{ClusterConfig{1024, 3}, true},
		{ClusterConfig{1, 1}, true},
		{ClusterConfig{65536, 5}, true},
		{ClusterConfig{0, 3}, false},
		{ClusterConfig{65537, 3}, false},
		{ClusterConfig{-1, 3}, false},
		{ClusterConfig{1024, 0}, false},
		{ClusterConfig{1024, 256}, false},
		{ClusterConfig{}, false},
	} {
		if err := tc.cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v.Validate() = %v, want ok=%v", tc.cfg, err, tc.ok)
		}
	}
	if err := DefaultClusterConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestClusterConfigHash(t *testing.T) {
	a := ClusterConfig{1024, 3}
	if a.Hash() != a.Hash() || len(a.Hash()) != 16 {
		t.Fatalf("hash not stable/short: %q", a.Hash())
	}
	seen := map[string]ClusterConfig{}
	for _, c := range []ClusterConfig{{1024, 3}, {1024, 2}, {256, 3}, {3, 1024}, {1, 1}} {
		if o, dup := seen[c.Hash()]; dup {
			t.Fatalf("hash collision %v %v", c, o)
		}
		seen[c.Hash()] = c
	}
}

func TestBuildErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     ClusterConfig
		members []string
	}{
		{"bad config", ClusterConfig{0, 3}, []string{"a"}},
		{"empty id", ClusterConfig{16, 3}, []string{"a", ""}},
	} {
		if _, err := Build(tc.cfg, tc.members, nil); err == nil {
			t.Errorf("%s: Build succeeded", tc.name)
		}
	}
}

func TestEmptyRing(t *testing.T) {
	r := mustBuild(t, ClusterConfig{64, 3}, nil)
	if r.Len() != 0 || len(r.Members()) != 0 {
		t.Fatalf("members = %v", r.Members())
	}
	p := r.Partition([]byte("k"))
	if p < 0 || p >= 64 {
		t.Fatalf("partition %d", p)
	}
	if r.Preference(p) != nil || r.Fallbacks(p) != nil || r.Owner(p) != "" || r.IsReplica(p, "a") {
		t.Fatal("empty ring returned owners")
	}
}

func TestOutOfRange(t *testing.T) {
	r := mustBuild(t, ClusterConfig{16, 3}, nodeNames("n", 4))
	for _, p := range []int{-1, 16, 1 << 20} {
		if r.Preference(p) != nil || r.Fallbacks(p) != nil || r.Owner(p) != "" {
			t.Errorf("p=%d: got owners", p)
		}
	}
}

// TestPreferenceShape checks, for many shapes including degenerate ones,
// that every partition has min(N, M) distinct replicas, that the fallbacks
// are exactly the other members, and that the counters agree with the lists.
func TestPreferenceShape(t *testing.T) {
	for _, tc := range []struct{ q, n, m int }{
		{1024, 3, 1}, {1024, 3, 2}, {1024, 3, 3}, {1024, 3, 4}, {1024, 3, 12},
		{1024, 1, 5}, {1024, 5, 3}, {1024, 5, 7}, {256, 2, 9},
		{1, 3, 3}, {2, 3, 5}, {5, 3, 4}, {7, 3, 4}, {3, 3, 20}, {65536, 3, 5},
	} {
		t.Run(fmt.Sprintf("Q%d_N%d_M%d", tc.q, tc.n, tc.m), func(t *testing.T) {
			members := nodeNames("node-", tc.m)
			r := mustBuild(t, ClusterConfig{tc.q, tc.n}, members)
			want := min(tc.n, tc.m)
			primary, owned := map[string]int{}, map[string]int{}
			for p := 0; p < tc.q; p++ {
				pref, fb := r.Preference(p), r.Fallbacks(p)
				if len(pref) != want {
					t.Fatalf("p=%d: %d replicas, want %d", p, len(pref), want)
				}
				all := slices.Concat(pref, fb)
				slices.Sort(all)
				if !slices.Equal(all, r.Members()) {
					t.Fatalf("p=%d: pref %v + fallbacks %v != members", p, pref, fb)
				}
				if r.Owner(p) != pref[0] {
					t.Fatalf("p=%d: owner %q, pref %v", p, r.Owner(p), pref)
				}
				owned[pref[0]]++
				for _, id := range pref {
					primary[id]++
					if !r.IsReplica(p, id) {
						t.Fatalf("IsReplica(%d, %s) false", p, id)
					}
				}
				for _, id := range fb {
					if r.IsReplica(p, id) {
						t.Fatalf("IsReplica(%d, %s) true for fallback", p, id)
					}
				}
			}
			for _, id := range members {
				if r.PrimaryCount(id) != primary[id] || r.OwnedCount(id) != owned[id] {
					t.Fatalf("%s: counts %d/%d, want %d/%d", id, r.PrimaryCount(id), r.OwnedCount(id), primary[id], owned[id])
				}
				if lo, hi := tc.q/tc.m, (tc.q+tc.m-1)/tc.m; owned[id] < lo || owned[id] > hi {
					t.Errorf("%s owns %d, want [%d, %d]", id, owned[id], lo, hi)
				}
			}
		})
	}
}

// spacingViolations counts partitions whose preference list is not simply
// the owners of p … p+N-1 (the target_n_val property placement aims for).
func spacingViolations(r *Ring) int {
	q, v := r.cfg.Partitions, 0
	for p := 0; p < q; p++ {
		for d, id := range r.Preference(p) {
			if r.Owner((p+d)%q) != id {
				v++
				break
			}
		}
	}
	return v
}

func TestReplicaLoadBalance(t *testing.T) {
	for _, q := range []int{1024, 256} {
		for _, prefix := range []string{"node-", "10.0.0."} {
			for m := 3; m <= 12; m++ {
				const n = 3
				r := mustBuild(t, ClusterConfig{q, n}, nodeNames(prefix, m))
				ideal := float64(q*n) / float64(m)
				lo, hi := q*n, 0
				for _, id := range r.Members() {
					c := r.PrimaryCount(id)
					lo, hi = min(lo, c), max(hi, c)
				}
				spread := max(ideal-float64(lo), float64(hi)-ideal) / ideal
				viol := "n/a (M <= N)"
				if m > n {
					viol = fmt.Sprint(spacingViolations(r))
				}
				t.Logf("Q=%d N=%d M=%2d %-8s replica load %d..%d (ideal %.1f, max dev %.1f%%), spacing violations %s",
					q, n, m, prefix, lo, hi, ideal, 100*spread, viol)
				if spread > 0.15 {
					t.Errorf("Q=%d M=%d %s: replica load %d..%d deviates %.1f%% from ideal %.1f", q, m, prefix, lo, hi, 100*spread, ideal)
				}
			}
		}
	}
}

func TestDeterminism(t *testing.T) {
	cfg := ClusterConfig{512, 3}
	members := nodeNames("node-", 9)
	ref := mustBuild(t, cfg, members)
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 5; trial++ {
		shuffled := slices.Clone(members)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		shuffled = append(shuffled, shuffled[trial]) // duplicates are ignored
		r := mustBuild(t, cfg, shuffled)
		if !slices.Equal(r.Members(), ref.Members()) {
			t.Fatalf("members %v != %v", r.Members(), ref.Members())
		}
		for p := 0; p < cfg.Partitions; p++ {
			if !slices.Equal(r.Preference(p), ref.Preference(p)) || !slices.Equal(r.Fallbacks(p), ref.Fallbacks(p)) {
				t.Fatalf("trial %d p=%d: %v/%v != %v/%v", trial, p, r.Preference(p), r.Fallbacks(p), ref.Preference(p), ref.Fallbacks(p))
			}
		}
	}
}

// TestPinnedPlacement pins a few lookups so that an accidental change of the
// placement (which would split a mixed-version cluster) fails loudly; bump
// placementVersion when changing placement on purpose.
func TestPinnedPlacement(t *testing.T) {
	r := mustBuild(t, ClusterConfig{1024, 3}, nodeNames("node-", 5))
	got := []string{}
	for _, p := range []int{0, 1, 511, 1023} {
		got = append(got, strings.Join(r.Preference(p), ","))
	}
	got = append(got, fmt.Sprint(r.Partition([]byte("hello"))), DefaultClusterConfig().Hash())
	want := pinnedPlacement
	if !slices.Equal(got, want) {
		t.Fatalf("placement changed:\n got %q\nwant %q", got, want)
	}
}

func replicaSets(r *Ring) []string {
	out := make([]string, r.cfg.Partitions)
	for p := range out {
		s := slices.Clone(r.Preference(p))
		slices.Sort(s)
		out[p] = strings.Join(s, ",")
	}
	return out
}

func TestAddNodeMovement(t *testing.T) {
	const n = 3
	for _, q := range []int{1024, 256} {
		for m := 3; m <= 11; m++ {
			r1 := mustBuild(t, ClusterConfig{q, n}, nodeNames("node-", m))
			r2 := mustBuild(t, ClusterConfig{q, n}, nodeNames("node-", m+1))
			before, after := replicaSets(r1), replicaSets(r2)
			changed, owners, slots := 0, 0, 0
			for p := range before {
				for _, id := range r2.Preference(p) {
					if !r1.IsReplica(p, id) {
						slots++
					}
				}
				if before[p] != after[p] {
					changed++
				}
				if r1.Owner(p) != r2.Owner(p) {
					owners++
				}
			}
			frac := float64(changed) / float64(q)
			// Minimum possible: the new node must enter N·Q/(M+1) replica
			// slots, each in a different partition.
			ideal := min(1, float64(n)/float64(m+1))
			t.Logf("Q=%d %d→%d nodes: %.1f%% of partitions changed a replica (ideal %.1f%%, ratio %.2f); %.1f%% of replica slots moved, %.1f%% of owners changed (ideal %.1f%% each)",
				q, m, m+1, 100*frac, 100*ideal, frac/ideal, 100*float64(slots)/float64(q*n), 100*float64(owners)/float64(q), 100/float64(m+1))
			if frac > 2*ideal {
				t.Errorf("Q=%d %d→%d: %.1f%% changed, more than twice the ideal %.1f%%", q, m, m+1, 100*frac, 100*ideal)
			}
		}
	}
}

func BenchmarkPreference(b *testing.B) {
	r := mustBuild(b, ClusterConfig{1024, 3}, nodeNames("node-", 12))
	key := []byte("user:12345")
	b.ReportAllocs()
	var sink int
	for i := 0; b.Loop(); i++ {
		p := r.Partition(key)
		sink += len(r.Preference((p + i) & 1023))
	}
	_ = sink
}

func BenchmarkBuild12(b *testing.B) {
	members := nodeNames("node-", 12)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Build(ClusterConfig{1024, 3}, members, nil); err != nil {
			b.Fatal(err)
		}
	}
}

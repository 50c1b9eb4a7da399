package ring

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"strings"
	"testing"
)

// TestZonedPlacementSpreadsAndBalances: with members in Z ≥ N zones of
// equal size, every preference list holds N members of N distinct zones,
// and every member replicates within 15 % of Q·N/M partitions.
func TestZonedPlacementSpreadsAndBalances(t *testing.T) {
	for _, tc := range []struct {
		q, perZone, zones int
		prefix            string
	}{
		{256, 2, 3, "n"}, {1024, 2, 3, "n"}, {1024, 2, 3, "quorumkv-"}, {1024, 3, 3, "node-"},
		{1024, 4, 3, "n"}, {1024, 2, 4, "n"}, {4096, 2, 3, "pod-"}, {4096, 5, 3, "n"}, {1024, 1, 5, "n"},
	} {
		t.Run(fmt.Sprintf("q%d/%dx%d/%s", tc.q, tc.zones, tc.perZone, tc.prefix), func(t *testing.T) {
			cfg := ClusterConfig{Partitions: tc.q, Replicas: 3}
			var ids []string
			zones := Zones{}
			for z := range tc.zones {
				for k := range tc.perZone {
					id := fmt.Sprintf("%s%d", tc.prefix, z+tc.zones*k)
					ids = append(ids, id)
					zones[id] = fmt.Sprintf("zone-%c", 'a'+z)
				}
			}
			r, err := Build(cfg, ids, zones)
			if err != nil {
				t.Fatal(err)
			}
			checkZonedRing(t, r, cfg)
		})
	}
}

func checkZonedRing(t *testing.T, r *Ring, cfg ClusterConfig) {
	t.Helper()
	want := min(cfg.Replicas, r.ZoneCount())
	for p := range cfg.Partitions {
		pref := r.Preference(p)
		seen := map[string]bool{}
		for _, id := range pref {
			seen[r.Zone(id)] = true
		}
		if len(pref) != cfg.Replicas || len(seen) != want {
			t.Fatalf("partition %d: %v spans %d zones, want %d", p, pref, len(seen), want)
		}
	}
	mean := float64(cfg.Partitions*cfg.Replicas) / float64(r.Len())
	for _, id := range r.Members() {
		if d := float64(r.PrimaryCount(id))/mean - 1; math.Abs(d) > zoneLoadSpread {
			t.Errorf("%s replicates %d partitions, %+.1f%% of the mean %.0f", id, r.PrimaryCount(id), 100*d, mean)
		}
	}
}

// TestZonesDoNotMoveZonelessPlacement: members all without a zone (or all
// in one) place exactly as with no zones at all.
func TestZonesDoNotMoveZonelessPlacement(t *testing.T) {
	cfg := ClusterConfig{Partitions: 512, Replicas: 3}
	ids := nodeNames("n", 7)
	plain := mustBuild(t, cfg, ids)
	one := Zones{}
	for _, id := range ids {
		one[id] = "z"
	}
	for _, zones := range []Zones{nil, {}, one} {
		r, err := Build(cfg, ids, zones)
		if err != nil {
			t.Fatal(err)
		}
		for p := range cfg.Partitions {
			if fmt.Sprint(r.Preference(p), r.Fallbacks(p)) != fmt.Sprint(plain.Preference(p), plain.Fallbacks(p)) {
				t.Fatalf("zones %v moved partition %d", zones, p)
			}
		}
	}
}

// TestRingRecordZones: a commit records the zones its ring places by —
// a committed member's recorded zone, a joiner's announced one — and a
// zone a member announces later does not move the committed ring.
func TestRingRecordZones(t *testing.T) {
	zoned := func(id string, s State, z string) Member { m := member(id, s); m.Zone = z; m.Empty = true; return m }
	d := doc(zoned("a", StateValid, "z1"), zoned("b", StateValid, "z2"), zoned("c", StateJoining, "z3")).
		WithRing(RingRecord{Epoch: 3, Members: []string{"a", "b"}, Zones: Zones{"a": "z1", "b": "z2"}})
	// b now announces another zone: the ring keeps the recorded one.
	d = d.With(zoned("b", StateValid, "elsewhere"))
	if got := d.TargetZones(); !maps.Equal(got, Zones{"a": "z1", "b": "z2", "c": "z3"}) {
		t.Fatalf("TargetZones = %v", got)
	}
	next, ok := d.NextRing(nil)
	if !ok || !maps.Equal(next.Zones, Zones{"a": "z1", "b": "z2", "c": "z3"}) {
		t.Fatalf("NextRing = %+v, %v", next, ok)
	}
	committed := d.Committed(next)
	b, err := committed.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalDoc(b)
	if err != nil || !back.Equal(committed) {
		t.Fatalf("round trip: %v, equal %v", err, back.Equal(committed))
	}
	if !maps.Equal(back.RingZones(), next.Zones) {
		t.Fatalf("RingZones after decode = %v", back.RingZones())
	}
	// Two records of one epoch and members differing in zones merge to
	// one, whichever side merges.
	other := committed.WithRing(RingRecord{Epoch: next.Epoch, Members: next.Members, Zones: Zones{"a": "z1", "b": "z2", "c": "z9"}})
	ab, _ := committed.Merge(other)
	ba, _ := other.Merge(committed)
	if !ab.Ring.equal(ba.Ring) {
		t.Fatalf("merge not commutative: %+v vs %+v", ab.Ring, ba.Ring)
	}
}

func TestRingRecordZonesValidate(t *testing.T) {
	for _, r := range []RingRecord{
		{Epoch: 1, Members: []string{"a"}, Zones: Zones{"b": "z"}},
		{Epoch: 1, Members: []string{"a"}, Zones: Zones{"a": ""}},
		{Epoch: 1, Members: []string{"a"}, Zones: Zones{"a": strings.Repeat("z", maxZoneLen+1)}},
	} {
		if err := r.Validate(); err == nil {
			t.Errorf("%+v: valid, want an error", r)
		}
	}
}

// TestStartRefusesAnotherZone: a member the committed ring places in one
// zone does not start with another.
func TestStartRefusesAnotherZone(t *testing.T) {
	s := &MemDocStore{}
	cfg := nodeConfig(nodeOpts{id: "a", store: s})
	cfg.Zone = "z1"
	m, err := StartMembership(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Shutdown(); err != nil {
		t.Fatal(err)
	}
	cfg.Zone = "z2"
	var zc *ZoneChangedError
	if _, err := StartMembership(cfg); !errors.As(err, &zc) || zc.Ring != "z1" || zc.Flag != "z2" {
		t.Fatalf("start in another zone: %v", err)
	}
	cfg.Zone = "z1"
	m, err = StartMembership(cfg)
	if err != nil {
		t.Fatalf("start in its own zone: %v", err)
	}
	if m.Ring().Zone("a") != "z1" {
		t.Fatalf("ring zone of a = %q", m.Ring().Zone("a"))
	}
	if err := m.Shutdown(); err != nil {
		t.Fatal(err)
	}
}

package ring

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{StateJoining: "joining", StateValid: "valid", StateLeaving: "leaving", StateRemoved: "removed", StateParked: "parked", State(9): "state(9)"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", s, s.String(), want)
		}
		got, err := ParseState(want)
		if s.Valid() && (err != nil || got != s) {
			t.Errorf("ParseState(%q) = %v, %v", want, got, err)
		}
		if !s.Valid() && err == nil {
			t.Errorf("ParseState(%q) accepted", want)
		}
	}
}

func doc(ms ...Member) Doc {
	d := NewDoc(ClusterConfig{1024, 3})
	for _, m := range ms {
		d = d.With(m)
	}
	return d
}

func TestMergeTable(t *testing.T) {
	a1 := Member{ID: "a", Addr: "h:1", State: StateValid, Version: 1}
	a2 := Member{ID: "a", Addr: "h:2", State: StateValid, Version: 2, Self: 1}
	a1Leaving := Member{ID: "a", Addr: "h:1", State: StateLeaving, Version: 1}
	a1OtherAddr := Member{ID: "a", Addr: "h:9", State: StateValid, Version: 1}
	b1 := Member{ID: "b", Addr: "h:3", State: StateJoining, Version: 1}
	// The two parts of an entry merge on their own: a's own readiness (self
	// version 2) and another node's leave (state version 2) both survive.
	aReady := Member{ID: "a", Addr: "h:1", State: StateValid, Version: 1, Self: 2, Ready: "sig", ReadyEpoch: 4}
	aLeave := Member{ID: "a", Addr: "h:1", State: StateLeaving, Version: 2, Self: 1}
	aBoth := Member{ID: "a", Addr: "h:1", State: StateLeaving, Version: 2, Self: 2, Ready: "sig", ReadyEpoch: 4}
	aParked := Member{ID: "a", State: StateParked, Version: 3}
	aRemoved := Member{ID: "a", State: StateRemoved, Version: 3}
	r1 := RingRecord{Epoch: 1, Members: []string{"a"}}
	r2 := RingRecord{Epoch: 2, Members: []string{"a", "b"}}
	r2b := RingRecord{Epoch: 2, Members: []string{"b"}}
	withRing := func(d Doc, r RingRecord) Doc { return d.WithRing(r) }
	for _, tc := range []struct {
		name    string
		d, o    Doc
		want    Doc
		changed bool
	}{
		{"empty", doc(), doc(), doc(), false},
		{"add", doc(a1), doc(b1), doc(a1, b1), true},
		{"higher version wins", doc(a1), doc(a2), doc(a2), true},
		{"lower version loses", doc(a2, b1), doc(a1), doc(a2, b1), false},
		{"tie: higher state wins", doc(a1), doc(a1Leaving), doc(a1Leaving), true},
		{"tie: state kept", doc(a1Leaving), doc(a1), doc(a1Leaving), false},
		{"tie: bytes decide", doc(a1), doc(a1OtherAddr), doc(a1OtherAddr), true},
		{"tie: bytes kept", doc(a1OtherAddr), doc(a1), doc(a1OtherAddr), false},
		{"same", doc(a1, b1), doc(a1, b1), doc(a1, b1), false},
		{"zero cluster adopts", Doc{}, doc(a1), doc(a1), true},
		{"zero other keeps", doc(a1), Doc{}, doc(a1), false},
		{"parts merge apart", doc(aReady), doc(aLeave), doc(aBoth), true},
		{"parts merge apart, other order", doc(aLeave), doc(aReady), doc(aBoth), true},
		{"tie: remove beats park", doc(aParked), doc(aRemoved), doc(aRemoved), true},
		{"tie: park loses to remove", doc(aRemoved), doc(aParked), doc(aRemoved), false},
		{"newer ring wins", withRing(doc(a1), r1), withRing(doc(), r2), withRing(doc(a1), r2), true},
		{"older ring loses", withRing(doc(a1), r2), withRing(doc(), r1), withRing(doc(a1), r2), false},
		{"tie: larger ring list wins", withRing(doc(), r2), withRing(doc(), r2b), withRing(doc(), r2b), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dBefore, oBefore := tc.d.Clone(), tc.o.Clone()
			got, changed := tc.d.Merge(tc.o)
			if !got.Equal(tc.want) || changed != tc.changed {
				t.Fatalf("Merge = %+v, %v; want %+v, %v", got, changed, tc.want, tc.changed)
			}
			if !tc.d.Equal(dBefore) || !tc.o.Equal(oBefore) {
				t.Fatal("Merge mutated an input")
			}
		})
	}
}

func TestRingMembers(t *testing.T) {
	d := doc(
		Member{ID: "f", State: StateParked},
		Member{ID: "e", State: StateRemoved},
		Member{ID: "d", State: StateRemoved},
		Member{ID: "c", State: StateLeaving},
		Member{ID: "b", State: StateJoining},
		Member{ID: "a", State: StateValid},
		Member{ID: "g", State: StateValid},
	).WithRing(RingRecord{Epoch: 4, Members: []string{"a", "c", "e", "x"}})
	if got := d.RingMembers(); !slices.Equal(got, []string{"a", "c", "e", "x"}) {
		t.Fatalf("RingMembers = %v", got)
	}
	// In the target: ring members not leaving or removed (x has no entry
	// yet: it stays), joiners, and a valid member missing from the ring.
	if got := d.TargetMembers(); !slices.Equal(got, []string{"a", "b", "g", "x"}) {
		t.Fatalf("TargetMembers = %v", got)
	}
	for id, want := range map[string]State{"a": StateValid, "b": StateJoining, "c": StateLeaving, "d": StateRemoved,
		"e": StateLeaving, "f": StateParked, "g": StateJoining} {
		if got := d.StateOf(id); got != want {
			t.Errorf("StateOf(%s) = %v, want %v", id, got, want)
		}
	}
	if d.Epoch() != 4 {
		t.Fatalf("Epoch = %d", d.Epoch())
	}
}

// randomDoc draws from a small universe so that overlaps and ties are common.
func randomDoc(rng *rand.Rand) Doc {
	d := NewDoc(ClusterConfig{64, 3})
	for _, id := range []string{"a", "b", "c", "d"} {
		if rng.IntN(3) == 0 {
			continue
		}
		d.Members[id] = Member{
			ID:      id,
			Addr:    fmt.Sprintf("h:%d", rng.IntN(2)),
			Gossip:  fmt.Sprintf("g:%d", rng.IntN(2)),
			Zone:    []string{"", "z1"}[rng.IntN(2)],
			State:   State(rng.IntN(5)),
			Version: uint64(rng.IntN(3)),
			Self:    uint64(rng.IntN(3)),
			Ready:   []string{"", "s1"}[rng.IntN(2)],
			Empty:   rng.IntN(2) == 0,
		}
	}
	if rng.IntN(3) > 0 {
		ids := []string{"a", "b", "c", "d"}[:1+rng.IntN(4)]
		d.Ring = RingRecord{Epoch: uint64(1 + rng.IntN(3)), Members: ids}
	}
	return d
}

func TestMergeProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	merge := func(a, b Doc) Doc { d, _ := a.Merge(b); return d }
	for i := 0; i < 3000; i++ {
		a, b, c := randomDoc(rng), randomDoc(rng), randomDoc(rng)
		if ab, ba := merge(a, b), merge(b, a); !ab.Equal(ba) {
			t.Fatalf("not commutative:\n%+v\n%+v", ab, ba)
		}
		if l, r := merge(merge(a, b), c), merge(a, merge(b, c)); !l.Equal(r) {
			t.Fatalf("not associative:\n%+v\n%+v", l, r)
		}
		if aa, changed := a.Merge(a); changed || !aa.Equal(a) {
			t.Fatalf("not idempotent: %+v", aa)
		}
		// changed is exactly "result differs from receiver", and the result
		// dominates both inputs (merging either again changes nothing).
		ab, changed := a.Merge(b)
		if changed == ab.Equal(a) {
			t.Fatalf("changed=%v but equal=%v", changed, ab.Equal(a))
		}
		if _, ch := ab.Merge(a); ch {
			t.Fatal("result does not dominate a")
		}
		if _, ch := ab.Merge(b); ch {
			t.Fatal("result does not dominate b")
		}
	}
}

func TestDocCodecRoundTrip(t *testing.T) {
	d := doc(
		Member{ID: "n1", Addr: "10.0.0.1:7300", Gossip: "10.0.0.1:7200", Zone: "a", State: StateValid, Version: 3, Self: 2, Ready: "x", ReadyEpoch: 2, Empty: true},
		Member{ID: "n2", Addr: "10.0.0.2:7300", Gossip: "10.0.0.2:7200", State: StateRemoved, Version: 9, Gen: 4},
	).WithRing(RingRecord{Epoch: 3, Members: []string{"n1"}})
	b, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"state":"removed"`) || !strings.HasPrefix(string(b), `{"v":2,`) ||
		!strings.Contains(string(b), `"ring":{"epoch":3,"members":["n1"]}`) {
		t.Fatalf("unexpected encoding %s", b)
	}
	got, err := UnmarshalDoc(b)
	if err != nil || !got.Equal(d) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	b2, _ := got.Marshal()
	if string(b2) != string(b) {
		t.Fatalf("encoding not canonical:\n%s\n%s", b, b2)
	}
}

// TestUnmarshalDocV1: a document of format 1 (no ring record) gets its
// valid and leaving members as the ring, at epoch 1.
func TestUnmarshalDocV1(t *testing.T) {
	const v1 = `{"v":1,"cluster":{"partitions":16,"replicas":3},"members":[` +
		`{"id":"a","addr":"h:1","gossip":"h:2","state":"valid","version":1},` +
		`{"id":"b","addr":"h:1","gossip":"h:2","state":"leaving","version":1},` +
		`{"id":"c","addr":"h:1","gossip":"h:2","state":"joining","version":1}]}`
	d, err := UnmarshalDoc([]byte(v1))
	if err != nil {
		t.Fatal(err)
	}
	if d.Epoch() != 1 || !slices.Equal(d.RingMembers(), []string{"a", "b"}) {
		t.Fatalf("ring %+v", d.Ring)
	}
}

func TestUnmarshalDocRejects(t *testing.T) {
	const ok = `{"v":2,"cluster":{"partitions":16,"replicas":3},"ring":{"epoch":1,"members":["a"]},"members":[{"id":"a","addr":"h:1","gossip":"h:2","state":"valid","version":1}]}`
	if _, err := UnmarshalDoc([]byte(ok)); err != nil {
		t.Fatalf("valid doc rejected: %v", err)
	}
	for name, in := range map[string]string{
		"empty":         ``,
		"null":          `null`,
		"not json":      `{"v":2,`,
		"version":       strings.Replace(ok, `"v":2`, `"v":3`, 1),
		"unknown field": strings.Replace(ok, `"v":2`, `"v":2,"x":0`, 1),
		"ring unsorted": strings.Replace(ok, `["a"]`, `["b","a"]`, 1),
		"ring dup":      strings.Replace(ok, `["a"]`, `["a","a"]`, 1),
		"ring no epoch": strings.Replace(ok, `"epoch":1`, `"epoch":0`, 1),
		"ring empty id": strings.Replace(ok, `["a"]`, `[""]`, 1),
		"gen above ver": strings.Replace(ok, `"version":1`, `"version":1,"gen":2`, 1),
		"trailing":      ok + `{}`,
		"bad cluster":   strings.Replace(ok, `"partitions":16`, `"partitions":0`, 1),
		"bad state":     strings.Replace(ok, `"valid"`, `"dead"`, 1),
		"numeric state": strings.Replace(ok, `"valid"`, `1`, 1),
		"empty id":      strings.Replace(ok, `"id":"a"`, `"id":""`, 1),
		"duplicate":     strings.Replace(ok, `]}`, `,{"id":"a","state":"valid","version":2,"addr":"","gossip":""}]}`, 1),
		"neg version":   strings.Replace(ok, `"version":1`, `"version":-1`, 1),
		"long id":       strings.Replace(ok, `"id":"a"`, `"id":"`+strings.Repeat("x", 200)+`"`, 1),
	} {
		if _, err := UnmarshalDoc([]byte(in)); err == nil {
			t.Errorf("%s: accepted %q", name, in)
		}
	}
}

func FuzzUnmarshalDoc(f *testing.F) {
	d := doc(Member{ID: "n1", Addr: "h:1", Gossip: "h:2", Zone: "z", State: StateLeaving, Version: 5})
	b, _ := d.Marshal()
	f.Add(b)
	f.Add([]byte(`{"v":1,"cluster":{"partitions":1,"replicas":1},"members":null}`))
	f.Add([]byte(`{"v":2,"cluster":{"partitions":1,"replicas":1},"ring":{"epoch":2,"members":["a"]},"members":null}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		d, err := UnmarshalDoc(in)
		if err != nil {
			return
		}
		out, err := d.Marshal()
		if err != nil {
			t.Fatalf("decoded doc does not encode: %v", err)
		}
		d2, err := UnmarshalDoc(out)
		if err != nil || !d2.Equal(d) {
			t.Fatalf("re-decode: %+v, %v", d2, err)
		}
	})
}

package ring

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{StateJoining: "joining", StateValid: "valid", StateLeaving: "leaving", StateRemoved: "removed", State(9): "state(9)"} {
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
	a2 := Member{ID: "a", Addr: "h:2", State: StateValid, Version: 2}
	a1Leaving := Member{ID: "a", Addr: "h:1", State: StateLeaving, Version: 1}
	a1OtherAddr := Member{ID: "a", Addr: "h:9", State: StateValid, Version: 1}
	b1 := Member{ID: "b", Addr: "h:3", State: StateJoining, Version: 1}
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
		Member{ID: "d", State: StateRemoved},
		Member{ID: "c", State: StateLeaving},
		Member{ID: "b", State: StateJoining},
		Member{ID: "a", State: StateValid},
	)
	if got := d.RingMembers(); !slices.Equal(got, []string{"a", "c"}) {
		t.Fatalf("RingMembers = %v", got)
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
			State:   State(rng.IntN(4)),
			Version: uint64(rng.IntN(3)),
		}
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
		Member{ID: "n1", Addr: "10.0.0.1:7300", Gossip: "10.0.0.1:7200", Zone: "a", State: StateValid, Version: 3},
		Member{ID: "n2", Addr: "10.0.0.2:7300", Gossip: "10.0.0.2:7200", State: StateRemoved, Version: 9},
	)
	b, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"state":"removed"`) || !strings.HasPrefix(string(b), `{"v":1,`) {
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

func TestUnmarshalDocRejects(t *testing.T) {
	const ok = `{"v":1,"cluster":{"partitions":16,"replicas":3},"members":[{"id":"a","addr":"h:1","gossip":"h:2","state":"valid","version":1}]}`
	if _, err := UnmarshalDoc([]byte(ok)); err != nil {
		t.Fatalf("valid doc rejected: %v", err)
	}
	for name, in := range map[string]string{
		"empty":         ``,
		"null":          `null`,
		"not json":      `{"v":1,`,
		"version":       strings.Replace(ok, `"v":1`, `"v":2`, 1),
		"unknown field": strings.Replace(ok, `"v":1`, `"v":1,"x":0`, 1),
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

package ring

import (
	"slices"
	"testing"
)

// member returns an entry for id in state s that holds data (not Empty).
func member(id string, s State) Member { return Member{ID: id, State: s, Version: 1} }

func ready(m Member, c Change) Member {
	m.Ready, m.ReadyEpoch = c.Signature(), c.Epoch
	return m
}

func TestChange(t *testing.T) {
	d := doc(member("a", StateValid), member("b", StateLeaving), member("c", StateRemoved),
		member("d", StateJoining), member("e", StateParked), member("f", StateValid)).
		WithRing(RingRecord{Epoch: 5, Members: []string{"a", "b", "c", "f"}})
	c := d.Change()
	want := Change{Epoch: 5, From: []string{"a", "b", "c", "f"}, To: []string{"a", "d", "f"},
		Joining: []string{"d"}, Leaving: []string{"b"}, Removing: []string{"c"}}
	if !slices.Equal(c.From, want.From) || !slices.Equal(c.To, want.To) || !slices.Equal(c.Joining, want.Joining) ||
		!slices.Equal(c.Leaving, want.Leaving) || !slices.Equal(c.Removing, want.Removing) || c.Epoch != 5 {
		t.Fatalf("Change = %+v, want %+v", c, want)
	}
	if !c.Pending() || !slices.Equal(c.MustBeReady(), []string{"a", "b", "d", "f"}) {
		t.Fatalf("pending %v, must be ready %v", c.Pending(), c.MustBeReady())
	}
	if stable := doc(member("a", StateValid)).WithRing(RingRecord{Epoch: 1, Members: []string{"a"}}).Change(); stable.Pending() {
		t.Fatalf("stable ring has a change: %+v", stable)
	}
}

// TestNextRing: a change commits only when every member it waits for is
// ready for exactly this target at exactly this epoch, or when the
// committed ring holds no data; the new record is one epoch on.
func TestNextRing(t *testing.T) {
	ring3 := RingRecord{Epoch: 7, Members: []string{"a", "b", "c"}}
	base := doc(member("a", StateValid), member("b", StateValid), member("c", StateValid), member("d", StateJoining)).WithRing(ring3)
	c := base.Change()
	allReady := base.With(ready(base.Members["a"], c)).With(ready(base.Members["b"], c)).
		With(ready(base.Members["c"], c)).With(ready(base.Members["d"], c))
	staleEpoch := allReady.With(func() Member { m := allReady.Members["d"]; m.ReadyEpoch = 6; return m }())
	otherTarget := allReady.With(func() Member { m := allReady.Members["d"]; m.Ready = Signature([]string{"a", "b", "c"}); return m }())
	empty := base
	for _, id := range []string{"a", "b", "c"} {
		m := empty.Members[id]
		m.Empty = true
		empty = empty.With(m)
	}
	partlyEmpty := empty.With(base.Members["b"])
	partlyEmptyReady := partlyEmpty.With(ready(base.Members["b"], c))
	next := RingRecord{Epoch: 8, Members: []string{"a", "b", "c", "d"}}
	for _, tc := range []struct {
		name string
		d    Doc
		want bool
	}{
		{"nobody ready", base, false},
		{"all ready", allReady, true},
		{"ready at an older epoch (a rejoin's stale readiness)", staleEpoch, false},
		{"ready for another target", otherTarget, false},
		{"committed ring holds nothing: nobody empty is waited for", empty, true},
		{"one member holds data and is not ready", partlyEmpty, false},
		{"one member holds data and is ready: the ring holds data, everyone is waited for", partlyEmptyReady, false},
		{"stable", allReady.WithRing(next), false},
		{"no ring yet", doc(member("d", StateJoining)), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := tc.d.NextRing(nil)
			if ok != tc.want || (ok && !r.equal(next)) {
				t.Fatalf("NextRing = %+v, %v; want %v", r, ok, tc.want)
			}
		})
	}
	if nr := base.NotReady(c); !slices.Equal(nr, []string{"a", "b", "c", "d"}) {
		t.Fatalf("NotReady = %v", nr)
	}
}

// TestCommitted: a commit installs the record and brings the entries in
// line: joiners in the ring become valid, leaving and removed ones out of
// it become removed, parked ones stay parked.
func TestCommitted(t *testing.T) {
	d := doc(member("a", StateValid), member("b", StateLeaving), member("c", StateRemoved),
		member("d", StateJoining), member("e", StateParked)).
		WithRing(RingRecord{Epoch: 3, Members: []string{"a", "b", "c"}})
	got := d.Committed(RingRecord{Epoch: 4, Members: d.TargetMembers()})
	if !slices.Equal(got.RingMembers(), []string{"a", "d"}) || got.Epoch() != 4 {
		t.Fatalf("ring %+v", got.Ring)
	}
	for id, want := range map[string]Member{
		"a": member("a", StateValid),
		"b": {ID: "b", State: StateRemoved, Version: 2},
		"c": member("c", StateRemoved),
		"d": {ID: "d", State: StateValid, Version: 2},
		"e": member("e", StateParked),
	} {
		if got.Members[id] != want {
			t.Errorf("%s: %+v, want %+v", id, got.Members[id], want)
		}
	}
}

// TestUnmoved: a member is unmoved when it replicates the same partitions
// in both rings; with N=3 a third member moves neither of the first two,
// a fourth moves everybody's.
func TestUnmoved(t *testing.T) {
	build := func(ids ...string) *Ring {
		r, err := Build(ClusterConfig{64, 3}, ids, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if got := Unmoved(build("a", "b"), build("a", "b", "c")); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("two to three: %v", got)
	}
	if got := Unmoved(build("a", "b", "c"), build("a", "b", "c", "d")); len(got) != 0 {
		t.Fatalf("three to four: %v", got)
	}
	if got := Unmoved(build("a", "b", "c"), build("a", "b")); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("three to two: %v", got)
	}
}

// TestNextRingSkipsUnmoved: a member the change does not move is not
// waited for; every other member still is.
func TestNextRingSkipsUnmoved(t *testing.T) {
	d := doc(member("a", StateValid), member("b", StateValid), member("c", StateJoining)).
		WithRing(RingRecord{Epoch: 4, Members: []string{"a", "b"}})
	c := d.Change()
	if _, ok := d.NextRing([]string{"a", "b"}); ok {
		t.Fatal("committed while the joiner is not ready")
	}
	d = d.With(ready(d.Members["c"], c)).With(ready(d.Members["a"], c))
	if _, ok := d.NextRing(nil); ok {
		t.Fatal("committed while b, which holds data, is not ready and not unmoved")
	}
	r, ok := d.NextRing([]string{"a", "b"})
	if !ok || !r.equal(RingRecord{Epoch: 5, Members: []string{"a", "b", "c"}}) {
		t.Fatalf("NextRing = %+v, %v", r, ok)
	}
}

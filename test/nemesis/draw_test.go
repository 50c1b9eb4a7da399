package nemesis

import (
	"slices"
	"testing"
	"time"
)

// A cycle of the draw holds every regular kind once and the membership
// kinds spread through it, memberPerCycle at a time, in turn.
func TestDrawSpreadsMembership(t *testing.T) {
	kinds := append(slices.Clone(DefaultFaults), MembershipFaults...)
	n := newNemesis(nil, nil, 3, kinds, nil, 0, 0, 0, time.Time{}, func(string, ...any) {})
	var cycle []string
	for range len(kinds) {
		cycle = append(cycle, n.next())
	}
	for _, k := range kinds {
		if c := count(cycle, k); c != 1 {
			t.Fatalf("cycle %v holds %s %d times", cycle, k, c)
		}
	}
	// 12 kinds, 4 membership: at positions 1, 4, 7, 10.
	for _, i := range []int{1, 4, 7, 10} {
		if !isMembership(cycle[i]) {
			t.Fatalf("cycle %v: position %d is not a membership change", cycle, i)
		}
	}
	n = newNemesis(nil, nil, 3, kinds, nil, 0, 0, 0, time.Time{}, func(string, ...any) {})
	n.memberPerCycle = 2
	var got []string
	for range 2 * (len(DefaultFaults) + 2) {
		if k := n.next(); isMembership(k) {
			got = append(got, k)
		}
	}
	slices.Sort(got)
	want := slices.Clone(MembershipFaults)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("two cycles of 2 drew %v, want each of %v once", got, want)
	}
}

func count(s []string, k string) int {
	n := 0
	for _, x := range s {
		if x == k {
			n++
		}
	}
	return n
}

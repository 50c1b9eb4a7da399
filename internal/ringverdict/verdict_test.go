package ringverdict

import (
	"fmt"
	"strings"
	"testing"
)

// members builds members n1, n2, … from specs "up/valid", "down/joining".
func members(spec ...string) []Member {
	var out []Member
	for i, s := range spec {
		st, state, _ := strings.Cut(s, "/")
		out = append(out, Member{ID: fmt.Sprintf("n%d", i+1), Up: st == "up", State: state})
	}
	return out
}

func diskFull(ms []Member, i int) []Member {
	ms[i].DiskFull = true
	return ms
}

func repairing(ms []Member, i, left int) []Member {
	ms[i].Repairing = left
	return ms
}

func TestLine(t *testing.T) {
	for _, tc := range []struct {
		members   []Member
		replicas  int
		transfers int
		want      string
	}{
		{members("up/valid", "up/valid", "up/valid"), 3, 0, "3 up, 0 down, 0 joining, 0 leaving — healthy"},
		{members("up/valid", "up/valid", "down/valid"), 3, 0, "2 up, 1 down, 0 joining, 0 leaving — degraded: QUORUM works, ALL fails for keys on down nodes"},
		{members("up/valid", "down/valid", "down/valid"), 3, 0, "1 up, 2 down, 0 joining, 0 leaving — unavailable: QUORUM fails for keys on down nodes"},
		{members("up/valid", "up/valid", "up/valid", "up/joining"), 3, 12, "4 up, 0 down, 1 joining, 0 leaving, 12 partitions moving — rebalancing"},
		{members("up/valid", "up/valid", "up/valid", "up/leaving"), 3, 0, "4 up, 0 down, 0 joining, 1 leaving — rebalancing"},
		{members("up/valid", "up/valid"), 3, 0, "2 up, 0 down, 0 joining, 0 leaving — under-replicated: 2 members for 3 replicas"},
		{members("up/valid", "up/valid", "up/valid", "down/parked"), 3, 0, "3 up, 1 down, 0 joining, 0 leaving, 1 parked — healthy"},
		{members("up/valid", "up/valid", "up/valid", "down/joining"), 3, 0, "3 up, 1 down, 1 joining, 0 leaving — rebalancing"},
		{members("up/valid"), 1, 0, "1 up, 0 down, 0 joining, 0 leaving — healthy"},
		{members("down/valid"), 1, 0, "0 up, 1 down, 0 joining, 0 leaving — unavailable: QUORUM fails for keys on down nodes"},
		{nil, 3, 0, "no members"},
		{diskFull(members("up/valid", "up/valid", "up/valid"), 1), 3, 0, "3 up, 0 down, 0 joining, 0 leaving — degraded for writes; disk full on n2 (writes go to the other replicas)"},
		{diskFull(diskFull(members("up/valid", "up/valid", "up/valid"), 0), 2), 3, 0, "3 up, 0 down, 0 joining, 0 leaving — degraded for writes; disk full on n1, n3 (writes go to the other replicas)"},
		{repairing(members("up/valid", "up/valid", "up/valid"), 2, 12), 3, 12, "3 up, 0 down, 0 joining, 0 leaving, 12 partitions moving — repairing: n3 (12 partitions left), reads of those go to other replicas"},
		{repairing(members("up/valid", "down/valid", "up/valid"), 2, 5), 3, 5, "2 up, 1 down, 0 joining, 0 leaving, 5 partitions moving — degraded: QUORUM works, ALL fails for keys on down nodes; repairing: n3 (5 partitions left), reads of those go to other replicas"},
	} {
		if got := Line(tc.members, tc.replicas, tc.transfers); got != tc.want {
			t.Errorf("Line(%+v, %d, %d) =\n  %q\nwant\n  %q", tc.members, tc.replicas, tc.transfers, got, tc.want)
		}
	}
}

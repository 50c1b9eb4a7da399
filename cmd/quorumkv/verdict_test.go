package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func members(spec ...string) []memberOutput {
	var out []memberOutput
	for _, s := range spec { // "up/valid"
		st, state, _ := strings.Cut(s, "/")
		out = append(out, memberOutput{Status: st, State: state})
	}
	return out
}

// diskFull names the members n1, n2, ... and marks member i's disk full.
func diskFull(ms []memberOutput, i int) []memberOutput {
	for j := range ms {
		ms[j].ID = fmt.Sprintf("n%d", j+1)
	}
	ms[i].DiskFull = true
	return ms
}

// repairingMember names the members n1, n2, … and marks member i as
// repairing left partitions.
func repairingMember(ms []memberOutput, i, left int) []memberOutput {
	for j := range ms {
		ms[j].ID = fmt.Sprintf("n%d", j+1)
	}
	ms[i].Repairing = left
	return ms
}

func TestVerdict(t *testing.T) {
	for _, tc := range []struct {
		members   []memberOutput
		transfers int
		want      string
	}{
		{members("up/valid", "up/valid", "up/valid"), 0, "3 up, 0 down, 0 joining, 0 leaving — healthy"},
		{members("up/valid", "up/valid", "down/valid"), 0, "2 up, 1 down, 0 joining, 0 leaving — degraded: QUORUM works, ALL fails for keys on down nodes"},
		{members("up/valid", "down/valid", "down/valid"), 0, "1 up, 2 down, 0 joining, 0 leaving — unavailable: QUORUM fails for keys on down nodes"},
		{members("up/valid", "up/valid", "up/valid", "up/joining"), 12, "4 up, 0 down, 1 joining, 0 leaving, 12 partitions moving — rebalancing"},
		{members("up/valid", "up/valid", "up/valid", "up/leaving"), 0, "4 up, 0 down, 0 joining, 1 leaving — rebalancing"},
		{members("up/valid", "up/valid"), 0, "2 up, 0 down, 0 joining, 0 leaving — under-replicated: 2 members for 3 replicas"},
		{members("up/valid", "up/joining", "up/joining"), 5, "3 up, 0 down, 2 joining, 0 leaving, 5 partitions moving — under-replicated: 1 members for 3 replicas"},
		{members("up/valid", "up/valid", "up/valid", "down/parked"), 0, "3 up, 1 down, 0 joining, 0 leaving, 1 parked — healthy"},
		{members("up/valid", "up/valid", "up/valid", "down/joining"), 0, "3 up, 1 down, 1 joining, 0 leaving — rebalancing"},
		{nil, 0, "no members"},
		{diskFull(members("up/valid", "up/valid", "up/valid"), 1), 0, "3 up, 0 down, 0 joining, 0 leaving — degraded for writes; disk full on n2 (writes go to the other replicas)"},
		{diskFull(members("up/valid", "up/valid", "down/valid"), 1), 0, "2 up, 1 down, 0 joining, 0 leaving — degraded: QUORUM works, ALL fails for keys on down nodes; disk full on n2 (writes go to the other replicas)"},
		{repairingMember(members("up/valid", "up/valid", "up/valid"), 2, 12), 12, "3 up, 0 down, 0 joining, 0 leaving, 12 partitions moving — repairing: n3 (12 partitions left), reads of those go to other replicas"},
		{repairingMember(members("up/valid", "down/valid", "up/valid"), 2, 5), 5, "2 up, 1 down, 0 joining, 0 leaving, 5 partitions moving — degraded: QUORUM works, ALL fails for keys on down nodes; repairing: n3 (5 partitions left), reads of those go to other replicas"},
	} {
		if got := verdict(tc.members, 3, tc.transfers); got != tc.want {
			t.Errorf("verdict(%v) =\n  %q\nwant\n  %q", tc.members, got, tc.want)
		}
	}
}

func TestPrintPlan(t *testing.T) {
	p := planOutput{
		Join: []string{"n4"}, MembersBefore: []string{"n1", "n2", "n3"}, MembersAfter: []string{"n1", "n2", "n3", "n4"},
		Moves: []moveOutput{
			{Node: "n1", Lose: 256}, {Node: "n4", Gain: 768, EstKeys: 7680, EstBytes: 3 << 20},
		},
		PartitionsMoving: 768, EstKeys: 7680, EstBytes: 3 << 20,
	}
	var b bytes.Buffer
	if err := printPlan(&b, p, "apply with `quorumkv ring commit`"); err != nil {
		t.Fatal(err)
	}
	want := "join    n4\n" +
		"members: n1,n2,n3 -> n1,n2,n3,n4\n" +
		"NODE  GAINS  LOSES  EST KEYS  EST BYTES\n" +
		"n1    0      256    0         0 B\n" +
		"n4    768    0      7680      3.0 MiB\n" +
		"768 partitions move, about 7680 keys (3.0 MiB)\n" +
		"apply with `quorumkv ring commit`\n"
	if b.String() != want {
		t.Fatalf("plan output:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	p.Problems = []string{"only 2 members for 3 replicas: every key would be under-replicated"}
	p.Applied = true
	_ = printPlan(&b, p, "")
	if !strings.Contains(b.String(), "WARNING: only 2 members") || !strings.Contains(b.String(), "ring transfers --watch") {
		t.Fatalf("plan with problems:\n%s", b.String())
	}
	b.Reset()
	_ = printPlan(&b, planOutput{}, "")
	if b.String() != "no staged changes\n" {
		t.Fatalf("empty plan: %q", b.String())
	}
}

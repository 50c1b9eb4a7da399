package ring

import (
	"fmt"
	"slices"
	"testing"
)

func TestPlanChange(t *testing.T) {
	cfg := ClusterConfig{Partitions: 64, Replicas: 3}
	ids := func(n int) []string {
		var out []string
		for i := 1; i <= n; i++ {
			out = append(out, fmt.Sprintf("n%d", i))
		}
		return out
	}
	for _, tc := range []struct {
		name         string
		from, to     []string
		wantProblems int
		wantMovers   []string // nodes that gain or lose
		noMoves      bool
	}{
		{name: "no change", from: ids(3), to: ids(3), noMoves: true},
		{name: "3 to 4: the new node gains, the others lose", from: ids(3), to: ids(4), wantMovers: ids(4)},
		{name: "4 to 3: the leaving node loses", from: ids(4), to: ids(3), wantMovers: ids(4)},
		{name: "3 to 2: under-replicated", from: ids(3), to: ids(2), wantProblems: 1, wantMovers: []string{"n3"}},
		{name: "1 to 0: everything lost", from: ids(1), to: nil, wantProblems: 1, wantMovers: []string{"n1"}},
		{name: "bootstrap 0 to 3", from: nil, to: ids(3), wantMovers: ids(3)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := PlanChange(cfg, tc.from, tc.to)
			if err != nil {
				t.Fatal(err)
			}
			if len(plan.Problems) != tc.wantProblems {
				t.Fatalf("problems = %q, want %d", plan.Problems, tc.wantProblems)
			}
			if tc.noMoves {
				if len(plan.Moves) != 0 || plan.PartitionsMoving != 0 {
					t.Fatalf("moves on no change: %+v", plan)
				}
				return
			}
			var movers []string
			gain, lose := 0, 0
			for _, m := range plan.Moves {
				movers = append(movers, m.Node)
				gain += m.Gain
				lose += m.Lose
			}
			if !slices.Equal(movers, tc.wantMovers) {
				t.Fatalf("movers = %v, want %v", movers, tc.wantMovers)
			}
			// Replica slots are conserved: what one node gains another loses,
			// except where the replica count itself changes.
			slotsFrom := cfg.Partitions * min(len(tc.from), cfg.Replicas)
			slotsTo := cfg.Partitions * min(len(tc.to), cfg.Replicas)
			if gain-lose != slotsTo-slotsFrom {
				t.Fatalf("gain %d - lose %d != %d", gain, lose, slotsTo-slotsFrom)
			}
			if plan.PartitionsMoving == 0 || plan.PartitionsMoving > cfg.Partitions {
				t.Fatalf("partitions moving = %d", plan.PartitionsMoving)
			}
		})
	}
}

package ring

import (
	"fmt"
	"slices"
)

// NodeMove is how many partitions (replica slots) one node gains and loses
// in a membership change.
type NodeMove struct {
	Node       string
	Gain, Lose int
}

// Plan describes a membership change before anything moves.
type Plan struct {
	From, To []string
	// Moves lists every node that gains or loses partitions, by node id.
	Moves []NodeMove
	// PartitionsMoving counts partitions whose replica set changes.
	PartitionsMoving int
	// Problems are placement problems of the resulting ring.
	Problems []string
}

// PlanChange compares the ring of members from with the ring of members to.
// It is pure: the same inputs always give the same plan.
func PlanChange(cfg ClusterConfig, from, to []string) (Plan, error) {
	a, err := Build(cfg, from)
	if err != nil {
		return Plan{}, err
	}
	b, err := Build(cfg, to)
	if err != nil {
		return Plan{}, err
	}
	plan := Plan{From: a.Members(), To: b.Members()}
	gain, lose := map[string]int{}, map[string]int{}
	for p := range cfg.Partitions {
		pa, pb := a.Preference(p), b.Preference(p)
		moved := false
		for _, n := range pb {
			if !slices.Contains(pa, n) {
				gain[n]++
				moved = true
			}
		}
		for _, n := range pa {
			if !slices.Contains(pb, n) {
				lose[n]++
				moved = true
			}
		}
		if moved {
			plan.PartitionsMoving++
		}
	}
	for _, n := range union(plan.From, plan.To) {
		if gain[n]+lose[n] > 0 {
			plan.Moves = append(plan.Moves, NodeMove{Node: n, Gain: gain[n], Lose: lose[n]})
		}
	}
	plan.Problems = placementProblems(cfg, b)
	return plan, nil
}

func placementProblems(cfg ClusterConfig, r *Ring) []string {
	m := r.Len()
	switch {
	case m == 0:
		return []string{"no members would be left: every key would be lost"}
	case m < cfg.Replicas:
		return []string{fmt.Sprintf("only %d members for %d replicas: every key would be under-replicated", m, cfg.Replicas)}
	}
	short := 0
	for p := range cfg.Partitions {
		if len(r.Preference(p)) < cfg.Replicas {
			short++
		}
	}
	if short > 0 {
		return []string{fmt.Sprintf("%d partitions would have fewer than %d distinct replicas", short, cfg.Replicas)}
	}
	return nil
}

func union(a, b []string) []string {
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

package ring

import (
	"fmt"
	"math"
	"slices"
	"strings"
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

// PlanChange compares the ring of members from with the ring of members to,
// each placed by its zones. It is pure: the same inputs always give the
// same plan.
func PlanChange(cfg ClusterConfig, from []string, fromZones Zones, to []string, toZones Zones) (Plan, error) {
	a, err := Build(cfg, from, fromZones)
	if err != nil {
		return Plan{}, err
	}
	b, err := Build(cfg, to, toZones)
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
	return zoneProblems(cfg, r)
}

// zoneLoadSpread is how far (as a share of the mean) a member's replica
// count may stray before the plan calls the zones unbalanced.
const zoneLoadSpread = 0.15

// zoneProblems reports what keeps a zoned ring from placing every
// partition's replicas in N distinct zones with even load.
func zoneProblems(cfg ClusterConfig, r *Ring) []string {
	z := r.ZoneCount()
	if z < 2 {
		return nil
	}
	var out []string
	if z < cfg.Replicas {
		out = append(out, fmt.Sprintf("only %d zones for %d replicas: partitions keep two replicas in one zone", z, cfg.Replicas))
	}
	var bare []string
	for _, id := range r.members {
		if r.Zone(id) == "" {
			bare = append(bare, id)
		}
	}
	if len(bare) > 0 {
		out = append(out, fmt.Sprintf("members without a zone (placed as one zone of their own): %s", strings.Join(bare, ", ")))
	}
	mean := float64(cfg.Partitions*r.n) / float64(len(r.members))
	worst, dev := "", 0.0
	for _, id := range r.members {
		if d := math.Abs(float64(r.PrimaryCount(id))/mean - 1); d > dev {
			worst, dev = id, d
		}
	}
	if dev > zoneLoadSpread {
		out = append(out, fmt.Sprintf("zones of unequal size: %s would replicate %d partitions, %+.0f%% of the mean %.0f",
			worst, r.PrimaryCount(worst), 100*(float64(r.PrimaryCount(worst))/mean-1), mean))
	}
	return out
}

func union(a, b []string) []string {
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

package ring

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestPlacementScripts runs the scripts in testdata/placement: rings built
// from members, partitions and N, printed as preference lists and owned
// counts, and the plans of membership changes. Regenerate the expectations
// with -rewrite.
//
//	build partitions=8 replicas=3 members=n1,n2,n3 [zones=n1:a,n2:b] [prefs]
//	plan partitions=64 replicas=3 from=n1,n2,n3 to=n1,n2,n3,n4 [zones=...]
//
// zones gives members' zones (id:zone pairs), for both rings of a plan;
// a zoned build also prints each preference list's distinct zones.
//
// Every plan is also checked for conserved replica slots.
func TestPlacementScripts(t *testing.T) {
	datadriven.Walk(t, "testdata/placement", func(t *testing.T, path string) {
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			var cfg ClusterConfig
			d.ScanArgs(t, "partitions", &cfg.Partitions)
			d.ScanArgs(t, "replicas", &cfg.Replicas)
			switch d.Cmd {
			case "build":
				return printRing(t, d, cfg)
			case "plan":
				return printPlan(t, d, cfg)
			}
			d.Fatalf(t, "unknown command %s", d.Cmd)
			return ""
		})
	})
}

func printRing(t *testing.T, d *datadriven.TestData, cfg ClusterConfig) string {
	r, err := Build(cfg, members(d, "members"), zonesArg(d))
	if err != nil {
		return fmt.Sprintf("error: %v\n", err)
	}
	var b strings.Builder
	if d.HasArg("prefs") {
		for p := range cfg.Partitions {
			fmt.Fprintf(&b, "partition %d: %s (fallbacks %s)\n", p, strings.Join(r.Preference(p), " "), strings.Join(r.Fallbacks(p), " "))
		}
	}
	for _, m := range r.Members() {
		fmt.Fprintf(&b, "%s: primary %d, owned %d\n", m, r.PrimaryCount(m), r.OwnedCount(m))
	}
	if r.ZoneCount() >= 2 {
		spread := map[int]int{}
		for p := range cfg.Partitions {
			zs := map[string]bool{}
			for _, id := range r.Preference(p) {
				zs[r.Zone(id)] = true
			}
			spread[len(zs)]++
		}
		for k := 1; k <= cfg.Replicas; k++ {
			if spread[k] > 0 {
				fmt.Fprintf(&b, "partitions with %d zones: %d\n", k, spread[k])
			}
		}
	}
	return b.String()
}

// zonesArg is the zones argument: id:zone pairs, comma-separated.
func zonesArg(d *datadriven.TestData) Zones {
	var z Zones
	for _, kv := range members(d, "zones") {
		id, zone, _ := strings.Cut(kv, ":")
		if z == nil {
			z = Zones{}
		}
		z[id] = zone
	}
	return z
}

func printPlan(t *testing.T, d *datadriven.TestData, cfg ClusterConfig) string {
	from, to := members(d, "from"), members(d, "to")
	plan, err := PlanChange(cfg, from, zonesArg(d), to, zonesArg(d))
	if err != nil {
		return fmt.Sprintf("error: %v\n", err)
	}
	checkPlanInvariants(t, d, cfg, len(from), len(to), plan)
	var b strings.Builder
	fmt.Fprintf(&b, "partitions moving: %d\n", plan.PartitionsMoving)
	for _, m := range plan.Moves {
		fmt.Fprintf(&b, "%s: +%d -%d\n", m.Node, m.Gain, m.Lose)
	}
	for _, p := range plan.Problems {
		fmt.Fprintf(&b, "problem: %s\n", p)
	}
	return b.String()
}

// checkPlanInvariants: replica slots are conserved (what one node gains
// another loses, except where the replica count itself changes), and a plan
// with moves moves between 1 and every partition.
func checkPlanInvariants(t *testing.T, d *datadriven.TestData, cfg ClusterConfig, from, to int, plan Plan) {
	gain, lose := 0, 0
	for _, m := range plan.Moves {
		gain += m.Gain
		lose += m.Lose
	}
	slotsFrom := cfg.Partitions * min(from, cfg.Replicas)
	slotsTo := cfg.Partitions * min(to, cfg.Replicas)
	if gain-lose != slotsTo-slotsFrom {
		d.Fatalf(t, "gain %d - lose %d != %d", gain, lose, slotsTo-slotsFrom)
	}
	if len(plan.Moves) == 0 && plan.PartitionsMoving != 0 {
		d.Fatalf(t, "%d partitions moving without moves", plan.PartitionsMoving)
	}
	if len(plan.Moves) > 0 && (plan.PartitionsMoving == 0 || plan.PartitionsMoving > cfg.Partitions) {
		d.Fatalf(t, "partitions moving = %d", plan.PartitionsMoving)
	}
}

// members is the comma-separated list argument key (nil when absent or empty).
func members(d *datadriven.TestData, key string) []string {
	for _, a := range d.CmdArgs {
		if a.Key != key {
			continue
		}
		var out []string
		for _, v := range a.Vals {
			for s := range strings.SplitSeq(v, ",") {
				if s != "" {
					out = append(out, s)
				}
			}
		}
		return out
	}
	return nil
}

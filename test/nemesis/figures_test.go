package nemesis

import (
	"testing"
	"time"
)

func TestOpFigures(t *testing.T) {
	iso := &faultSnap{epoch: 1, kind: FaultIsolate, nodes: []int{2}, single: true}
	quiet := &faultSnap{epoch: 2}
	part := &faultSnap{epoch: 3, kind: FaultPartition, nodes: []int{0, 2}}
	ops := []opRecord{
		{node: 0, fault: iso, lat: time.Millisecond},                             // majority ok
		{node: 1, fault: iso, class: "unavailable_write", lat: time.Millisecond}, // majority failure
		{node: 2, fault: iso, class: "unavailable_write", lat: 2 * time.Second},  // isolated, fast
		{node: 2, fault: iso, class: "timeout", lat: 5 * time.Second},            // isolated, hung
		{node: -1, fault: iso},                                                                      // routed
		{node: -1, fault: quiet, class: "node_unreachable"},                                         // routed, no fault
		{node: 0, fault: part, class: "unavailable_read"},                                           // not a single-node fault
		{node: 0, fault: iso, class: "unavailable_write", healedDuring: true, lat: time.Second},     // spans a heal
		{node: 1, fault: iso, class: "unavailable_read", at: 9 * time.Second, lat: 2 * time.Second}, // overlaps a commit
		{node: 1, fault: iso, at: 12 * time.Second, lat: time.Millisecond},                          // overlaps a commit
	}
	commits := []window{{from: 10500 * time.Millisecond, to: 12 * time.Second}}
	n, fails, av := opFigures(ops, 5*time.Second, []string{"n1", "n2", "n3"}, commits)
	if ex := av.CommitExclusion; ex.EpochChanges != 1 || ex.Ops != 2 || ex.MajorityOps != 2 || ex.MajorityFailed != 1 {
		t.Fatalf("commit exclusion: %+v", ex)
	}
	if n != len(ops) || fails["unavailable_write"] != 3 || fails["timeout"] != 1 {
		t.Fatalf("ops %d, failures %v", n, fails)
	}
	if av.MajorityOps != 2 || av.MajorityOK != 1 || av.MajorityOK99 || av.MajorityFailures["n2 unavailable_write"] != 1 {
		t.Fatalf("majority: %+v", av.SideStats)
	}
	if av.IsolatedOps != 2 || av.IsolatedFast != 1 || av.IsolatedHung != 1 || av.IsolatedFailFast {
		t.Fatalf("isolated: %+v fail fast %v", av.SideStats, av.IsolatedFailFast)
	}
	if av.Routed.Ops != 1 || av.Routed.OK != 1 {
		t.Fatalf("routed: %+v", av.Routed)
	}
	if av.Quiet.Ops != 1 || av.Quiet.Failed != 1 || av.Quiet.ByNode["routed node_unreachable"] != 1 {
		t.Fatalf("quiet: %+v", av.Quiet)
	}
}

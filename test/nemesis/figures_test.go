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

// Pause and slow faults are judged on every request of the ring-aware
// client, including one that outlived the fault, and each stall is put
// down to where it waited.
func TestUserFigures(t *testing.T) {
	pause := &faultSnap{epoch: 1, kind: FaultPause, nodes: []int{1}, single: true}
	slow := &faultSnap{epoch: 2, kind: FaultSlow, nodes: []int{2}, single: true}
	unhealed := &faultSnap{epoch: 3, kind: FaultPause, nodes: []int{0}} // began before the last fault healed
	var ops []opRecord
	for range 97 {
		ops = append(ops, opRecord{node: -1, fault: pause, lat: 5 * time.Millisecond, coordinator: "n1"})
	}
	ops = append(ops,
		opRecord{node: -1, fault: pause, lat: 3 * time.Second, coordinator: "n2", healedDuring: true}, // sent to the frozen node
		opRecord{node: -1, fault: pause, lat: 2 * time.Second, coordinator: "n3"},                     // a healthy coordinator waited
		opRecord{node: -1, fault: pause, lat: 5 * time.Second, class: "timeout"},
		opRecord{node: 0, fault: pause, lat: 5 * time.Second, class: "timeout"}, // pinned: judged on the majority side
		opRecord{node: -1, fault: unhealed, lat: 5 * time.Second, class: "timeout"},
		opRecord{node: -1, fault: slow, lat: 300 * time.Millisecond, coordinator: "n1"},
	)
	_, _, av := opFigures(ops, 5*time.Second, []string{"n1", "n2", "n3"}, nil)
	p := av.Users[FaultPause]
	if p == nil || p.Ops != 100 || p.OK != 99 || p.Ratio != 0.99 || p.Failures["timeout"] != 1 {
		t.Fatalf("pause: %+v", p)
	}
	if p.Stalls["faulted_coordinator"] != 1 || p.Stalls["healthy_coordinator"] != 1 || p.Stalls["failed"] != 1 {
		t.Fatalf("pause stalls: %v", p.Stalls)
	}
	if p.P99Ms != 3000 || p.MaxMs != 5000 || p.met() || av.UsersOK {
		t.Fatalf("pause p99 %d max %d met %v, users ok %v", p.P99Ms, p.MaxMs, p.met(), av.UsersOK)
	}
	if s := av.Users[FaultSlow]; s == nil || s.Ops != 1 || !s.met() {
		t.Fatalf("slow: %+v", s)
	}
}

package nemesis

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"
)

// The bite test runs the harness on real namespaces: it needs root,
// iproute2 and iptables, and takes about a minute, so it runs only when
// QUORUMKV_NEMESIS=1 (`make nemesis-bite` sets it).
func needNemesis(t *testing.T) string {
	t.Helper()
	if os.Getenv("QUORUMKV_NEMESIS") != "1" {
		t.Skip("set QUORUMKV_NEMESIS=1 (or run `make nemesis-bite`): needs root, network namespaces and iptables")
	}
	if err := checkTools(); err != nil {
		t.Skip(err)
	}
	return binary(t, "QUORUMKV_BINARY", "")
}

// binary is $env, or a build with tags.
func binary(t *testing.T, env, tags string) string {
	t.Helper()
	if bin := os.Getenv(env); bin != "" {
		return bin
	}
	bin, err := BuildBinaryTags(t.TempDir(), tags)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// biteConfig: every client request goes through n1; at W=2 a write is on n1
// and (with a healthy store) on a second replica when it is acknowledged.
// Then n1's disk is lost (SIGKILL, data directory removed, restart). Periodic
// anti-entropy is off so nothing but the write path copies data before the
// wipe. A healthy store loses nothing; a store whose replicas acknowledge
// without storing (--test-bug=skip-apply) loses every write acknowledged
// before the wipe, and the harness must say so.
func biteConfig(bin, bug string, logf func(string, ...any)) Config {
	return Config{
		Seed: 7, Duration: 12 * time.Second, Nodes: 3, Binary: bin,
		Faults: []string{FaultWipe}, Interval: 20 * time.Second, FirstFault: 5 * time.Second,
		HoldMin: 2 * time.Second, HoldMax: 2 * time.Second,
		Coordinators: []int{0}, UniqueWorkers: 1, SetWorkers: 1, DeleteWorkers: 1,
		Think: 5 * time.Millisecond, ConvergeTimeout: 30 * time.Second,
		TestBug: bug, ServerFlags: []string{"--anti-entropy-interval=0"},
		SubnetFrom: 100, KeepData: "never", Logf: logf,
	}
}

func TestNemesisBites(t *testing.T) {
	bin := needNemesis(t)
	logf := func(format string, args ...any) { t.Logf(format, args...) }
	run := func(t *testing.T, bug string) *Summary {
		sum, err := Run(context.Background(), biteConfig(bin, bug, logf))
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		b, _ := json.Marshal(sum)
		t.Logf("summary: %s", b)
		if sum.Acknowledged == 0 || sum.Faults != 1 || sum.FaultsByKind[FaultWipe] != 1 {
			t.Fatalf("the scenario did not run as designed: %d acknowledged, faults %v", sum.Acknowledged, sum.FaultsByKind)
		}
		return sum
	}
	t.Run("skip-apply loses writes", func(t *testing.T) {
		sum := run(t, "skip-apply")
		if sum.Lost == 0 || sum.OK {
			t.Fatalf("replicas acknowledged writes they never stored and n1's disk was lost, yet the harness reports lost=%d ok=%v", sum.Lost, sum.OK)
		}
		t.Logf("the checker bites: %d of %d acknowledged writes lost: %v", sum.Lost, sum.Acknowledged, sum.Why)
	})
	t.Run("healthy store loses nothing", func(t *testing.T) {
		sum := run(t, "")
		if !sum.OK {
			t.Fatalf("a healthy store failed the same scenario: %v\n%v", sum.Why, sum.Examples)
		}
	})
}

// reapBiteConfig: n3 is down (SIGKILL) from t=4s to the end of the
// workloads (t=24s) while keys are put and deleted through n1 (each key
// once: put, then delete after 0-10 s): values put before n3 went down are
// on its disk, the deletes of many of them are not. The tombstone grace is
// 6 s (hints live 3 s and are kept for 2 s of a replica's absence, so n3
// gets none of those deletes by hint), anti-entropy runs every second on 64
// partitions. A healthy reaper never reaps while a replica is down, so when
// n3 comes back the tombstones win. A reaper that skips the all-replicas
// check (the qkvbug_reapall build) reaps them on n1 and n2 while n3 is
// down; n3's old values then come back when it restarts, and the harness
// must say so.
func reapBiteConfig(bin, keep string, logf func(string, ...any)) Config {
	return Config{
		Seed: 11, Duration: 24 * time.Second, Nodes: 3, Binary: bin,
		Faults: []string{FaultKill}, Targets: []int{2}, Interval: time.Minute, FirstFault: 4 * time.Second,
		HoldMin: time.Minute, HoldMax: time.Minute,
		Coordinators: []int{0}, UniqueWorkers: 1, SetWorkers: 0, DeleteWorkers: 2, DeleteSteps: 2,
		Think: 5 * time.Millisecond, ConvergeTimeout: 40 * time.Second,
		TombstoneGrace: 6 * time.Second, HintWindow: 2 * time.Second, AntiEntropyInterval: time.Second,
		Partitions: 64, SubnetFrom: 110, KeepData: keep, Logf: logf,
	}
}

func TestNemesisBitesReap(t *testing.T) {
	needNemesis(t)
	logf := func(format string, args ...any) { t.Logf(format, args...) }
	run := func(t *testing.T, bin, keep string) *Summary {
		sum, err := Run(context.Background(), reapBiteConfig(bin, keep, logf))
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		b, _ := json.Marshal(sum)
		t.Logf("summary: %s", b)
		if sum.Acknowledged == 0 || sum.Faults != 1 || sum.FaultsByKind[FaultKill] != 1 || sum.Schedule[0].Nodes[0] != "n3" {
			t.Fatalf("the scenario did not run as designed: %d acknowledged, faults %v", sum.Acknowledged, sum.Schedule)
		}
		return sum
	}
	t.Run("reap without the all-replicas check resurrects deletes", func(t *testing.T) {
		sum := run(t, binary(t, "QUORUMKV_BINARY_REAPALL", "qkvbug_reapall"), "never")
		if sum.Resurrected == 0 || sum.OK {
			t.Fatalf("tombstones were reaped while n3 was down with the values they delete, yet the harness reports resurrected=%d ok=%v (reaped %d)", sum.Resurrected, sum.OK, sum.TombstonesReaped)
		}
		t.Logf("the checker bites: %d deletes undone (%d tombstones reaped): %v", sum.Resurrected, sum.TombstonesReaped, sum.Why)
	})
	t.Run("healthy reaper resurrects nothing", func(t *testing.T) {
		sum := run(t, binary(t, "QUORUMKV_BINARY", ""), "failure")
		if !sum.OK {
			t.Fatalf("a healthy store failed the same scenario: %v\n%v", sum.Why, sum.Examples)
		}
	})
}

package paxossim

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// seedCount is how many seeds a simulation test runs: def, a fifth of it
// with -short, or PAXOSSIM_SEEDS (the nightly run sets 10000).
func seedCount(t *testing.T, def int) int {
	if v := os.Getenv("PAXOSSIM_SEEDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("PAXOSSIM_SEEDS=%q: want a positive count", v)
		}
		return n
	}
	if testing.Short() {
		return max(def/5, 1)
	}
	return def
}

// firstSeed: PAXOSSIM_SEED runs from that seed (to replay a failure).
func firstSeed(t *testing.T) uint64 {
	v := os.Getenv("PAXOSSIM_SEED")
	if v == "" {
		return 1
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		t.Fatalf("PAXOSSIM_SEED=%q: %v", v, err)
	}
	return n
}

// checkRun runs cfg and fails t on any broken invariant or a history
// porcupine does not find linearizable (a checker time-out is a failure).
func checkRun(t *testing.T, cfg Config) Report {
	t.Helper()
	rep, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range rep.Violations {
		if i == 5 {
			t.Errorf("seed %d: %d more", cfg.Seed, len(rep.Violations)-5)
			break
		}
		t.Errorf("seed %d: %v", cfg.Seed, v)
	}
	if res := CheckHistory(rep.History, 20*time.Second); res != porcupine.Ok {
		t.Errorf("seed %d: porcupine says %v for %d operations", cfg.Seed, res, len(rep.History))
	}
	return rep
}

func sum(agg *Stats, s Stats) {
	agg.Steps += s.Steps
	agg.Rounds += s.Rounds
	agg.FastRounds += s.FastRounds
	agg.ReadsAtPrepare += s.ReadsAtPrepare
	agg.Ops += s.Ops
	agg.Acked += s.Acked
	agg.UnknownOps += s.UnknownOps
	agg.FailedOps += s.FailedOps
	agg.DoubleApplied += s.DoubleApplied
	agg.ExactlyOnceIncrs += s.ExactlyOnceIncrs
	agg.Moves += s.Moves
}

// TestSimulation runs 500 seeds (100 with -short; PAXOSSIM_SEEDS=10000
// for the nightly run, PAXOSSIM_SEED to start elsewhere) of VariedConfig:
// three or five acceptors, three proposers, three to five clients on one
// to three keys, a lossy, duplicating, reordering network, acceptor and
// proposer crashes and cut links (calm in one seed of three). Every step
// is checked; every history goes through porcupine; every operation id is
// counted along its register's final lineage.
func TestSimulation(t *testing.T) {
	start := time.Now()
	n, first := seedCount(t, 500), firstSeed(t)
	var agg Stats
	for seed := first; seed < first+uint64(n); seed++ {
		sum(&agg, checkRun(t, VariedConfig(seed)).Stats)
		if t.Failed() {
			t.Fatalf("seed %d failed (replay: PAXOSSIM_SEED=%d PAXOSSIM_SEEDS=1)", seed, seed)
		}
	}
	t.Logf("%d seeds in %v: %d steps, %d ops (%d acked, %d unknown, %d not applied), %d rounds (%d fast, %d reads at prepare), %d increments exactly once, %d window overruns",
		n, time.Since(start).Round(time.Millisecond), agg.Steps, agg.Ops, agg.Acked, agg.UnknownOps, agg.FailedOps, agg.Rounds, agg.FastRounds, agg.ReadsAtPrepare, agg.ExactlyOnceIncrs, agg.DoubleApplied)
	if n >= 20 && agg.ReadsAtPrepare == 0 {
		t.Errorf("no read ended at its prepare in %d seeds: the shortcut went untested", n)
	}
}

// TestSimulationIsDeterministic: a seed always makes the same trace; two
// seeds make different ones.
func TestSimulationIsDeterministic(t *testing.T) {
	for _, cfg := range []Config{VariedConfig(42), VariedConfig(43), withMoves(DefaultConfig(44), 2)} {
		a, err := Run(cfg)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := Run(cfg)
		if a.Trace != b.Trace || a.Stats != b.Stats || len(a.History) != len(b.History) {
			t.Fatalf("seed %d: traces %x and %x differ", cfg.Seed, a.Trace, b.Trace)
		}
		cfg.Seed++
		c, _ := Run(cfg)
		if c.Trace == a.Trace {
			t.Fatalf("seeds %d and %d made the same trace", cfg.Seed-1, cfg.Seed)
		}
	}
}

func withMoves(c Config, moves int) Config {
	c.Moves = moves
	c.OpsPerClient = 20
	return c
}

// TestJointMovesKeepChosenValues (also R7, paper §2.3: replace every
// acceptor one by one): while clients run and faults strike, the ring
// moves three times, each move replacing the oldest acceptor by a new one
// (so the three of the first configuration are all replaced): joint
// epoch, an identity round per key under joint quorums, then the new
// epoch alone. No chosen value may be lost: every step is checked and
// every history goes through porcupine.
func TestJointMovesKeepChosenValues(t *testing.T) {
	start := time.Now()
	n, first := seedCount(t, 200), firstSeed(t)
	var agg Stats
	for seed := first; seed < first+uint64(n); seed++ {
		sum(&agg, checkRun(t, withMoves(DefaultConfig(seed), 3)).Stats)
		if t.Failed() {
			t.Fatalf("seed %d failed (replay: PAXOSSIM_SEED=%d PAXOSSIM_SEEDS=1)", seed, seed)
		}
	}
	if agg.Moves != 3*n {
		t.Fatalf("%d moves finished, want %d", agg.Moves, 3*n)
	}
	t.Logf("%d seeds in %v: %d moves, %d ops (%d acked, %d unknown), %d rounds (%d fast, %d reads at prepare)",
		n, time.Since(start).Round(time.Millisecond), agg.Moves, agg.Ops, agg.Acked, agg.UnknownOps, agg.Rounds, agg.FastRounds, agg.ReadsAtPrepare)
}

// TestSimulationCatchesAMoveWithoutCatchUp: the same moves without the
// identity rounds lose chosen values (the new acceptors start empty and
// soon form quorums of their own), and the checks must say so in some
// seed: the simulator is able to see the loss it guards against.
func TestSimulationCatchesAMoveWithoutCatchUp(t *testing.T) {
	caught := 0
	for seed := uint64(1); seed <= 60 && caught == 0; seed++ {
		cfg := withMoves(DefaultConfig(seed), 3)
		cfg.SkipCatchUp = true
		rep, err := Run(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Violations) > 0 || CheckHistory(rep.History, 20*time.Second) != porcupine.Ok {
			caught++
		}
	}
	if caught == 0 {
		t.Fatal("60 seeds of moves without catch-up and no check failed")
	}
}

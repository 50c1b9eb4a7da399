package bench

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/client"
)

// TestRepeatedRunsLeaveNoSiblings runs the write workload several times with
// the same seed, each run with fresh drivers (as separate `quorumkv bench`
// processes), one client each so no two updates of a key race. Updates that
// read a key before writing it leave no siblings; blind updates do.
func TestRepeatedRunsLeaveNoSiblings(t *testing.T) {
	eps := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	careful := siblingRuns(ctx, t, eps, "careful/", false)
	if careful.reported != 0 || careful.keys != 0 {
		t.Errorf("updates with contexts: runs reported %d sibling writes, %d keys hold siblings, want 0", careful.reported, careful.keys)
	}
	blind := siblingRuns(ctx, t, eps, "blind/", true)
	if blind.reported == 0 || blind.keys == 0 {
		t.Errorf("blind updates: runs reported %d sibling writes, %d keys hold siblings, want some", blind.reported, blind.keys)
	}
}

type siblingCount struct {
	reported int64 // the runs' Siblings.Writes, summed
	keys     int   // keys holding more than one value afterwards
}

const siblingRecords = 40

// siblingRuns loads siblingRecords keys under prefix, runs five bounded
// write runs with seed 1 and counts the siblings left.
func siblingRuns(ctx context.Context, t *testing.T, eps []string, prefix string, blind bool) siblingCount {
	t.Helper()
	load := Config{Workload: Workloads["load"], Records: siblingRecords, KeyPrefix: prefix, ValueSize: ValueSize{20, 20}, Seed: 1, Clients: 1}
	runOnce(ctx, t, eps, load, blind)
	var n siblingCount
	for range 5 {
		cfg := Config{Workload: Workloads["write"], Records: siblingRecords, KeyPrefix: prefix, ValueSize: ValueSize{20, 20},
			Seed: 1, Clients: 1, Ops: 30}
		n.reported += runOnce(ctx, t, eps, cfg, blind).Siblings.Writes
	}
	cl, err := client.New(eps)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := range int64(siblingRecords) {
		res, err := cl.Get(ctx, keyName(prefix, i), client.WithLevel(client.All))
		if err != nil && !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("reading back %s: %v", keyName(prefix, i), err)
		}
		if len(res.Values) > 1 {
			n.keys++
		}
	}
	return n
}

// runOnce runs cfg with a fresh driver, as one bench process would.
func runOnce(ctx context.Context, t *testing.T, eps []string, cfg Config, blind bool) *Report {
	t.Helper()
	o := QuorumkvOptions{Endpoints: eps, Level: client.Quorum}
	if !blind {
		o.Contexts = NewContextCache(0)
	}
	d, err := NewQuorumkv(o)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rep, err := Run(ctx, cfg, []Driver{d})
	if err != nil {
		t.Fatal(err)
	}
	if n := rep.Total.ErrorTotal(); n > 0 && !blind {
		t.Fatalf("%s: %d errors: %v", cfg.Workload.Name, n, rep.Total.ErrorSamples)
	}
	return rep
}

// TestFreshKeysLeaveNoSiblings: on a key prefix no run used, --fresh-keys
// creates each key with its first update (no read) and updates it with the
// context it saw afterwards: keys written many times hold one value.
func TestFreshKeysLeaveNoSiblings(t *testing.T) {
	eps := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d, err := NewQuorumkv(QuorumkvOptions{Endpoints: eps, Level: client.Quorum, Contexts: NewContextCache(0), FreshKeys: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	const records = 10
	cfg := Config{Workload: Workloads["write"], Records: records, KeyPrefix: "fresh/", ValueSize: ValueSize{20, 20}, Seed: 1, Clients: 1, Ops: 100}
	rep, err := Run(ctx, cfg, []Driver{d})
	if err != nil || rep.Total.ErrorTotal() > 0 || rep.Siblings.Writes != 0 {
		t.Fatalf("run: %v, %d errors, %d sibling writes", err, rep.Total.ErrorTotal(), rep.Siblings.Writes)
	}
	cl, err := client.New(eps)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := range int64(records) {
		res, err := cl.Get(ctx, keyName("fresh/", i), client.WithLevel(client.All))
		if err != nil && !errors.Is(err, client.ErrNotFound) {
			t.Fatal(err)
		}
		if len(res.Values) > 1 {
			t.Errorf("%s holds %d values", keyName("fresh/", i), len(res.Values))
		}
	}
}

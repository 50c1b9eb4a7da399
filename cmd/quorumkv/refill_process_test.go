package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/quorumkv/quorumkv/client"
)

// soloClient is a client that sends everything to server i, which
// coordinates it (no ring-aware routing).
func (pc *procCluster) soloClient(i int) *client.Client {
	pc.t.Helper()
	c, err := client.New([]string{pc.procs[i].listen}, client.WithoutRouting(), client.WithAttemptTimeout(5*time.Second))
	if err != nil {
		pc.t.Fatal(err)
	}
	pc.t.Cleanup(func() { _ = c.Close() })
	return c
}

// repairingLeft asks the server c talks to how many partitions it still
// repairs.
func repairingLeft(c *client.Client) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ns, err := c.NodeStatus(ctx)
	if err != nil {
		return 0, err
	}
	return int(ns.GetRepairingPartitions()), nil
}

// ringStatusJSON is `ring status -o json` through server i.
func (pc *procCluster) ringStatusJSON(i int) (statusOutput, error) {
	out, code := pc.cli("ring", "status", "-o", "json", "--endpoints", pc.procs[i].listen)
	var st statusOutput
	if code != 0 {
		return st, fmt.Errorf("ring status exited %d: %s", code, out)
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return st, fmt.Errorf("%v: %s", err, out)
	}
	return st, nil
}

// readRound reads keys key-0… key-(n-1) at level through cl and fails the
// test on any "not found" or wrong value. It returns how many reads failed
// with another error (unavailable while the node repairs).
func readRound(t *testing.T, cl *client.Client, n int, level client.Level) int {
	t.Helper()
	failed := 0
	for i := range n {
		k := fmt.Sprintf("key-%d", i)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res, err := cl.Get(ctx, []byte(k), client.WithLevel(level))
		cancel()
		switch {
		case errors.Is(err, client.ErrNotFound):
			t.Fatalf("read of acknowledged %s at %v: not found", k, level)
		case err != nil:
			failed++
		case len(res.Values) != 1 || string(res.Values[0]) != "val-"+k:
			t.Fatalf("read of %s at %v = %q", k, level, res.Values)
		}
	}
	return failed
}

// TestProcessLostWALRefills: n3's WAL is deleted while it is stopped, so
// it restarts without the last writes it acknowledged. It says so (ring
// status: repairing), answers no read from its own copy meanwhile (reads
// through it at ONE still find every key, from another replica), refills
// itself from the other replicas without an operator, and is then healthy
// and holds every key.
func TestProcessLostWALRefills(t *testing.T) {
	const keys = 40
	pc := startProcCluster(t, 3)
	// A restart first: Pebble flushes the WAL it replays, so n3's tables
	// then hold its ring state (and, before the fix, the marker of its
	// clean stop); the writes below stay in the WAL only.
	pc.stop(2)
	pc.start(2)
	pc.waitRing(3)
	putKeys(t, pc.client(0, 1, 2), keys)
	pc.stop(2)
	logs := filesWithSuffix(t, pc.procs[2].data, ".log")
	if len(logs) == 0 {
		t.Fatalf("no WAL in %s", pc.procs[2].data)
	}
	for _, f := range logs {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	// With n2 down too, n3 cannot finish repairing: a QUORUM write it lost
	// may be on n2 alone.
	pc.stop(1)
	pc.start(2)
	n3 := pc.soloClient(2)

	// Phase 1: repairing, held up by n2.
	waitFor(t, 20*time.Second, func() error {
		st, err := pc.ringStatusJSON(2)
		if err != nil {
			return err
		}
		for _, m := range st.Members {
			if m.ID == "n3" && m.Repairing > 0 && strings.Contains(st.Verdict, "repairing") {
				return nil
			}
		}
		return fmt.Errorf("n3 not shown repairing: %+v, verdict %q", st.Members, st.Verdict)
	})
	if failed := readRound(t, n3, keys, client.One); failed != 0 {
		t.Fatalf("%d of %d reads at ONE through repairing n3 failed (n1 is up)", failed, keys)
	}
	// QUORUM and ALL cannot be met (n2 down, n3 refuses), never "not found".
	readRound(t, n3, keys, client.Quorum)
	readRound(t, n3, keys, client.All)

	// Phase 2: n2 back; n3 finishes without an operator. Every read
	// through n3 meanwhile finds every key.
	started := time.Now()
	pc.start(1)
	rounds := 0
	for deadline := started.Add(60 * time.Second); ; rounds++ {
		left, err := repairingLeft(n3)
		if err == nil && left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("n3 still repairing %d partitions (%v) after 60 s", left, err)
		}
		readRound(t, n3, keys, client.One)
		readRound(t, n3, keys, client.Quorum)
		readRound(t, n3, keys, client.All)
	}
	t.Logf("n3 repaired %v after n2's restart began (%d read rounds meanwhile)", time.Since(started).Round(time.Millisecond), rounds)
	waitFor(t, 20*time.Second, func() error {
		st, err := pc.ringStatusJSON(0)
		if err != nil {
			return err
		}
		if !strings.HasSuffix(st.Verdict, "healthy") {
			return fmt.Errorf("verdict %q", st.Verdict)
		}
		return nil
	})
	if failed := readRound(t, n3, keys, client.All); failed != 0 {
		t.Fatalf("%d of %d reads at ALL through repaired n3 failed", failed, keys)
	}
	// n3 holds every key itself now.
	pc.kill(0)
	pc.kill(1)
	if failed := readRound(t, n3, keys, client.One); failed != 0 {
		t.Fatalf("n3 alone: %d of %d reads at ONE failed", failed, keys)
	}
}

// TestProcessKilledNodeRefillsQuickly: a node killed with SIGKILL restarts
// as a new incarnation and repairs every partition; with the other two up,
// every read through it at ONE and QUORUM succeeds meanwhile (from the
// other replicas), ALL never says "not found", and the repair ends without
// an operator within seconds.
func TestProcessKilledNodeRefillsQuickly(t *testing.T) {
	const keys = 200
	pc := startProcCluster(t, 3)
	cl := pc.client(0, 1, 2)
	putKeys(t, cl, keys/2)
	pc.kill(2)
	// Writes n3 misses while it is down (hints and the refill bring them).
	putKeysFrom(t, cl, keys/2, keys)
	started := time.Now()
	pc.start(2)
	serving := time.Since(started)
	n3 := pc.soloClient(2)
	rounds, unavailable := 0, 0
	for deadline := started.Add(60 * time.Second); ; rounds++ {
		left, err := repairingLeft(n3)
		if err == nil && left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("n3 still repairing %d partitions (%v) after 60 s", left, err)
		}
		if failed := readRound(t, n3, keys, client.One) + readRound(t, n3, keys, client.Quorum); failed != 0 {
			t.Fatalf("%d reads at ONE or QUORUM through repairing n3 failed with n1 and n2 up", failed)
		}
		unavailable += readRound(t, n3, keys, client.All)
	}
	t.Logf("n3 repaired %v after its restart began (serving after %v; %d read rounds meanwhile, %d reads at ALL unavailable)",
		time.Since(started).Round(time.Millisecond), serving.Round(time.Millisecond), rounds, unavailable)
	if failed := readRound(t, n3, keys, client.All); failed != 0 {
		t.Fatalf("%d of %d reads at ALL through repaired n3 failed", failed, keys)
	}
}

// putKeysFrom writes keys key-from … key-(to-1) at QUORUM (putKeys' keys
// and values).
func putKeysFrom(t *testing.T, cl *client.Client, from, to int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := from; i < to; i++ {
		g.Go(func() error {
			k := fmt.Sprintf("key-%d", i)
			_, err := cl.Put(gctx, []byte(k), []byte("val-"+k), client.WithLevel(client.Quorum))
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/quorumkv/quorumkv/client"
)

func (pc *procCluster) client(ids ...int) *client.Client {
	pc.t.Helper()
	var eps []string
	for _, i := range ids {
		eps = append(eps, pc.procs[i].listen)
	}
	c, err := client.New(eps, client.WithAttemptTimeout(5*time.Second))
	if err != nil {
		pc.t.Fatal(err)
	}
	pc.t.Cleanup(func() { _ = c.Close() })
	return c
}

// hintsPending asks the cluster (through the CLI) how many hints are pending.
func (pc *procCluster) hintsPending(ids ...int) (uint64, error) {
	var eps []string
	for _, i := range ids {
		eps = append(eps, pc.procs[i].listen)
	}
	out, code := pc.cli("hints", "-o", "json", "--endpoints", strings.Join(eps, ","))
	if code != 0 {
		return 0, fmt.Errorf("hints exited %d: %s", code, out)
	}
	var h hintsOutput
	if err := json.Unmarshal([]byte(out), &h); err != nil {
		return 0, fmt.Errorf("%v: %s", err, out)
	}
	return h.Pending, nil
}

func putKeys(t *testing.T, cl *client.Client, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := range n {
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

// readAllAtOne reads every key at ONE and counts those with the right value.
func readAllAtOne(t *testing.T, cl *client.Client, n int) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ok := 0
	for i := range n {
		k := fmt.Sprintf("key-%d", i)
		res, err := cl.Get(ctx, []byte(k), client.WithLevel(client.One))
		if err == nil && len(res.Values) == 1 && string(res.Values[0]) == "val-"+k {
			ok++
		}
	}
	return ok
}

func (pc *procCluster) waitNoHints(ids ...int) {
	pc.t.Helper()
	waitFor(pc.t, 60*time.Second, func() error {
		n, err := pc.hintsPending(ids...)
		if err != nil {
			return err
		}
		if n != 0 {
			return fmt.Errorf("%d hints pending", n)
		}
		return nil
	})
}

// TestProcessHintedHandoff: kill n3, write 500 keys through n1 at QUORUM,
// restart n3, wait until no hints are pending, kill n1 and n2: every key
// reads at ONE through n3.
func TestProcessHintedHandoff(t *testing.T) {
	pc := startProcCluster(t, 3)
	pc.kill(2)
	putKeys(t, pc.client(0), 500)
	if n, err := pc.hintsPending(0, 1); err != nil || n == 0 {
		t.Fatalf("hints pending with n3 down: %d, %v", n, err)
	}
	pc.start(2)
	pc.waitNoHints(0, 1, 2)
	pc.kill(0)
	pc.kill(1)
	if got := readAllAtOne(t, pc.client(2), 500); got != 500 {
		t.Fatalf("n3 alone serves %d/500 keys at ONE", got)
	}
}

// TestProcessHintHolderRestart: the hint holder is SIGKILLed before it can
// replay; after its restart the hints are still there and are delivered.
func TestProcessHintHolderRestart(t *testing.T) {
	pc := startProcCluster(t, 3)
	pc.kill(2)
	putKeys(t, pc.client(0), 300)
	held, err := pc.hintsPending(0, 1)
	if err != nil || held == 0 {
		t.Fatalf("hints pending with n3 down: %d, %v", held, err)
	}
	pc.kill(0)
	pc.kill(1)
	pc.start(0)
	pc.start(1)
	if after, err := pc.hintsPending(0, 1); err != nil || after != held {
		t.Fatalf("hints after the holders' restart: %d (%v), want %d", after, err, held)
	}
	pc.start(2)
	pc.waitNoHints(0, 1, 2)
	pc.kill(0)
	pc.kill(1)
	if got := readAllAtOne(t, pc.client(2), 300); got != 300 {
		t.Fatalf("n3 alone serves %d/300 keys at ONE", got)
	}
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

func allLevel() client.CallOption { return client.WithLevel(client.All) }

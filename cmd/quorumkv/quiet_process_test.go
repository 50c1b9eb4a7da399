package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/client"
)

// TestProcessPausedReplicaServerSide: three servers with the LAN gossip
// timers (a frozen node is not seen down for seconds), load through
// clients pinned to n1 and n2, and n3 SIGSTOPped for 5 s. n3 is a replica
// of every key, but the coordinators answer from the two healthy ones:
// reads ask the responsive replicas (and hedge), writes do not wait on the
// quiet one. Over the pause >= 99 % of the operations succeed and their
// p99 is at most 1 s (the bar, for the server side alone: these
// clients never send to n3).
func TestProcessPausedReplicaServerSide(t *testing.T) {
	pc := startProcCluster(t, 3, "--gossip-profile", "lan")
	var clients []*client.Client
	for _, p := range pc.procs[:2] {
		c, err := client.New([]string{p.listen}, client.WithoutRouting(), client.WithAttemptTimeout(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	type op struct {
		at, lat time.Duration
		err     error
	}
	var mu sync.Mutex
	var ops []op
	start := time.Now()
	ctx, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	var wg sync.WaitGroup
	const workers, maxOps = 8, 20000
	for w := range workers {
		c := clients[w%len(clients)]
		wg.Go(func() {
			for i := 0; i < maxOps && ctx.Err() == nil; i++ {
				key := []byte(fmt.Sprintf("k-%d-%d", w, i%200))
				octx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				t0 := time.Now()
				var err error
				if i%2 == 0 {
					_, err = c.Put(octx, key, []byte("v"))
				} else if _, err = c.Get(octx, key); errors.Is(err, client.ErrNotFound) {
					err = nil
				}
				lat := time.Since(t0)
				cancel()
				mu.Lock()
				ops = append(ops, op{at: t0.Sub(start), lat: lat, err: err})
				mu.Unlock()
			}
		})
	}
	time.Sleep(2 * time.Second) // load before the pause (timing only shapes the run; the checks are on recorded ops)
	n3 := pc.procs[2].cmd.Process
	pauseAt := time.Since(start)
	if err := n3.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Second)
	resumeAt := time.Since(start)
	if err := n3.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	stop()
	wg.Wait()

	var lats []time.Duration
	failed := 0
	var firstErr error
	for _, o := range ops {
		if o.at < pauseAt || o.at >= resumeAt {
			continue
		}
		lats = append(lats, o.lat)
		if o.err != nil {
			failed++
			firstErr = cmp.Or(firstErr, o.err)
		}
	}
	if len(lats) < 100 {
		t.Fatalf("only %d operations during the pause", len(lats))
	}
	slices.Sort(lats)
	p99 := lats[(99*len(lats)+99)/100-1]
	t.Logf("during the pause: %d operations, %d failed, p50 %v, p99 %v, max %v", len(lats), failed, lats[len(lats)/2], p99, lats[len(lats)-1])
	if failed*100 > len(lats) {
		t.Errorf("%d of %d operations failed during the pause (want <= 1 %%); first: %v", failed, len(lats), firstErr)
	}
	if p99 > time.Second {
		t.Errorf("p99 over the pause %v, want <= 1s", p99)
	}
}

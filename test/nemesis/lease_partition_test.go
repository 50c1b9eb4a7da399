package nemesis

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/client"
)

// TestLeasePartition cuts n3 off from n1 and n2 (both ways, gossip and
// gRPC) while registrants renew their instances on 3 s leases:
//
//   - "maj" renews through n1 all along; "dies" registers through n1 and
//     stops renewing after 8 s, inside the partition; "min" renews through
//     n3 alone, and its keep-alives keep succeeding there (one replica's
//     acknowledgement is enough).
//   - On the minority side (n3) nothing expires: it sees one member of
//     three up, reports lease expiry frozen and counts no expiry, though
//     every lease there but min's goes unrenewed for the whole partition.
//   - On the majority side renewals keep "maj" listed at every look, and
//     "dies" leaves the list (min's renewals never reach the majority, so it
//     leaves too: its registrant re-registers after the heal).
//   - After the heal every live instance is listed through every node, and
//     "dies" never comes back, not even after an anti-entropy round has
//     copied n3's stale copy of it around.
func TestLeasePartition(t *testing.T) {
	bin := needNemesis(t)
	logf := func(format string, args ...any) { t.Logf(format, args...) }
	cleanStale(logf)
	net, err := newNetwork(3, 120, logf)
	if err != nil {
		t.Fatal(err)
	}
	defer net.teardown()
	dir := t.TempDir()
	c, err := newCluster(net, bin, dir, "", nil, 64, 3, 2*time.Second, false, logf)
	if err != nil {
		t.Fatal(err)
	}
	defer c.closeClients()
	defer c.killAll()
	defer func() {
		if t.Failed() {
			for _, p := range c.procs {
				if b, err := os.ReadFile(p.logPath); err == nil {
					t.Logf("=== %s log (last 4 KiB):\n%s", p.id, tail(b, 4096))
				}
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for i := range 3 {
		c.procs[i].setMember(true)
		if err := c.start(i, 0, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.waitRing(ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	n1, n2, n3 := c.procs[0].kv, c.procs[1].kv, c.procs[2].kv

	maj := &registryInstance{id: "maj"}
	dies := &registryInstance{id: "dies", dies: 8 * time.Second}
	minority := &registryInstance{id: "min"}
	viaN1 := &registryWorkload{kv: n1, insts: []*registryInstance{maj, dies}}
	viaN3 := &registryWorkload{kv: n3, insts: []*registryInstance{minority}}
	runCtx, stopRegistrants := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, w := range []*registryWorkload{viaN1, viaN3} {
		for _, in := range w.insts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w.run(runCtx, in, 2*time.Second)
			}()
		}
	}
	defer wg.Wait()
	defer stopRegistrants()

	waitListed(t, ctx, n1, 15*time.Second, []string{"maj", "dies", "min"}, nil)

	logf("cutting n3 off from n1 and n2")
	for _, j := range []int{0, 1} {
		if err := net.cutPair(2, j); err != nil {
			t.Fatal(err)
		}
	}
	healed := false
	defer func() {
		if !healed {
			_ = net.healAll()
		}
	}()
	cut := time.Now()
	waitFor(t, ctx, 20*time.Second, "n3 to freeze lease expiry", func() error {
		st, err := n3.NodeStatus(ctx)
		if err != nil {
			return err
		}
		if !st.GetLeases().GetFrozen() {
			return fmt.Errorf("n3 lease stats %v", st.GetLeases())
		}
		return nil
	})
	logf("n3 froze lease expiry %.1fs after the cut", time.Since(cut).Seconds())

	// Hold the partition for 20 s: "maj" must be listed through n1 at every
	// look, and "dies" must leave the list.
	var missed []string
	diesGone := time.Duration(0)
	for time.Since(cut) < 20*time.Second {
		lctx, lcancel := context.WithTimeout(ctx, 3*time.Second)
		ids, err := listIDs(lctx, n1)
		lcancel()
		at := time.Since(cut).Round(100 * time.Millisecond)
		switch {
		case err != nil:
			missed = append(missed, fmt.Sprintf("%v: list through n1 failed: %v", at, err))
		case !slices.Contains(ids, "maj"):
			missed = append(missed, fmt.Sprintf("%v: maj not listed through n1 (%v)", at, ids))
		}
		if err == nil && !slices.Contains(ids, "dies") && diesGone == 0 && !dies.diedAtSafe(viaN1).IsZero() {
			diesGone = time.Since(dies.diedAtSafe(viaN1))
		}
		if !sleep(ctx, 500*time.Millisecond) {
			t.Fatal(ctx.Err())
		}
	}
	if len(missed) > 0 {
		t.Errorf("the majority side lost an instance it kept renewing: %v", missed)
	}
	if diesGone == 0 {
		t.Errorf("the instance that died during the partition was still listed through n1 after %v", time.Since(dies.diedAtSafe(viaN1)))
	} else {
		logf("'dies' left the majority's list %.1fs after its last renewal tick", diesGone.Seconds())
	}
	st, err := n3.NodeStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ls := st.GetLeases()
	logf("n3 at the end of the partition: %v", ls)
	if !ls.GetFrozen() || ls.GetExpired() != 0 || ls.GetOverdue() == 0 {
		t.Errorf("the minority side must hold overdue leases frozen and expire none: %v", ls)
	}

	logf("healing")
	if err := net.healAll(); err != nil {
		t.Fatal(err)
	}
	healed = true
	for _, kv := range []*client.Client{n1, n2, n3} {
		waitListed(t, ctx, kv, 30*time.Second, []string{"maj", "min"}, []string{"dies"})
	}
	if _, _, _, err := c.repairRound(ctx); err != nil {
		t.Fatalf("anti-entropy round: %v", err)
	}
	for range 6 {
		for i, kv := range []*client.Client{n1, n2, n3} {
			ids, err := listIDs(ctx, kv)
			if err != nil {
				t.Fatalf("list through n%d after the heal: %v", i+1, err)
			}
			if slices.Contains(ids, "dies") || !slices.Contains(ids, "maj") || !slices.Contains(ids, "min") {
				t.Fatalf("after the heal and a repair round, n%d lists %v (want maj and min, never dies)", i+1, ids)
			}
		}
		sleep(ctx, 500*time.Millisecond)
	}
	stopRegistrants()
	wg.Wait()
	logf("registrants: through n1 %+v, through n3 %+v", viaN1.rep, viaN3.rep)
	if viaN1.rep.RenewFailures+viaN3.rep.RenewFailures > 0 {
		t.Errorf("keep-alives failed on a side of the partition: %d through n1, %d through n3", viaN1.rep.RenewFailures, viaN3.rep.RenewFailures)
	}
}

// diedAtSafe reads in.diedAt under w's lock.
func (in *registryInstance) diedAtSafe(w *registryWorkload) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return in.diedAt
}

func listIDs(ctx context.Context, kv *client.Client) ([]string, error) {
	listed, err := kv.ListService(ctx, registryService)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(listed))
	for i, in := range listed {
		ids[i] = in.ID
	}
	return ids, nil
}

// waitListed waits until a listing through kv holds every id of want and
// none of gone.
func waitListed(t *testing.T, ctx context.Context, kv *client.Client, timeout time.Duration, want, gone []string) {
	t.Helper()
	waitFor(t, ctx, timeout, fmt.Sprintf("the list to hold %v and none of %v", want, gone), func() error {
		lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		ids, err := listIDs(lctx, kv)
		if err != nil {
			return err
		}
		for _, id := range want {
			if !slices.Contains(ids, id) {
				return fmt.Errorf("listed %v", ids)
			}
		}
		for _, id := range gone {
			if slices.Contains(ids, id) {
				return fmt.Errorf("listed %v", ids)
			}
		}
		return nil
	})
}

// waitFor polls cond every 200 ms until it holds, failing the test after
// timeout with its last error.
func waitFor(t *testing.T, ctx context.Context, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if !sleep(ctx, 200*time.Millisecond) {
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		}
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

package node_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/node"
	"github.com/quorumkv/quorumkv/node/nodetest"
)

// writer writes unique keys at QUORUM until stopped (bounded in count and
// time) and remembers the acknowledged ones.
type writer struct {
	mu    sync.Mutex
	acked []string
	fails int
	stop  chan struct{}
	done  chan struct{}
}

func startWriter(ctx context.Context, cl *client.Client, prefix string, max int) *writer {
	w := &writer{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for i := range max {
			select {
			case <-w.stop:
				return
			case <-ctx.Done():
				return
			default:
			}
			key := fmt.Sprintf("%s-%d", prefix, i)
			_, err := cl.Put(ctx, []byte(key), []byte("v-"+key), client.WithLevel(client.Quorum))
			w.mu.Lock()
			if err == nil {
				w.acked = append(w.acked, key)
			} else {
				w.fails++
			}
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *writer) finish() ([]string, int) {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.acked), w.fails
}

// checkReplicas asserts every key reads at ALL and each of its replicas
// (read directly, no quorum, no repair) holds it.
func checkReplicas(ctx context.Context, t *testing.T, c *nodetest.Cluster, cl *client.Client, keys []string) {
	t.Helper()
	for _, key := range keys {
		got, err := cl.Get(ctx, []byte(key), client.WithLevel(client.All))
		if err != nil || !slices.Contains(sorted(got.Values), "v-"+key) {
			t.Fatalf("get %s at ALL: %v %v", key, err, got)
		}
		for _, id := range c.Preference([]byte(key)) {
			clk, found, err := c.Node(id).Store().Get([]byte(key))
			if err != nil || !found || !slices.Contains(live(clk), "v-"+key) {
				t.Fatalf("replica %s of %s: found=%v err=%v values=%v", id, key, found, err, live(clk))
			}
		}
	}
}

// TestGrowAndShrink: 3 → 5 nodes and back to 3 while a writer writes at
// QUORUM; afterwards every acknowledged key reads at ALL and each key's
// replicas hold it.
func TestGrowAndShrink(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{})
	ctx := ctxT(t)
	writeKeys(ctx, t, c.Client(), "pre", 300)
	w := startWriter(ctx, c.Client("n2", "n3"), "during", 5000)
	c.Add()
	c.Add()
	c.WaitRing(60*time.Second, "n1", "n2", "n3", "n4", "n5")
	admin := c.Client("n2")
	for _, id := range []string{"n1", "n5"} {
		if _, err := admin.Leave(ctx, client.MemberChange{Node: id}); err != nil {
			t.Fatalf("leave %s: %v", id, err)
		}
	}
	c.WaitRing(60*time.Second, "n2", "n3", "n4")
	acked, fails := w.finish()
	t.Logf("writer: %d acknowledged, %d failed", len(acked), fails)
	if len(acked) == 0 {
		t.Fatal("the writer got nothing acknowledged")
	}
	c.Stop(c.Index("n1"))
	c.Stop(c.Index("n5"))
	// Writes acknowledged at QUORUM reach their third replica by straggler
	// replication or a hint; let those land and run one repair round.
	nodetest.Eventually(t, 30*time.Second, func() error {
		if n := totalHints(c); n != 0 {
			return fmt.Errorf("%d hints pending", n)
		}
		return nil
	})
	c.Repair(ctx)
	cl := c.Client("n2", "n3", "n4")
	pre := make([]string, 300)
	for i := range pre {
		pre[i] = fmt.Sprintf("pre-%d", i)
	}
	checkReplicas(ctx, t, c, cl, append(pre, acked...))
}

// TestLeaveBelowReplicas: a leave that would leave fewer members than
// replicas is refused unless forced.
func TestLeaveBelowReplicas(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{})
	ctx := ctxT(t)
	admin := c.Client("n1")
	_, err := admin.Leave(ctx, client.MemberChange{Node: "n3"})
	var se *client.ServerError
	if !errorsAs(err, &se) || !contains(se.Message, "2 members for 3 replicas") || !contains(se.Message, "--force") {
		t.Fatalf("leave below N: %v, want a refusal naming 2 members for 3 replicas and --force", err)
	}
	plan, err := admin.Leave(ctx, client.MemberChange{Node: "n3", Force: true, DryRun: true})
	if err != nil || plan.GetApplied() || len(plan.GetProblems()) == 0 {
		t.Fatalf("forced dry run: %v %+v", err, plan)
	}
	if got := c.Node("n1").Membership().Target().Members(); len(got) != 3 {
		t.Fatalf("a dry run changed the target ring: %v", got)
	}
}

// TestTransferResumes: a joining node whose transfer is cut off partway is
// stopped, restarted, and completes the transfer.
func TestTransferResumes(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{})
	ctx := ctxT(t)
	writeKeys(ctx, t, c.Client(), "move", 600)
	// n4's links break after some calls: part of the transfer is done.
	for _, id := range []string{"n1", "n2", "n3"} {
		c.Faults.CutAfter("n4", id, 40)
	}
	i := c.Add()
	nodetest.Eventually(t, 30*time.Second, func() error {
		n4 := c.Node("n4")
		held, ts := n4.HeldPartitions(), n4.Transfers()
		if held == 0 || len(ts) == 0 {
			return fmt.Errorf("n4 holds %d partitions, %d transfers", held, len(ts))
		}
		return nil
	})
	if slices.Contains(c.Node("n1").Membership().Ring().Members(), "n4") {
		t.Fatal("n4 became a member before its transfer finished")
	}
	c.Stop(i) // the receiver dies mid-transfer
	c.Faults.Heal()
	c.Restart(i)
	c.WaitRing(60*time.Second, "n1", "n2", "n3", "n4")
	keys := make([]string, 600)
	for k := range keys {
		keys[k] = fmt.Sprintf("move-%d", k)
	}
	checkReplicas(ctx, t, c, c.Client(), keys)
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// TestPlanAndCommit: a node started with auto-join off waits; `ring plan`
// shows its join and what moves; `ring commit` admits it.
func TestPlanAndCommit(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{Tune: func(cfg *node.Config) {
		cfg.NoAutoJoin = cfg.ID == "n4"
	}})
	ctx := ctxT(t)
	writeKeys(ctx, t, c.Client(), "plan", 100)
	c.Add()
	admin := c.Client("n1")
	var plan *api.PlanResponse
	nodetest.Eventually(t, 20*time.Second, func() error {
		var err error
		plan, err = admin.Plan(ctx)
		if err != nil {
			return err
		}
		if !slices.Equal(plan.GetJoin(), []string{"n4"}) {
			return fmt.Errorf("plan joins %v", plan.GetJoin())
		}
		return nil
	})
	if plan.GetPartitionsMoving() == 0 || len(plan.GetMoves()) == 0 || plan.GetApplied() {
		t.Fatalf("plan: %+v", plan)
	}
	if got := c.Node("n1").Membership().Target().Members(); len(got) != 3 {
		t.Fatalf("a plan changed the target ring: %v", got)
	}
	if _, err := admin.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	c.WaitRing(60*time.Second, "n1", "n2", "n3", "n4")
	keys := make([]string, 100)
	for k := range keys {
		keys[k] = fmt.Sprintf("plan-%d", k)
	}
	checkReplicas(ctx, t, c, c.Client(), keys)
}

package node_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/node"
	"github.com/quorumkv/quorumkv/node/nodetest"
	"github.com/quorumkv/quorumkv/vclock"
)

// TestLateApplyAfterReapStaysDeleted: a coordinator's batch of applies that
// the network holds up (a stale pipe connection whose retransmissions the
// kernel goes on sending after the coordinator gave up on it and closed
// it) reaches a replica after the key was deleted and its tombstone
// reaped everywhere. The replica refuses it, so the deleted value does not
// come back through that replica and anti-entropy.
//
// This is how the fault harness saw a deleted key come back (isolate,
// 5 nodes): a put's apply to a replica cut off the moment it was sent
// landed there about 50 s later, after the delete that followed it had
// been reaped on every replica.
func TestLateApplyAfterReapStaysDeleted(t *testing.T) {
	const grace = 200 * time.Millisecond
	c := nodetest.Start(t, 3, nodetest.Options{Tune: func(cfg *node.Config) {
		cfg.DisableHintedHandoff = true
		cfg.DisableAntiEntropy = true
		cfg.TombstoneGrace = grace
	}})
	ctx := ctxT(t)
	cl := c.Client("n1")
	key := []byte("late")
	put, err := cl.Put(ctx, key, []byte("v1"), client.WithLevel(client.All))
	if err != nil {
		t.Fatal(err)
	}
	// The batch n1 sent to n3 for the put, as the network holds it: the
	// replicated state and the deadline n1 gave it.
	sent, _, err := c.Node("n1").Store().Get(key)
	if err != nil {
		t.Fatal(err)
	}
	late := &api.PipeRequest{Id: 1, From: "n1", DeadlineUnixNano: time.Now().Add(50 * time.Millisecond).UnixNano(),
		Applies: []*api.ApplyRequest{{Key: key, Clock: sent.Marshal()}}}

	if _, err := cl.Delete(ctx, key, client.WithContext(put.Context), client.WithLevel(client.All)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * grace)
	c.Repair(ctx) // every replica equal and the grace passed: reaped
	for _, id := range c.IDs() {
		if _, found, _ := c.Node(id).Store().Get(key); found {
			t.Fatalf("%s still holds %q after the reap", id, key)
		}
	}

	resp, err := pipeOnce(ctx, grpcConn(t, c.Node("n3").Addr()), late)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetErrors()) == 0 || resp.GetErrors()[0] == "" {
		t.Errorf("n3 applied a batch that arrived long after its deadline")
	}
	c.Repair(ctx)
	for _, id := range c.IDs() {
		if got, found, _ := c.Node(id).Store().Get(key); found {
			t.Errorf("%s holds %q again after the late apply: %v", id, key, got.Live())
		}
	}
	if got, err := cl.Get(ctx, key, client.WithLevel(client.All)); err != client.ErrNotFound {
		t.Errorf("get at ALL after the late apply: %v %v, want not found", got, err)
	}
}

// TestLateHintRefused: a fallback refuses a hint offered long after the
// offer's deadline (stored then, its age would start afresh), and takes
// one that comes in time.
func TestLateHintRefused(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{Tune: func(cfg *node.Config) {
		cfg.DisableAntiEntropy = true
		cfg.TombstoneGrace = 200 * time.Millisecond
	}})
	ctx := ctxT(t)
	rc := api.NewReplicaClient(grpcConn(t, c.Node("n2").Addr()))
	clk := vclock.Clock{Entries: []vclock.Entry{{Actor: "n1#1", N: 1, Values: []vclock.Sibling{{Value: []byte("v")}}}}}
	hint := func(deadline time.Time) error {
		_, err := rc.Hint(ctx, &api.HintRequest{Key: []byte("k"), Clock: clk.Marshal(), Target: "n3", From: "n1",
			DeadlineUnixNano: deadline.UnixNano()})
		return err
	}
	if err := hint(time.Now().Add(-time.Second)); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("hint 1 s past its deadline: %v, want DEADLINE_EXCEEDED", err)
	}
	if err := hint(time.Now().Add(time.Second)); err != nil {
		t.Fatalf("hint in time: %v", err)
	}
}

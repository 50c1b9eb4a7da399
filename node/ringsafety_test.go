package node_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/node"
	"github.com/quorumkv/quorumkv/node/nodetest"
	"github.com/quorumkv/quorumkv/ring"
)

// consistently fails the test if cond does not hold at every poll for d.
func consistently(t *testing.T, d time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if err := cond(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func keysOf(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// TestRejoinPullsBeforeItCounts (issue 13, finding 2): a node that left and
// comes back on its old data dir joins afresh. While it cannot reach the
// other replicas it cannot pull, so it stays joining and the ring does not
// take it in (the readiness it declared before it left does not count
// again); once it can, it pulls, becomes valid, and answers reads at ONE
// for every key written before.
func TestRejoinPullsBeforeItCounts(t *testing.T) {
	c := nodetest.Start(t, 4, nodetest.Options{})
	ctx := ctxT(t)
	writeKeys(ctx, t, c.Client(), "rejoin", 200)
	if _, err := c.Client("n1").Leave(ctx, client.MemberChange{Node: "n4"}); err != nil {
		t.Fatal(err)
	}
	c.WaitRing(60*time.Second, "n1", "n2", "n3")
	i4 := c.Index("n4")
	nodetest.Eventually(t, 20*time.Second, func() error {
		if n := c.Node("n4").HeldPartitions(); n > 0 || !c.Node("n4").Store().Empty() {
			return fmt.Errorf("n4 still holds %d partitions", n)
		}
		return nil
	})
	c.Stop(i4)
	c.Faults.Isolate("n4", c.IDs(), nodetest.Refuse)
	c.Restart(i4)
	nodetest.Eventually(t, 10*time.Second, func() error {
		if st := c.Node("n1").Membership().Doc().StateOf("n4"); st != ring.StateJoining {
			return fmt.Errorf("n1 sees n4 %v", st)
		}
		return nil
	})
	consistently(t, 3*time.Second, func() error {
		for _, id := range []string{"n1", "n4"} {
			if got := c.Node(id).Membership().Ring().Members(); !slices.Equal(got, []string{"n1", "n2", "n3"}) {
				return fmt.Errorf("%s took n4 into the ring before n4 could pull anything: %v", id, got)
			}
		}
		return nil
	})
	c.Faults.Heal()
	c.WaitRing(60*time.Second, "n1", "n2", "n3", "n4")
	if got := readAllAtOne(ctx, t, c.Client("n4"), keysOf("rejoin", 200)); got != 200 {
		t.Fatalf("after rejoining, reads at ONE through n4 find %d of 200 keys", got)
	}
}

// readAllAtOne counts the keys a read at ONE finds.
func readAllAtOne(ctx context.Context, t *testing.T, cl *client.Client, keys []string) int {
	t.Helper()
	found := 0
	for _, k := range keys {
		_, err := cl.Get(ctx, []byte(k), client.WithLevel(client.One))
		switch {
		case err == nil:
			found++
		case !errors.Is(err, client.ErrNotFound):
			t.Fatalf("get %s at ONE: %v", k, err)
		}
	}
	return found
}

// keyNotOn returns a key whose partition node id does not replicate.
func keyNotOn(t *testing.T, c *nodetest.Cluster, prefix, id string) string {
	t.Helper()
	for i := range 10000 {
		k := fmt.Sprintf("%s-%d", prefix, i)
		if !slices.Contains(c.Preference([]byte(k)), id) {
			return k
		}
	}
	t.Fatal("no key outside the node's partitions")
	return ""
}

// TestRefusesWhatItDoesNotReplicate (issue 13, suspicion 4: proved and
// fixed): a node asked to store, read or exchange a partition it neither
// replicates nor gains refuses with NOT_REPLICA and its ring epoch, never
// an acknowledgement; a hint replayed to it goes to the key's owners
// instead.
func TestRefusesWhatItDoesNotReplicate(t *testing.T) {
	c := nodetest.Start(t, 4, nodetest.Options{})
	ctx := ctxT(t)
	src := keyNotOn(t, c, "src", "n4") // any key: its stored state is the test's object
	if _, err := c.Client().Put(ctx, []byte(src), []byte("hinted"), client.WithLevel(client.All)); err != nil {
		t.Fatal(err)
	}
	clk, _, err := c.Node(c.Preference([]byte(src))[0]).Store().Get([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	key := keyNotOn(t, c, "foreign", "n4")
	n4 := c.Node("n4")
	cc, err := grpc.NewClient(n4.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	rc := api.NewReplicaClient(cc)
	p := uint32(n4.Membership().Ring().Partition([]byte(key)))
	epoch := n4.Membership().Epoch()
	for name, req := range map[string]*api.PipeRequest{
		"apply": {Id: 1, From: "n1", Applies: []*api.ApplyRequest{{Key: []byte(key), Clock: clk.Marshal()}}},
		"read":  {Id: 2, From: "n1", Reads: []*api.ReadRequest{{Key: []byte(key)}}},
	} {
		resp, err := pipeOnce(ctx, cc, req)
		if err != nil || len(resp.GetStatus()) != 1 || resp.GetStatus()[0] != api.ItemStatus_ITEM_NOT_REPLICA || resp.GetEpoch() != epoch {
			t.Errorf("%s of a partition n4 does not replicate: %v %v, want NOT_REPLICA at epoch %d", name, resp, err, epoch)
		}
	}
	for name, call := range map[string]func() error{
		"root": func() error { _, err := rc.TreeRoot(ctx, &api.TreeRequest{Partition: p}); return err },
		"fetch": func() error {
			_, err := rc.Fetch(ctx, &api.FetchRequest{Partition: p, Keys: [][]byte{[]byte(key)}})
			return err
		},
		"push": func() error {
			_, err := rc.Push(ctx, &api.PushRequest{Partition: p, Objects: []*api.Object{{Key: []byte(key), Clock: clk.Marshal()}}})
			return err
		},
		"reap": func() error { _, err := rc.Reap(ctx, &api.PushRequest{Partition: p}); return err },
	} {
		err := call()
		st := status.Convert(err)
		var info *errdetails.ErrorInfo
		for _, d := range st.Details() {
			if i, ok := d.(*errdetails.ErrorInfo); ok {
				info = i
			}
		}
		if st.Code() != codes.FailedPrecondition || info == nil || info.GetReason() != api.ReasonNotReplica ||
			info.GetMetadata()["epoch"] != fmt.Sprint(epoch) {
			t.Errorf("%s of a partition n4 does not replicate: %v (info %v), want FAILED_PRECONDITION NOT_REPLICA at epoch %d", name, err, info, epoch)
		}
	}
	if _, found, _ := n4.Store().Get([]byte(key)); found {
		t.Fatal("n4 stored a key of a partition it does not replicate")
	}
	// An owner takes no data pushed by a node that is not an owner of the
	// partition (a removed node that does not know it yet).
	owner := c.Node(c.Preference([]byte(key))[0])
	occ, err := grpc.NewClient(owner.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer occ.Close()
	_, err = api.NewReplicaClient(occ).Push(ctx, &api.PushRequest{Partition: p, From: "n4",
		Objects: []*api.Object{{Key: []byte(key), Clock: clk.Marshal()}}})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("push from n4, not an owner, to owner %s: %v, want FAILED_PRECONDITION", owner.ID(), err)
	}
	if _, found, _ := owner.Store().Get([]byte(key)); found {
		t.Fatal("an owner took data pushed by a node that is not an owner")
	}
	// A hint for n4 (as if written when n4 replicated the key) is refused
	// by n4 and delivered to the key's owners.
	if err := c.Node("n1").Hints().Add("n4", []byte(key), clk); err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, 20*time.Second, func() error {
		for _, id := range c.Preference([]byte(key)) {
			if _, found, _ := c.Node(id).Store().Get([]byte(key)); !found {
				return fmt.Errorf("owner %s does not hold the rerouted hint yet", id)
			}
		}
		if n := c.Node("n1").Hints().Pending(); n > 0 {
			return fmt.Errorf("%d hints pending on n1", n)
		}
		return nil
	})
	if _, found, _ := n4.Store().Get([]byte(key)); found {
		t.Fatal("n4 took the hint for a partition it does not replicate")
	}
}

// TestReaperCountsPendingOwners (issue 13, suspicion 4: proved and fixed):
// a joiner that has pulled a key and then misses its delete keeps the
// tombstone from being reaped while the change is pending, so it never
// syncs the deleted value back after the commit.
func TestReaperCountsPendingOwners(t *testing.T) {
	c := nodetest.Start(t, 5, nodetest.Options{Tune: func(cfg *node.Config) {
		cfg.DisableHintedHandoff = true
		cfg.DisableAntiEntropy = true
		cfg.TombstoneGrace = time.Millisecond
	}})
	ctx := ctxT(t)
	cl := c.Client("n1", "n2", "n3", "n4", "n5")
	writeKeys(ctx, t, cl, "pend", 300, client.WithLevel(client.All))
	// n6 can pull only the partitions n1 and n2 do not both replicate: it
	// holds some and stays joining.
	c.Faults.Cut("n6", "n1", nodetest.Refuse)
	c.Faults.Cut("n6", "n2", nodetest.Refuse)
	c.Add()
	var key string
	nodetest.Eventually(t, 30*time.Second, func() error {
		n6 := c.Node("n6")
		tgt := n6.Membership().Target()
		held := map[int]bool{}
		for p := range tgt.Config().Partitions {
			held[p] = true
		}
		for _, tr := range n6.Transfers() {
			held[tr.Partition] = false
		}
		for _, k := range keysOf("pend", 300) {
			p := tgt.Partition([]byte(k))
			if tgt.IsReplica(p, "n6") && held[p] {
				if _, found, _ := n6.Store().Get([]byte(k)); found {
					key = k
					return nil
				}
			}
		}
		return errors.New("n6 holds no key yet")
	})
	if st := c.Node("n1").Membership().Doc().StateOf("n6"); st != ring.StateJoining {
		t.Fatalf("n6 is %v, want joining", st)
	}
	// n6 misses the delete.
	c.Faults.Isolate("n6", c.IDs(), nodetest.Refuse)
	got, err := cl.Get(ctx, []byte(key))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Delete(ctx, []byte(key), client.WithContext(got.Context), client.WithLevel(client.Quorum)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		c.Repair(ctx) // the replicas agree; n6 is an owner they cannot reach
	}
	for _, id := range c.Preference([]byte(key)) {
		if clk, found, _ := c.Node(id).Store().Get([]byte(key)); !found || !clk.AllTombstones() {
			t.Fatalf("replica %s reaped the tombstone (or holds %v) while joiner n6 had not seen it", id, live(clk))
		}
	}
	c.Faults.Heal()
	c.WaitRing(60*time.Second, "n1", "n2", "n3", "n4", "n5", "n6")
	for range 3 {
		c.Repair(ctx)
	}
	if _, err := c.Client().Get(ctx, []byte(key), client.WithLevel(client.All)); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("deleted key %s after n6 joined: %v, want not found", key, err)
	}
	for _, n := range c.Nodes {
		if clk, _, _ := n.Store().Get([]byte(key)); len(clk.Live()) > 0 {
			t.Fatalf("%s holds the deleted value again: %v", n.ID(), live(clk))
		}
	}
}

// TestDeadJoinerDoesNotBlock (issue 13, finding 1): a joiner that dies
// before it holds its partitions is parked once it has been down a short
// while; a later joiner becomes valid without it, QUORUM keeps working, and
// the dead joiner, restarted, joins again afresh.
func TestDeadJoinerDoesNotBlock(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{})
	ctx := ctxT(t)
	writeKeys(ctx, t, c.Client(), "dead", 200)
	c.Faults.Isolate("n4", []string{"n1", "n2", "n3"}, nodetest.Refuse) // it never holds anything
	i4 := c.Add()
	nodetest.Eventually(t, 10*time.Second, func() error {
		if st := c.Node("n1").Membership().Doc().StateOf("n4"); st != ring.StateJoining {
			return fmt.Errorf("n1 sees n4 %v", st)
		}
		return nil
	})
	c.Stop(i4)
	c.Faults.Heal()
	w := startWriter(ctx, c.Client("n1", "n2", "n3"), "during", 3000)
	c.Add() // n5
	nodetest.Eventually(t, 30*time.Second, func() error {
		doc := c.Node("n1").Membership().Doc()
		if st := doc.StateOf("n4"); st != ring.StateParked {
			return fmt.Errorf("n4 is %v, want parked", st)
		}
		if st := doc.StateOf("n5"); st != ring.StateValid {
			return fmt.Errorf("n5 is %v, want valid", st)
		}
		return nil
	})
	acked, fails := w.finish()
	if fails > 0 || len(acked) == 0 {
		t.Fatalf("QUORUM writes while n4 was dead and n5 joined: %d acknowledged, %d failed", len(acked), fails)
	}
	c.Restart(i4)
	c.WaitRing(60*time.Second, "n1", "n2", "n3", "n4", "n5")
	if got := readAllAtOne(ctx, t, c.Client("n4"), keysOf("dead", 200)); got != 200 {
		t.Fatalf("n4, taken up again, finds %d of 200 keys at ONE", got)
	}
}

// TestAppliesReachPendingReplicas: a replica that takes a write from a
// sender whose picture of the ring change differs from its own (a
// coordinator that has not heard of a joiner yet) passes the write on to
// the node gaining the partition, so the write reaches the new replica
// even though its coordinator never sent it there.
func TestAppliesReachPendingReplicas(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{})
	ctx := ctxT(t)
	src := "src"
	if _, err := c.Client().Put(ctx, []byte(src), []byte("forwarded"), client.WithLevel(client.All)); err != nil {
		t.Fatal(err)
	}
	clk, _, err := c.Node("n1").Store().Get([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	// n4 can pull from n3 only: it stays joining, taking writes for the
	// partitions it gains.
	c.Faults.CutAfter("n4", "n1", 0)
	c.Faults.CutAfter("n4", "n2", 0)
	c.Add()
	var key string
	nodetest.Eventually(t, 10*time.Second, func() error {
		v := c.Node("n1").Membership().View()
		if !v.Changing() {
			return errors.New("n1 has not seen n4 join yet")
		}
		for i := range 10000 {
			k := fmt.Sprintf("fwd-%d", i)
			p := v.Ring.Partition([]byte(k))
			if v.Ring.IsReplica(p, "n1") && v.Target.IsReplica(p, "n4") {
				key = k
				return nil
			}
		}
		return errors.New("no key n1 replicates and n4 gains")
	})
	stream, err := api.NewReplicaClient(grpcConn(t, c.Node("n1").Addr())).Pipe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req := &api.PipeRequest{Id: 1, From: "stale-coordinator", Epoch: 1, Target: "a ring without n4",
		Applies: []*api.ApplyRequest{{Key: []byte(key), Clock: clk.Marshal()}}}
	if err := stream.Send(req); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil || len(resp.GetErrors()) > 0 && resp.GetErrors()[0] != "" {
		t.Fatalf("n1 did not take the apply: %v %v", resp, err)
	}
	nodetest.Eventually(t, 10*time.Second, func() error {
		if _, found, _ := c.Node("n4").Store().Get([]byte(key)); !found {
			return errors.New("n4 has not received the forwarded write")
		}
		return nil
	})
	// A hint or a repair reaches only the node it is for: a node losing
	// the partition passes it on even when its sender saw the same change.
	v := c.Node("n1").Membership().View()
	var lost string
	for i := range 10000 {
		k := fmt.Sprintf("lost-%d", i)
		p := v.Ring.Partition([]byte(k))
		if v.Ring.IsReplica(p, "n1") && !v.Target.IsReplica(p, "n1") && v.Target.IsReplica(p, "n4") {
			lost = k
			break
		}
	}
	if lost == "" {
		t.Fatal("no key n1 loses to n4")
	}
	req = &api.PipeRequest{Id: 2, From: "n2", Epoch: v.Epoch, Target: v.Target.Signature(),
		Applies: []*api.ApplyRequest{{Key: []byte(lost), Clock: clk.Marshal()}}}
	if err := stream.Send(req); err != nil {
		t.Fatal(err)
	}
	if resp, err := stream.Recv(); err != nil || len(resp.GetErrors()) > 0 && resp.GetErrors()[0] != "" {
		t.Fatalf("n1 did not take the apply: %v %v", resp, err)
	}
	nodetest.Eventually(t, 10*time.Second, func() error {
		if _, found, _ := c.Node("n4").Store().Get([]byte(lost)); !found {
			return errors.New("n4 has not received the write to a partition n1 loses")
		}
		return nil
	})
	_ = stream.CloseSend()
	if st := c.Node("n1").Membership().Doc().StateOf("n4"); st != ring.StateJoining {
		t.Fatalf("n4 is %v; the test needs it joining", st)
	}
}

// TestRemovedSenderRefused: a node removed from the cluster that does not
// know it yet (cut off while it was removed) gets no replica write, read or
// hint taken: what it holds may predate deletes reaped meanwhile.
func TestRemovedSenderRefused(t *testing.T) {
	c := nodetest.Start(t, 4, nodetest.Options{})
	ctx := ctxT(t)
	if _, err := c.Client("n1").Leave(ctx, client.MemberChange{Node: "n4"}); err != nil {
		t.Fatal(err)
	}
	c.WaitRing(60*time.Second, "n1", "n2", "n3")
	key := "k"
	if _, err := c.Client().Put(ctx, []byte(key), []byte("v"), client.WithLevel(client.All)); err != nil {
		t.Fatal(err)
	}
	owner := c.Node(c.Preference([]byte(key))[0])
	clk, _, _ := owner.Store().Get([]byte(key))
	stream, err := api.NewReplicaClient(grpcConn(t, owner.Addr())).Pipe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, req := range []*api.PipeRequest{
		{Id: 1, From: "n4", Applies: []*api.ApplyRequest{{Key: []byte("other"), Clock: clk.Marshal()}}},
		{Id: 2, From: "n4", Reads: []*api.ReadRequest{{Key: []byte(key)}}},
	} {
		if err := stream.Send(req); err != nil {
			t.Fatal(err)
		}
		resp, err := stream.Recv()
		if err != nil || len(resp.GetStatus()) != 1 || resp.GetStatus()[0] != api.ItemStatus_ITEM_NOT_REPLICA {
			t.Fatalf("request %d from removed n4: %v %v, want NOT_REPLICA", i, resp, err)
		}
	}
	_, err = api.NewReplicaClient(grpcConn(t, owner.Addr())).Hint(ctx, &api.HintRequest{Key: []byte("other"), Clock: clk.Marshal(), Target: "n1", From: "n4"})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("hint from removed n4: %v, want FAILED_PRECONDITION", err)
	}
}

// TestFormingRingSurvivesADeadMember (issue 13, finding 1): while the ring
// holds no data, a member that died does not hold up the next join: it has
// nothing to transfer out.
func TestFormingRingSurvivesADeadMember(t *testing.T) {
	c := nodetest.Start(t, 2, nodetest.Options{})
	c.Stop(c.Index("n2"))
	c.Add()
	nodetest.Eventually(t, 10*time.Second, func() error {
		if got := c.Node("n1").Membership().Ring().Members(); !slices.Equal(got, []string{"n1", "n2", "n3"}) {
			return fmt.Errorf("ring %v", got)
		}
		return nil
	})
	ctx := ctxT(t)
	if _, err := c.Client("n1", "n3").Put(ctx, []byte("k"), []byte("v"), client.WithLevel(client.Quorum)); err != nil {
		t.Fatalf("QUORUM put with n2 dead: %v", err)
	}
}

// TestDeadUnmovedMemberDoesNotBlockAJoin: a ring of two that holds data
// takes in a third member while one of the two is dead. With N=3 every
// member replicates every partition in both rings, so the change moves
// nothing of the dead member's: the joiner pulls from the live one and the
// change commits without waiting for the dead member to come back.
func TestDeadUnmovedMemberDoesNotBlockAJoin(t *testing.T) {
	c := nodetest.Start(t, 2, nodetest.Options{})
	ctx := ctxT(t)
	if _, err := c.Client("n1", "n2").Put(ctx, []byte("k"), []byte("v"), client.WithLevel(client.Quorum)); err != nil {
		t.Fatal(err)
	}
	c.Stop(c.Index("n2"))
	c.Add()
	nodetest.Eventually(t, 10*time.Second, func() error {
		m := c.Node("n1").Membership()
		if got := m.Ring().Members(); !slices.Equal(got, []string{"n1", "n2", "n3"}) {
			return fmt.Errorf("ring %v (n2 %s, n3 %s)", got, m.StateOf("n2"), m.StateOf("n3"))
		}
		return nil
	})
	res, err := c.Client("n1", "n3").Get(ctx, []byte("k"), client.WithLevel(client.Quorum))
	if err != nil || len(res.Values) != 1 || string(res.Values[0]) != "v" {
		t.Fatalf("QUORUM get with n2 dead: %v %v", res, err)
	}
}

package node_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/node"
	"github.com/quorumkv/quorumkv/node/nodetest"
	"github.com/quorumkv/quorumkv/vclock"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// grpc and memberlist leave short-lived goroutines that end on their own.
		goleak.IgnoreTopFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
		goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"),
	)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var allLevels = []struct {
	name  string
	level client.Level
}{
	{"one", client.One}, {"two", client.Two}, {"three", client.Three}, {"quorum", client.Quorum}, {"all", client.All},
}

// TestPutGetEveryLevel writes at every level and reads it back at a level
// that overlaps it (R+W > N), then reads a write made at ALL at every level,
// through every node, on 3- and 5-node clusters.
func TestPutGetEveryLevel(t *testing.T) {
	overlapping := map[string]client.Level{ // W -> R with R+W > N (N=3)
		"one": client.All, "two": client.Two, "three": client.One, "quorum": client.Quorum, "all": client.One,
	}
	for _, size := range []int{3, 5} {
		t.Run(fmt.Sprintf("%d-nodes", size), func(t *testing.T) {
			c := nodetest.Start(t, size, nodetest.Options{})
			ctx := ctxT(t)
			for _, id := range c.IDs() {
				cl := c.Client(id)
				for _, lv := range allLevels {
					key := []byte(fmt.Sprintf("k-%s-%s", id, lv.name))
					val := []byte("v-" + lv.name)
					put, err := cl.Put(ctx, key, val, client.WithLevel(lv.level))
					if err != nil {
						t.Fatalf("put %s at %s via %s: %v", key, lv.name, id, err)
					}
					if put.Info.Acks < put.Info.Required {
						t.Fatalf("put acked %d < required %d", put.Info.Acks, put.Info.Required)
					}
					got, err := cl.Get(ctx, key, client.WithLevel(overlapping[lv.name]))
					if err != nil || len(got.Values) != 1 || string(got.Values[0]) != string(val) {
						t.Fatalf("get %s after a %s write via %s = %v, %v", key, lv.name, id, got, err)
					}
				}
				key := []byte("all-" + id)
				if _, err := cl.Put(ctx, key, []byte("v"), client.WithLevel(client.All)); err != nil {
					t.Fatal(err)
				}
				for _, lv := range allLevels {
					got, err := cl.Get(ctx, key, client.WithLevel(lv.level))
					if err != nil || len(got.Values) != 1 || string(got.Values[0]) != "v" {
						t.Fatalf("get %s at %s via %s = %v, %v", key, lv.name, id, got, err)
					}
				}
			}
		})
	}
}

// TestQuorumWithOneNodeDown: W=2 survives a down replica, ALL does not.
func TestQuorumWithOneNodeDown(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{})
	ctx := ctxT(t)
	c.Stop(2) // n3
	cl := c.Client("n1", "n2")
	key := []byte("survivor")
	if _, err := cl.Put(ctx, key, []byte("v"), client.WithCount(2)); err != nil {
		t.Fatalf("W=2 put with one node down: %v", err)
	}
	if _, err := cl.Get(ctx, key, client.WithLevel(client.Quorum)); err != nil {
		t.Fatalf("quorum get with one node down: %v", err)
	}
	_, err := cl.Put(ctx, key, []byte("v2"), client.WithLevel(client.All))
	var un *client.UnavailableError
	if !errors.As(err, &un) {
		t.Fatalf("ALL put with one node down: err = %v, want UnavailableError", err)
	}
	if un.Required != 3 || un.Acknowledged != 2 {
		t.Fatalf("unavailable: required %d acknowledged %d, want 3 and 2", un.Required, un.Acknowledged)
	}
	_, err = cl.Get(ctx, key, client.WithLevel(client.All))
	if !errors.As(err, &un) || un.Required != 3 || un.Acknowledged != 2 {
		t.Fatalf("ALL get with one node down: %v", err)
	}
	// The node comes back: ALL works again.
	c.Restart(2)
	nodetest.Eventually(t, 20*time.Second, func() error {
		_, err := cl.Put(ctx, key, []byte("v3"), client.WithLevel(client.All))
		return err
	})
}

// TestSiblingsThroughOneCoordinator: two writes with the same context through
// the same coordinator both survive; a write with both siblings' context
// replaces them.
func TestSiblingsThroughOneCoordinator(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{})
	ctx := ctxT(t)
	key := []byte("contended")
	coord := c.Preference(key)[0]
	cl := c.Client(coord)
	if _, err := cl.Put(ctx, key, []byte("v1")); err != nil {
		t.Fatal(err)
	}
	read, err := cl.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"v2", "v3"} {
		res, err := cl.Put(ctx, key, []byte(v), client.WithContext(read.Context))
		if err != nil {
			t.Fatal(err)
		}
		if res.Info.Coordinator != coord {
			t.Fatalf("coordinator %s, want %s", res.Info.Coordinator, coord)
		}
	}
	both, err := cl.Get(ctx, key, client.WithLevel(client.All))
	if err != nil {
		t.Fatal(err)
	}
	if got := sorted(both.Values); !slices.Equal(got, []string{"v2", "v3"}) {
		t.Fatalf("siblings = %v, want [v2 v3]", got)
	}
	if _, err := cl.Put(ctx, key, []byte("v4"), client.WithContext(both.Context)); err != nil {
		t.Fatal(err)
	}
	final, err := cl.Get(ctx, key, client.WithLevel(client.All))
	if err != nil {
		t.Fatal(err)
	}
	if got := sorted(final.Values); !slices.Equal(got, []string{"v4"}) {
		t.Fatalf("after resolving write: %v, want [v4]", got)
	}
}

// TestBlindWriteNeverOverwrites: a write with no context becomes a sibling.
func TestBlindWriteNeverOverwrites(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{})
	ctx := ctxT(t)
	cl := c.Client()
	key := []byte("blind")
	for _, v := range []string{"a", "b"} {
		if _, err := cl.Put(ctx, key, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := cl.Get(ctx, key, client.WithLevel(client.All))
	if err != nil {
		t.Fatal(err)
	}
	if vals := sorted(got.Values); !slices.Equal(vals, []string{"a", "b"}) {
		t.Fatalf("values = %v, want [a b]", vals)
	}
}

// TestReadRepair: a replica that missed a write is made current by a read.
func TestReadRepair(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{})
	ctx := ctxT(t)
	key := []byte("repair-me")
	prefs := c.Preference(key)
	coord, stale := prefs[0], prefs[2]
	c.Faults.Isolate(stale, c.IDs(), nodetest.Refuse)
	cl := c.Client(coord)
	if _, err := cl.Put(ctx, key, []byte("fresh")); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := c.Node(stale).Store().Get(key); found {
		t.Fatal("isolated replica got the write")
	}
	c.Faults.Heal()
	if _, err := cl.Get(ctx, key, client.WithLevel(client.All)); err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, 10*time.Second, func() error {
		clk, found, err := c.Node(stale).Store().Get(key)
		if err != nil || !found {
			return fmt.Errorf("stale replica: found=%v err=%v", found, err)
		}
		if got := live(clk); !slices.Equal(got, []string{"fresh"}) {
			return fmt.Errorf("stale replica holds %v", got)
		}
		return nil
	})
}

// TestForwardedPut: a put sent to a node that is not a replica is forwarded
// once to a replica; with every replica unreachable it fails at once instead
// of bouncing.
func TestForwardedPut(t *testing.T) {
	c := nodetest.Start(t, 5, nodetest.Options{})
	ctx := ctxT(t)
	var key []byte
	var outsider string
	for i := 0; outsider == ""; i++ {
		key = []byte(fmt.Sprintf("fwd-%d", i))
		prefs := c.Preference(key)
		for _, id := range c.IDs() {
			if !slices.Contains(prefs, id) {
				outsider = id
				break
			}
		}
	}
	prefs := c.Preference(key)
	cl := c.Client(outsider)
	res, err := cl.Put(ctx, key, []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(prefs, res.Info.Coordinator) {
		t.Fatalf("coordinator %s is not a replica %v", res.Info.Coordinator, prefs)
	}
	// Cut the outsider from every replica: the put fails with unavailable.
	for _, p := range prefs {
		c.Faults.Cut(outsider, p, nodetest.Refuse)
	}
	_, err = cl.Put(ctx, key, []byte("v2"))
	var un *client.UnavailableError
	if !errors.As(err, &un) {
		t.Fatalf("put with every replica cut: %v, want unavailable", err)
	}
}

// TestDeleteHidesKey: a delete with the read context hides the key at QUORUM.
func TestDeleteHidesKey(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{})
	ctx := ctxT(t)
	cl := c.Client()
	key := []byte("doomed")
	if _, err := cl.Put(ctx, key, []byte("v")); err != nil {
		t.Fatal(err)
	}
	got, err := cl.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Delete(ctx, key, client.WithContext(got.Context)); err != nil {
		t.Fatal(err)
	}
	res, err := cl.Get(ctx, key, client.WithLevel(client.Quorum))
	if !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("get after delete: %v, %+v", err, res)
	}
	if res.Context == "" {
		t.Fatal("not-found read lost the context of the tombstone")
	}
	// A write with that context supersedes the tombstone cleanly.
	if _, err := cl.Put(ctx, key, []byte("again"), client.WithContext(res.Context)); err != nil {
		t.Fatal(err)
	}
	back, err := cl.Get(ctx, key, client.WithLevel(client.All))
	if err != nil || !slices.Equal(sorted(back.Values), []string{"again"}) {
		t.Fatalf("rewrite after delete: %v %v", err, back)
	}
}

// TestClientFailover: a client whose first endpoint is dead goes on with the
// next and does not stay stuck on the dead one.
func TestClientFailover(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{})
	ctx := ctxT(t)
	cl := c.Client("n1", "n2", "n3")
	c.Stop(0)
	for i := range 20 {
		key := []byte(fmt.Sprintf("fo-%d", i))
		if _, err := cl.Put(ctx, key, []byte("v")); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
		if _, err := cl.Get(ctx, key); err != nil {
			t.Fatalf("get %d: %v", i, err)
		}
	}
}

func sorted(vals [][]byte) []string {
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = string(v)
	}
	slices.Sort(out)
	return out
}

func live(c vclock.Clock) []string { return sorted(c.Live()) }

// TestClusterConstantsMismatch: a node whose --replicas differs from the
// cluster's is refused at join with a clear error.
func TestClusterConstantsMismatch(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{})
	cfg := node.LocalConfig()
	cfg.ID, cfg.DataDir, cfg.Listen, cfg.Gossip = "odd", t.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
	cfg.Join, cfg.Replicas, cfg.Partitions = []string{c.Node("n1").GossipAddr()}, 2, 64
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	_, err := node.Start(cfg)
	if err == nil || !strings.Contains(err.Error(), "cluster mismatch") || !strings.Contains(err.Error(), "replicas=2") {
		t.Fatalf("mismatched node: err = %v, want a cluster mismatch naming replicas=2", err)
	}
	if got := c.Node("n1").Membership().Ring().Members(); len(got) != 3 {
		t.Fatalf("cluster admitted the mismatched node: %v", got)
	}
}

// TestClientRoutesToReplicas: a client seeded with one node learns the ring
// and sends each request to a replica of its key (no forwarding hop), and
// when that replica dies it goes on with the next.
func TestClientRoutesToReplicas(t *testing.T) {
	c := nodetest.Start(t, 5, nodetest.Options{})
	ctx := ctxT(t)
	cl, err := client.New([]string{c.Node("n1").Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	routed := 0
	for i := range 40 {
		key := []byte(fmt.Sprintf("route-%d", i))
		prefs := c.Preference(key)
		if _, err := cl.Put(ctx, key, []byte("v"), client.WithLevel(client.All)); err != nil {
			t.Fatal(err)
		}
		got, err := cl.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if got.Info.Coordinator != prefs[0] {
			t.Fatalf("get %s served by %s, want its first replica %s", key, got.Info.Coordinator, prefs[0])
		}
		if !slices.Contains(prefs, "n1") {
			routed++
		}
	}
	if routed == 0 {
		t.Fatal("every key had n1 as a replica; the test proves nothing")
	}
	// The first replica of a key (not the seed) dies: the client fails over.
	var key []byte
	var first string
	for i := 0; first == "" || first == "n1"; i++ {
		key = []byte(fmt.Sprintf("route-%d", i))
		first = c.Preference(key)[0]
	}
	c.Stop(c.Index(first))
	got, err := cl.Get(ctx, key)
	if err != nil || got.Info.Coordinator == first {
		t.Fatalf("get after %s died: %v, %+v", first, err, got)
	}
}

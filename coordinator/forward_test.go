package coordinator

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// xabc is a cluster where x is not a replica of any key (prefs a, b, c).
var xabc = []string{"x", "a", "b", "c"}

func forwardCluster(t *testing.T, o clusterOpts) *cluster {
	o.prefs = abc
	return newCluster(t, xabc, o)
}

// TestForwardToFirstReplica: a non-replica hands the write to the first
// replica, which coordinates it (its actor mints the dot).
func TestForwardToFirstReplica(t *testing.T) {
	cl := forwardCluster(t, clusterOpts{})
	res, err := cl.coord("x").Put(testCtx(t), Write{Key: []byte("k"), Value: []byte("v"), Consistency: Consistency{Level: LevelAll}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Info.Coordinator != "a" || res.Info.Acks != 3 {
		t.Fatalf("Info %+v: want coordinator a with 3 acks", res.Info)
	}
	if got := cl.net.callsFrom(opCoordinate, "x"); got != 1 || cl.net.calls(opCoordinate, "x", "a") != 1 {
		t.Fatalf("x made %d forward calls, want exactly one, to a", got)
	}
	if cl.local("x").coordinateCount() != 0 || len(cl.local("x").clock("k").Entries) != 0 {
		t.Fatal("the non-replica wrote locally")
	}
	if !cl.local("a").clock("k").Equal(res.Clock) || res.Clock.Counter("a") != 1 {
		t.Fatalf("a holds %v, result %v", cl.local("a").clock("k"), res.Clock)
	}
}

// TestForwardWithoutLiveness: with no gossip view the preference order is
// used as is.
func TestForwardWithoutLiveness(t *testing.T) {
	cl := forwardCluster(t, clusterOpts{config: func(_ string, c *Config) { c.Liveness = nil }})
	cl.net.setFault(opCoordinate, "a", unreachable("a"))
	res, err := cl.coord("x").Put(testCtx(t), Write{Key: []byte("k"), Value: []byte("v")})
	if err != nil || res.Info.Coordinator != "b" {
		t.Fatalf("Put: %+v, %v", res.Info, err)
	}
}

// TestForwardLiveFirst: gossip's view orders the choice; a replica believed
// down is tried last, not skipped.
func TestForwardLiveFirst(t *testing.T) {
	t.Run("first down goes to second", func(t *testing.T) {
		cl := forwardCluster(t, clusterOpts{})
		cl.setDown("a")
		res, err := cl.coord("x").Put(testCtx(t), Write{Key: []byte("k"), Value: []byte("v")})
		if err != nil || res.Info.Coordinator != "b" {
			t.Fatalf("Put: %+v, %v; want coordinated by b", res.Info, err)
		}
		if cl.net.calls(opCoordinate, "x", "a") != 0 {
			t.Fatal("a (down) was tried before b")
		}
	})
	t.Run("down replica still tried last", func(t *testing.T) {
		cl := forwardCluster(t, clusterOpts{})
		cl.setDown("a")
		cl.net.setFault(opCoordinate, "b", unreachable("b"))
		cl.net.setFault(opCoordinate, "c", unreachable("c"))
		res, err := cl.coord("x").Put(testCtx(t), Write{Key: []byte("k"), Value: []byte("v")})
		if err != nil || res.Info.Coordinator != "a" {
			t.Fatalf("Put: %+v, %v; want coordinated by a", res.Info, err)
		}
		for _, n := range abc {
			if got := cl.net.calls(opCoordinate, "x", n); got != 1 {
				t.Errorf("%d forward calls to %s, want 1", got, n)
			}
		}
	})
}

// TestForwardSkipsUnreachable: a replica that could not run the write at all
// (unreachable) is skipped for the next.
func TestForwardSkipsUnreachable(t *testing.T) {
	cl := forwardCluster(t, clusterOpts{})
	cl.net.setFault(opCoordinate, "a", unreachable("a"))
	res, err := cl.coord("x").Put(testCtx(t), Write{Key: []byte("k"), Value: []byte("v")})
	if err != nil || res.Info.Coordinator != "b" {
		t.Fatalf("Put: %+v, %v", res.Info, err)
	}
	if cl.net.calls(opCoordinate, "x", "a") != 1 || cl.net.calls(opCoordinate, "x", "c") != 0 {
		t.Fatal("want one try at a, then b, and none at c")
	}
}

// TestForwardSkipsNotReplica: a replica whose ring says it no longer owns
// the key answers ErrNotReplica without forwarding again; the sender tries
// the next one.
func TestForwardSkipsNotReplica(t *testing.T) {
	cl := forwardCluster(t, clusterOpts{placement: map[string]Placement{
		"a": staticPlacement{part: testPartition, prefs: []string{"b", "c", "x"}},
	}})
	res, err := cl.coord("x").Put(testCtx(t), Write{Key: []byte("k"), Value: []byte("v")})
	if err != nil || res.Info.Coordinator != "b" {
		t.Fatalf("Put: %+v, %v", res.Info, err)
	}
	if n := cl.net.callsFrom(opCoordinate, "a"); n != 0 {
		t.Fatalf("a re-forwarded the write %d times", n)
	}
	if cl.local("a").coordinateCount() != 0 {
		t.Fatal("a coordinated a write it does not own")
	}
}

// TestForwardRemoteUnavailableIsFinal: a replica that ran the write but
// missed its quorum answers UnavailableError; the write may have happened,
// so the sender returns it and tries no one else.
func TestForwardRemoteUnavailableIsFinal(t *testing.T) {
	cl := forwardCluster(t, clusterOpts{})
	cl.net.setFault(opApply, "c", unreachable("c"))
	res, err := cl.coord("x").Put(testCtx(t), Write{Key: []byte("k"), Value: []byte("v"), Consistency: Consistency{Level: LevelAll}})
	ue := unavailable(t, err)
	if ue.Required != 3 || ue.Acknowledged != 2 {
		t.Fatalf("got %+v, want the remote count (3 required, 2 acknowledged)", ue)
	}
	if res.Info.Coordinator != "a" {
		t.Errorf("Info %+v", res.Info)
	}
	if cl.net.calls(opCoordinate, "x", "b") != 0 || cl.net.calls(opCoordinate, "x", "c") != 0 {
		t.Fatal("the sender retried after a remote UnavailableError")
	}
	if got := live(cl.local("a").clock("k")); !slices.Equal(got, []string{"v"}) {
		t.Fatalf("a holds %v", got)
	}
}

// TestForwardOtherErrorsAreFinal: any error other than unreachable /
// not-replica is returned as-is, without trying another replica.
func TestForwardOtherErrorsAreFinal(t *testing.T) {
	boom := errors.New("internal: disk full")
	t.Run("remote error", func(t *testing.T) {
		cl := forwardCluster(t, clusterOpts{})
		cl.net.setFault(opCoordinate, "a", fault{err: boom})
		_, err := cl.coord("x").Put(testCtx(t), Write{Key: []byte("k"), Value: []byte("v")})
		if !errors.Is(err, boom) {
			t.Fatalf("Put: %v, want %v", err, boom)
		}
		if cl.net.callsFrom(opCoordinate, "x") != 1 {
			t.Fatal("retried after a final error")
		}
	})
	t.Run("remote invalid argument", func(t *testing.T) {
		cl := forwardCluster(t, clusterOpts{})
		cl.net.setFault(opCoordinate, "a", fault{err: ErrInvalidArgument})
		_, err := cl.coord("x").Put(testCtx(t), Write{Key: []byte("k"), Value: []byte("v")})
		if !errors.Is(err, ErrInvalidArgument) || cl.net.callsFrom(opCoordinate, "x") != 1 {
			t.Fatalf("Put: %v after %d calls", err, cl.net.callsFrom(opCoordinate, "x"))
		}
	})
	t.Run("timeout", func(t *testing.T) {
		cl := forwardCluster(t, clusterOpts{config: func(_ string, c *Config) { c.ReplicaTimeout = 20 * time.Millisecond }})
		cl.net.setFault(opCoordinate, "a", fault{block: true})
		_, err := cl.coord("x").Put(testCtx(t), Write{Key: []byte("k"), Value: []byte("v")})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Put: %v, want the forward's deadline", err)
		}
		if cl.net.callsFrom(opCoordinate, "x") != 1 {
			t.Fatal("retried after a timeout (the write may have run)")
		}
	})
}

// TestForwardAllUnreachable: no replica could take the write.
func TestForwardAllUnreachable(t *testing.T) {
	cl := forwardCluster(t, clusterOpts{})
	for _, n := range abc {
		cl.net.setFault(opCoordinate, n, unreachable(n))
	}
	_, err := cl.coord("x").Put(testCtx(t), Write{Key: []byte("k"), Value: []byte("v")})
	ue := unavailable(t, err)
	if ue.Op != "write" || ue.Required != 2 || ue.Acknowledged != 0 {
		t.Fatalf("got %+v", ue)
	}
	for _, n := range abc {
		if got := cl.net.calls(opCoordinate, "x", n); got != 1 {
			t.Errorf("%d calls to %s, want 1", got, n)
		}
	}
}

// TestForwardClientCancel: a client that gives up stops the forwarding.
func TestForwardClientCancel(t *testing.T) {
	cl := forwardCluster(t, clusterOpts{})
	cl.net.setFault(opCoordinate, "a", fault{block: true})
	ctx, cancel := context.WithCancel(context.Background())
	out := goPut(ctx, cl.coord("x"), Write{Key: []byte("k"), Value: []byte("v")})
	cl.net.waitFor(t, "forward to a in flight", func() bool { return cl.net.callsTo(opCoordinate, "a") == 1 })
	cancel()
	o := recv(t, out, "Put")
	if o.err == nil {
		t.Fatal("Put succeeded after the client cancelled")
	}
	if cl.net.callsTo(opCoordinate, "b") != 0 {
		t.Fatal("forwarded again after the client cancelled")
	}
}

// TestCoordinateForwardedNotReplica: a forwarded write never hops again.
func TestCoordinateForwardedNotReplica(t *testing.T) {
	cl := forwardCluster(t, clusterOpts{})
	_, err := cl.coord("x").CoordinateForwarded(testCtx(t), Write{Key: []byte("k"), Value: []byte("v")})
	if !errors.Is(err, ErrNotReplica) {
		t.Fatalf("CoordinateForwarded on a non-replica: %v, want ErrNotReplica", err)
	}
	cl.closeAll()
	if n := cl.net.inflight() + cl.net.callsFrom(opCoordinate, "x") + cl.net.callsFrom(opApply, "x"); n != 0 {
		t.Fatalf("the non-replica made %d calls", n)
	}
	if cl.local("x").coordinateCount() != 0 {
		t.Fatal("the non-replica wrote locally")
	}
}

// TestCoordinateForwardedOnReplica runs the write here.
func TestCoordinateForwardedOnReplica(t *testing.T) {
	cl := forwardCluster(t, clusterOpts{})
	res, err := cl.coord("b").CoordinateForwarded(testCtx(t), Write{Key: []byte("k"), Value: []byte("v"), Consistency: Consistency{Level: LevelAll}})
	if err != nil || res.Info.Coordinator != "b" || res.Info.Acks != 3 {
		t.Fatalf("CoordinateForwarded: %+v, %v", res.Info, err)
	}
	if res.Clock.Counter("b") != 1 || cl.net.callsFrom(opCoordinate, "b") != 0 {
		t.Fatalf("result %v", res.Clock)
	}
}

// TestGetFromNonReplica reads the replicas, never the local store.
func TestGetFromNonReplica(t *testing.T) {
	cl := forwardCluster(t, clusterOpts{})
	for _, n := range abc {
		cl.local(n).set("k", clk(entry("a", 1, "v")))
	}
	cl.local("x").set("k", clk(entry("x", 1, "junk")))
	r, err := cl.coord("x").Get(testCtx(t), []byte("k"), Consistency{Level: LevelAll})
	if err != nil || !slices.Equal(live(r.Clock), []string{"v"}) {
		t.Fatalf("Get: %v, %v", live(r.Clock), err)
	}
	if r.Info.Coordinator != "x" || slices.Contains(r.Info.Replicas, "x") {
		t.Fatalf("Info %+v", r.Info)
	}
}

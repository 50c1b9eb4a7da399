package coordinator

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

// diskFull is a replica's refusal for a full disk, as the transport or the
// local store reports it.
func diskFull(node string) error { return fmt.Errorf("node %s: %w", node, ErrDiskFull) }

// TestPutOnFullLocalReplicaGoesToAnother: a coordinator whose own store
// refuses the write for a full disk (before minting) hands it to another
// replica, which coordinates it; the full one is not asked to coordinate
// again and the write is acknowledged by the others.
func TestPutOnFullLocalReplicaGoesToAnother(t *testing.T) {
	cl := newCluster(t, abc, clusterOpts{hints: true})
	cl.local("a").setCoordErr(diskFull("a"))
	cl.net.setFault(opApply, "a", fault{err: diskFull("a")})
	res, err := cl.coord("a").Put(testCtx(t), Write{Key: []byte("k"), Value: []byte("v")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Info.Coordinator != "b" || res.Info.Acks < 2 || slices.Contains(res.Info.Replicas, "a") {
		t.Fatalf("Info %+v: want coordinated by b, acknowledged by b and c", res.Info)
	}
	if cl.net.calls(opCoordinate, "a", "b") != 1 {
		t.Fatal("a did not hand the write to b")
	}
}

// TestPutDiskFullEverywhereElse: when no other replica takes the write,
// the answer is the local full disk, not a quorum failure.
func TestPutDiskFullEverywhereElse(t *testing.T) {
	cl := newCluster(t, abc, clusterOpts{})
	cl.local("a").setCoordErr(diskFull("a"))
	cl.net.setFault(opCoordinate, "b", fault{err: diskFull("b")})
	cl.net.setFault(opCoordinate, "c", unreachable("c"))
	_, err := cl.coord("a").Put(testCtx(t), Write{Key: []byte("k"), Value: []byte("v")})
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("Put: %v, want ErrDiskFull", err)
	}
}

// TestForwardSkipsFullReplica: a forwarded write refused for a full disk
// did not run there, so the next replica is tried.
func TestForwardSkipsFullReplica(t *testing.T) {
	cl := forwardCluster(t, clusterOpts{})
	cl.net.setFault(opCoordinate, "a", fault{err: diskFull("a")})
	res, err := cl.coord("x").Put(testCtx(t), Write{Key: []byte("k"), Value: []byte("v")})
	if err != nil || res.Info.Coordinator != "b" {
		t.Fatalf("Put: %+v, %v; want coordinated by b", res.Info, err)
	}
}

// TestQuorumFailureNamesFullReplicas: a write that misses its level because
// replicas refused for a full disk says which.
func TestQuorumFailureNamesFullReplicas(t *testing.T) {
	cl := newCluster(t, abc, clusterOpts{})
	cl.net.setFault(opApply, "c", fault{err: diskFull("c")})
	_, err := cl.coord("a").Put(testCtx(t), Write{Key: []byte("k"), Value: []byte("v"), Consistency: Consistency{Level: LevelAll}})
	var ue *UnavailableError
	if !errors.As(err, &ue) || !slices.Equal(ue.DiskFull, []string{"c"}) || ue.Acknowledged != 2 {
		t.Fatalf("Put: %v, want unavailable with c's disk full", err)
	}
}

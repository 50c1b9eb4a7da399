package coordinator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/vclock"
)

var abc = []string{"a", "b", "c"}

func unreachable(node string) fault {
	return fault{err: fmt.Errorf("%w: %s refused the connection", ErrUnreachable, node)}
}

// TestPutAcksCountCoordinator: the coordinator's own durable write is one of
// the W acknowledgements.
func TestPutAcksCountCoordinator(t *testing.T) {
	cases := []struct {
		name    string
		cons    Consistency
		down    []string // replicas that fail every call
		wantErr bool
		acks    int
		need    int
	}{
		{"one, others down", Consistency{Level: LevelOne}, []string{"b", "c"}, false, 1, 1},
		{"count 1, others down", Consistency{Count: 1}, []string{"b", "c"}, false, 1, 1},
		{"two, others down", Consistency{Level: LevelTwo}, []string{"b", "c"}, true, 1, 2},
		{"quorum, one down", Consistency{Level: LevelQuorum}, []string{"c"}, false, 2, 2},
		{"default, one down", Consistency{}, []string{"b"}, false, 2, 2},
		{"quorum, two down", Consistency{}, []string{"b", "c"}, true, 1, 2},
		{"all, healthy", Consistency{Level: LevelAll}, nil, false, 3, 3},
		{"all strict, healthy", Consistency{Level: LevelAll, Strict: true}, nil, false, 3, 3},
		{"all, one down", Consistency{Level: LevelAll}, []string{"c"}, true, 2, 3},
		{"count 3, one down", Consistency{Count: 3}, []string{"b"}, true, 2, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cl := newCluster(t, abc, clusterOpts{})
			for _, n := range tc.down {
				cl.net.setFault("*", n, unreachable(n))
			}
			res, err := cl.coord("a").Put(testCtx(t), Write{Key: []byte("k"), Value: []byte("v"), Consistency: tc.cons})
			if tc.wantErr {
				ue := unavailable(t, err)
				if ue.Op != "write" || ue.Required != tc.need || ue.Acknowledged != tc.acks {
					t.Fatalf("error %+v, want write required=%d acknowledged=%d", ue, tc.need, tc.acks)
				}
				want := fmt.Sprintf("write unavailable: %d replicas required, %d acknowledged", tc.need, tc.acks)
				if ue.Error() != want {
					t.Errorf("message %q, want %q", ue.Error(), want)
				}
			} else if err != nil {
				t.Fatalf("Put: %v", err)
			}
			if res.Info.Acks != tc.acks || res.Info.Required != tc.need {
				t.Errorf("Info acks=%d required=%d, want %d %d", res.Info.Acks, res.Info.Required, tc.acks, tc.need)
			}
			if res.Info.Coordinator != "a" || res.Info.Partition != testPartition || res.Info.FallbackAcks != 0 {
				t.Errorf("Info %+v", res.Info)
			}
			if len(res.Info.Replicas) != res.Info.Acks || res.Info.Replicas[0] != "a" {
				t.Errorf("Replicas %v: want the coordinator first and one per ack (%d)", res.Info.Replicas, res.Info.Acks)
			}
			for _, n := range tc.down {
				if slices.Contains(res.Info.Replicas, n) {
					t.Errorf("down replica %s listed as answering: %v", n, res.Info.Replicas)
				}
			}
			// The coordinator persisted the write even when the quorum failed.
			if got := live(cl.local("a").clock("k")); !slices.Equal(got, []string{"v"}) {
				t.Errorf("coordinator holds %v", got)
			}
			if got := live(res.Clock); !slices.Equal(got, []string{"v"}) {
				t.Errorf("result clock holds %v", got)
			}
		})
	}
}

// TestPutUnavailableWaitsForPending: when the quorum becomes impossible the
// coordinator still waits for the pending answers, so the error's count is
// what really happened (here: c acknowledges after b failed).
func TestPutUnavailableWaitsForPending(t *testing.T) {
	cl := newCluster(t, abc, clusterOpts{})
	cl.net.setFault(opApply, "b", unreachable("b"))
	gate := make(chan struct{})
	cl.net.setFault(opApply, "c", fault{gate: gate})

	out := goPut(testCtx(t), cl.coord("a"), Write{Key: []byte("k"), Value: []byte("v"), Consistency: Consistency{Level: LevelAll}})
	cl.net.waitFor(t, "b failed and c's apply is held", func() bool {
		return cl.net.finishedTo(opApply, "b") == 1 && cl.net.callsTo(opApply, "c") == 1
	})
	select {
	case o := <-out:
		t.Fatalf("Put returned before c answered: %+v, %v", o.res.Info, o.err)
	default:
	}
	close(gate)
	o := recv(t, out, "Put")
	ue := unavailable(t, o.err)
	if ue.Required != 3 || ue.Acknowledged != 2 {
		t.Fatalf("got %+v; want required 3, acknowledged 2 (a and c)", ue)
	}
	if o.res.Info.Acks != 2 || !slices.Equal(o.res.Info.Replicas, []string{"a", "c"}) {
		t.Errorf("Info %+v", o.res.Info)
	}
	if !cl.local("c").clock("k").Equal(o.res.Clock) {
		t.Errorf("c holds %v, want the result %v", cl.local("c").clock("k"), o.res.Clock)
	}
}

// TestPutUnavailableAfterReplicaTimeout: a replica that never answers counts
// as failed once its ReplicaTimeout passes; the call then ends.
func TestPutUnavailableAfterReplicaTimeout(t *testing.T) {
	cl := newCluster(t, abc, clusterOpts{config: func(_ string, c *Config) { c.ReplicaTimeout = 50 * time.Millisecond }})
	cl.net.setFault(opApply, "b", fault{block: true})
	cl.net.setFault(opApply, "c", fault{block: true})
	_, err := cl.coord("a").Put(testCtx(t), Write{Key: []byte("k"), Value: []byte("v")})
	ue := unavailable(t, err)
	if ue.Required != 2 || ue.Acknowledged != 1 {
		t.Fatalf("got %+v; want 2 required, 1 acknowledged", ue)
	}
}

// TestPutMetReturnsBeforeStragglers: a write returns at W and the remaining
// replicas still receive it in the background.
func TestPutMetReturnsBeforeStragglers(t *testing.T) {
	cl := newCluster(t, abc, clusterOpts{})
	gate := make(chan struct{})
	cl.net.setFault(opApply, "c", fault{gate: gate})
	res, err := cl.coord("a").Put(testCtx(t), Write{Key: []byte("k"), Value: []byte("v")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Info.Acks != 2 || !slices.Equal(res.Info.Replicas, []string{"a", "b"}) {
		t.Fatalf("Info %+v", res.Info)
	}
	if cl.local("c").applyCount("k") != 0 {
		t.Fatal("c applied before its gate opened")
	}
	close(gate)
	cl.net.waitFor(t, "c gets the write after the client's answer", func() bool {
		return cl.local("c").clock("k").Equal(res.Clock)
	})
}

// TestPutClientGivesUp: when the client's context ends first, Put returns an
// UnavailableError counting the acks so far; the straggler still gets the
// write.
func TestPutClientGivesUp(t *testing.T) {
	cl := newCluster(t, abc, clusterOpts{})
	gate := make(chan struct{})
	cl.net.setFault(opApply, "c", fault{gate: gate})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := goPut(ctx, cl.coord("a"), Write{Key: []byte("k"), Value: []byte("v"), Consistency: Consistency{Level: LevelAll}})
	cl.net.waitFor(t, "b acked and c is held", func() bool {
		return cl.net.finishedTo(opApply, "b") == 1 && cl.net.callsTo(opApply, "c") == 1
	})
	cancel()
	o := recv(t, out, "Put")
	ue := unavailable(t, o.err)
	// b's ack may or may not have been counted when the cancel won the race.
	if ue.Required != 3 || ue.Acknowledged < 1 || ue.Acknowledged > 2 {
		t.Fatalf("got %+v", ue)
	}
	if o.res.Info.Acks != ue.Acknowledged {
		t.Errorf("Info.Acks %d != Acknowledged %d", o.res.Info.Acks, ue.Acknowledged)
	}
	close(gate)
	cl.net.waitFor(t, "c gets the write", func() bool { return cl.local("c").clock("k").Equal(o.res.Clock) })
}

// TestPutShortPreferenceList: fewer replicas in the list than W can never
// succeed and is reported, not downgraded.
func TestPutShortPreferenceList(t *testing.T) {
	cl := newCluster(t, []string{"a", "b"}, clusterOpts{prefs: []string{"a", "b"}, replicas: 3})
	res, err := cl.coord("a").Put(testCtx(t), Write{Key: []byte("k"), Value: []byte("v"), Consistency: Consistency{Level: LevelAll}})
	ue := unavailable(t, err)
	if ue.Required != 3 || ue.Acknowledged != 2 || res.Info.Acks != 2 {
		t.Fatalf("got %+v, info %+v", ue, res.Info)
	}
}

// TestPutIgnoresGossipForQuorum: Liveness only orders choices; replicas
// gossip believes down still get the write and their acks count.
func TestPutIgnoresGossipForQuorum(t *testing.T) {
	cl := newCluster(t, abc, clusterOpts{})
	cl.setDown("b", "c")
	res, err := cl.coord("a").Put(testCtx(t), Write{Key: []byte("k"), Value: []byte("v"), Consistency: Consistency{Level: LevelAll}})
	if err != nil || res.Info.Acks != 3 {
		t.Fatalf("Put: %+v, %v", res.Info, err)
	}
}

// TestPutReplicatesWholeResult: the other replicas get the coordinator's whole
// result, siblings the context did not cover included (docs/causality.md §6.5).
func TestPutReplicatesWholeResult(t *testing.T) {
	cl := newCluster(t, abc, clusterOpts{})
	q := clk(entry("a", 3, "v3", "v2"))
	cl.local("a").set("k", q)
	cl.local("b").set("k", q)
	res, err := cl.coord("a").Put(testCtx(t), Write{
		Key: []byte("k"), Value: []byte("v4"), Consistency: Consistency{Level: LevelAll},
		Context: vclock.VV{{Actor: "a", N: 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := clk(entry("a", 4, "v4", "v3", "v2"))
	if !res.Clock.Equal(want) {
		t.Fatalf("result %v, want %v", res.Clock, want)
	}
	for _, n := range abc {
		if got := cl.local(n).clock("k"); !got.Equal(want) {
			t.Errorf("%s holds %v, want %v", n, got, want)
		}
	}
}

// TestPutSameContextBothSurvive: two clients that read the same version and
// write through the same coordinator both survive as siblings.
func TestPutSameContextBothSurvive(t *testing.T) {
	cl := newCluster(t, abc, clusterOpts{})
	ctx := testCtx(t)
	key := []byte("k")
	if _, err := cl.coord("a").Put(ctx, Write{Key: key, Value: []byte("v1")}); err != nil {
		t.Fatal(err)
	}
	r, err := cl.coord("a").Get(ctx, key, Consistency{})
	if err != nil {
		t.Fatal(err)
	}
	rc := r.Clock.Context()
	for _, v := range []string{"x", "y"} {
		if _, err := cl.coord("a").Put(ctx, Write{Key: key, Value: []byte(v), Context: rc}); err != nil {
			t.Fatal(err)
		}
	}
	r, err = cl.coord("a").Get(ctx, key, Consistency{Level: LevelAll})
	if err != nil {
		t.Fatal(err)
	}
	if got := live(r.Clock); !slices.Equal(got, []string{"x", "y"}) {
		t.Fatalf("live %v, want x and y (v1 superseded)", got)
	}
	// A write whose context covers both replaces them.
	if _, err := cl.coord("a").Put(ctx, Write{Key: key, Value: []byte("z"), Context: r.Clock.Context()}); err != nil {
		t.Fatal(err)
	}
	r, err = cl.coord("a").Get(ctx, key, Consistency{Level: LevelAll})
	if err != nil || !slices.Equal(live(r.Clock), []string{"z"}) {
		t.Fatalf("after resolving write: %v, %v", live(r.Clock), err)
	}
}

// TestPutConcurrentBlindWrites: blind writes from many goroutines through
// several coordinators all survive as siblings once replicas converge.
func TestPutConcurrentBlindWrites(t *testing.T) {
	cl := newCluster(t, abc, clusterOpts{})
	ctx := testCtx(t)
	const per = 10
	var wg sync.WaitGroup
	errs := make(chan error, 3*per)
	for _, n := range abc {
		for i := range per {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := cl.coord(n).Put(ctx, Write{Key: []byte("k"), Value: fmt.Appendf(nil, "%s%d", n, i)})
				errs <- err
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	r, err := cl.coord("b").Get(ctx, []byte("k"), Consistency{Level: LevelAll})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(r.Clock.Live()); got != 3*per {
		t.Fatalf("%d live siblings, want %d", got, 3*per)
	}
}

// TestPutTombstone: a delete stores a tombstone sibling (its Value is the
// tombstone's metadata); a read reports not found and still returns the
// context.
func TestPutTombstone(t *testing.T) {
	cl := newCluster(t, abc, clusterOpts{})
	ctx := testCtx(t)
	key := []byte("k")
	if _, err := cl.coord("a").Put(ctx, Write{Key: key, Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	r, _ := cl.coord("a").Get(ctx, key, Consistency{})
	res, err := cl.coord("a").Put(ctx, Write{Key: key, Value: []byte("why"), Tombstone: true, Context: r.Clock.Context(), Consistency: Consistency{Level: LevelAll}})
	if err != nil {
		t.Fatal(err)
	}
	vals := res.Clock.Values()
	if len(vals) != 1 || !vals[0].Tombstone || string(vals[0].Value) != "why" {
		t.Fatalf("result values %+v, want one tombstone with its metadata", vals)
	}
	r, err = cl.coord("b").Get(ctx, key, Consistency{Level: LevelAll})
	if err != nil {
		t.Fatal(err)
	}
	if r.Found || len(r.Clock.Context()) == 0 || !r.Clock.AllTombstones() {
		t.Fatalf("Get after delete: found=%v clock=%v", r.Found, r.Clock)
	}
}

// TestPutLocalErrorIsFinal: a failed local write is returned as-is and
// nothing is sent to the other replicas.
func TestPutLocalErrorIsFinal(t *testing.T) {
	cl := newCluster(t, abc, clusterOpts{})
	boom := errors.New("disk full")
	cl.local("a").setCoordErr(boom)
	_, err := cl.coord("a").Put(testCtx(t), Write{Key: []byte("k"), Value: []byte("v")})
	if !errors.Is(err, boom) {
		t.Fatalf("Put: %v, want %v", err, boom)
	}
	cl.closeAll()
	if n := cl.net.callsTo(opApply, "b") + cl.net.callsTo(opApply, "c"); n != 0 {
		t.Fatalf("%d replication calls after a failed local write", n)
	}
}

// TestPutLocalNotDurable: the coordinator's own fsync failing after the
// write went out does not count toward the quorum; the other replicas can
// still make it.
func TestPutLocalNotDurable(t *testing.T) {
	cl := newCluster(t, abc, clusterOpts{})
	cl.local("a").setDurableErr(errors.New("fsync: input/output error"))
	res, err := cl.coord("a").Put(testCtx(t), Write{Key: []byte("k"), Value: []byte("v"), Consistency: Consistency{Level: LevelQuorum}})
	if err != nil {
		t.Fatalf("QUORUM put with two durable replicas: %v", err)
	}
	if res.Info.Acks != 2 || slices.Contains(res.Info.Replicas, "a") {
		t.Fatalf("acks %d replicas %v, want 2 without a", res.Info.Acks, res.Info.Replicas)
	}
	_, err = cl.coord("a").Put(testCtx(t), Write{Key: []byte("k2"), Value: []byte("v"), Consistency: Consistency{Level: LevelAll}})
	var ue *UnavailableError
	if !errors.As(err, &ue) || ue.Required != 3 || ue.Acknowledged != 2 {
		t.Fatalf("ALL put: %v, want unavailable 3 required, 2 acknowledged", err)
	}
}

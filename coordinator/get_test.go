package coordinator

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/quorumkv/quorumkv/vclock"
)

// TestGetReturnsAfterRAnswers: with R = 2 of 3 a read returns once two
// replicas answered, merged with Sync, without waiting for the third.
func TestGetReturnsAfterRAnswers(t *testing.T) {
	cl := newCluster(t, abc, clusterOpts{})
	cl.local("a").set("k", clk(entry("a", 1, "v1")))
	cl.local("b").set("k", clk(entry("b", 1, "w1")))
	cl.local("c").set("k", clk(entry("c", 1, "never seen")))
	cl.net.setFault(opRead, "c", fault{block: true}) // answers only when Close cancels it

	r, err := cl.coord("a").Get(testCtx(t), []byte("k"), Consistency{})
	if err != nil {
		t.Fatal(err)
	}
	want := vclock.Sync(clk(entry("a", 1, "v1")), clk(entry("b", 1, "w1")))
	if !r.Clock.Equal(want) || !r.Found {
		t.Fatalf("Get = %v (found %v), want %v", r.Clock, r.Found, want)
	}
	if r.Info.Acks != 2 || r.Info.Required != 2 || r.Info.Coordinator != "a" || r.Info.Partition != testPartition {
		t.Fatalf("Info %+v", r.Info)
	}
	got := slices.Sorted(slices.Values(r.Info.Replicas))
	if !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("Replicas %v, want a and b", r.Info.Replicas)
	}
	if cl.net.finishedTo(opRead, "c") != 0 {
		t.Fatal("c answered although it was held")
	}
}

// TestGetMerge covers the merge of the answers and Found.
func TestGetMerge(t *testing.T) {
	tomb := vclock.Sibling{Tombstone: true}
	cases := []struct {
		name   string
		copies [3]vclock.Clock // a, b, c
		want   vclock.Clock
		found  bool
	}{
		{"newer dominates", [3]vclock.Clock{clk(entry("a", 2, "v2")), clk(entry("a", 1, "v1")), clk(entry("a", 2, "v2"))},
			clk(entry("a", 2, "v2")), true},
		{"concurrent siblings", [3]vclock.Clock{clk(entry("a", 1, "x")), clk(entry("b", 1, "y")), clk(entry("c", 1, "z"))},
			clk(entry("a", 1, "x"), entry("b", 1, "y"), entry("c", 1, "z")), true},
		{"absent everywhere", [3]vclock.Clock{}, vclock.Clock{}, false},
		{"one copy", [3]vclock.Clock{{}, clk(entry("b", 3, "v"))}, clk(entry("b", 3, "v")), true},
		{"only tombstones", [3]vclock.Clock{
			{Entries: []vclock.Entry{{Actor: "a", N: 2, Values: []vclock.Sibling{tomb}}}},
			clk(entry("a", 1, "old")),
			{Entries: []vclock.Entry{{Actor: "a", N: 2, Values: []vclock.Sibling{tomb}}}},
		}, vclock.Clock{Entries: []vclock.Entry{{Actor: "a", N: 2, Values: []vclock.Sibling{tomb}}}}, false},
		{"tombstone beside a live value", [3]vclock.Clock{
			{Entries: []vclock.Entry{{Actor: "a", N: 2, Values: []vclock.Sibling{tomb}}, {Actor: "b", N: 1, Values: []vclock.Sibling{sib("v")}}}},
		}, vclock.Clock{Entries: []vclock.Entry{{Actor: "a", N: 2, Values: []vclock.Sibling{tomb}}, {Actor: "b", N: 1, Values: []vclock.Sibling{sib("v")}}}}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cl := newCluster(t, abc, clusterOpts{})
			for i, n := range abc {
				if !tc.copies[i].IsEmpty() {
					cl.local(n).set("k", tc.copies[i])
				}
			}
			r, err := cl.coord("b").Get(testCtx(t), []byte("k"), Consistency{Level: LevelAll})
			if err != nil {
				t.Fatal(err)
			}
			if !r.Clock.Equal(tc.want) || r.Found != tc.found {
				t.Fatalf("Get = %v found=%v, want %v found=%v", r.Clock, r.Found, tc.want, tc.found)
			}
			if !r.Found && !r.Clock.Context().Equal(tc.want.Context()) {
				t.Fatalf("not-found read lost the context: %v", r.Clock.Context())
			}
		})
	}
}

// TestGetUnavailable: a read that cannot reach R says so, with the count of
// replicas that really answered (it waits for pending ones).
func TestGetUnavailable(t *testing.T) {
	t.Run("one down, all", func(t *testing.T) {
		cl := newCluster(t, abc, clusterOpts{})
		cl.net.setFault(opRead, "c", unreachable("c"))
		r, err := cl.coord("a").Get(testCtx(t), []byte("k"), Consistency{Level: LevelAll})
		ue := unavailable(t, err)
		if ue.Op != "read" || ue.Required != 3 || ue.Acknowledged != 2 || r.Info.Acks != 2 {
			t.Fatalf("got %+v, info %+v", ue, r.Info)
		}
		if want := "read unavailable: 3 replicas required, 2 answered"; ue.Error() != want {
			t.Errorf("message %q, want %q", ue.Error(), want)
		}
		if r.Found || !r.Clock.IsEmpty() {
			t.Errorf("a failed read returned data: %+v", r)
		}
	})
	t.Run("waits for pending answers", func(t *testing.T) {
		cl := newCluster(t, abc, clusterOpts{})
		cl.net.setFault(opRead, "b", unreachable("b"))
		gate := make(chan struct{})
		cl.net.setFault(opRead, "c", fault{gate: gate})
		out := goGet(testCtx(t), cl.coord("a"), []byte("k"), Consistency{Level: LevelAll})
		cl.net.waitFor(t, "b failed, c held", func() bool {
			return cl.net.finishedTo(opRead, "b") == 1 && cl.net.callsTo(opRead, "c") == 1
		})
		select {
		case o := <-out:
			t.Fatalf("Get returned before c answered: %v", o.err)
		default:
		}
		close(gate)
		o := recv(t, out, "Get")
		ue := unavailable(t, o.err)
		if ue.Required != 3 || ue.Acknowledged != 2 {
			t.Fatalf("got %+v, want 2 answered (a and c)", ue)
		}
	})
	t.Run("all down, quorum", func(t *testing.T) {
		cl := newCluster(t, abc, clusterOpts{})
		cl.net.setFault(opRead, "b", unreachable("b"))
		cl.net.setFault(opRead, "c", unreachable("c"))
		_, err := cl.coord("a").Get(testCtx(t), []byte("k"), Consistency{})
		if ue := unavailable(t, err); ue.Required != 2 || ue.Acknowledged != 1 {
			t.Fatalf("got %+v", ue)
		}
	})
	t.Run("client gives up", func(t *testing.T) {
		cl := newCluster(t, abc, clusterOpts{})
		cl.net.setFault(opRead, "b", fault{block: true})
		cl.net.setFault(opRead, "c", fault{block: true})
		ctx, cancel := context.WithCancel(context.Background())
		out := goGet(ctx, cl.coord("a"), []byte("k"), Consistency{})
		cl.net.waitFor(t, "reads in flight", func() bool {
			return cl.net.callsTo(opRead, "b") == 1 && cl.net.callsTo(opRead, "c") == 1
		})
		cancel()
		o := recv(t, out, "Get")
		if ue := unavailable(t, o.err); ue.Required != 2 || ue.Acknowledged > 1 {
			t.Fatalf("got %+v", ue)
		}
	})
}

// TestReadRepairOnlyStale: the merge goes to exactly the replicas whose
// copy differs from it (including an absent copy and the coordinator's own),
// once each, and to no replica that failed to answer.
func TestReadRepairOnlyStale(t *testing.T) {
	fresh := clk(entry("a", 2, "v2"), entry("b", 1, "w"))
	cases := []struct {
		name   string
		copies map[string]vclock.Clock
		failed string
		stale  []string
	}{
		{"remote stale", map[string]vclock.Clock{"a": fresh, "b": clk(entry("a", 1, "v1")), "c": fresh}, "", []string{"b"}},
		{"own copy stale", map[string]vclock.Clock{"a": clk(entry("a", 1, "v1")), "b": fresh, "c": fresh}, "", []string{"a"}},
		{"absent copy", map[string]vclock.Clock{"a": fresh, "b": fresh}, "", []string{"c"}},
		{"partial copies", map[string]vclock.Clock{"a": clk(entry("a", 2, "v2")), "b": clk(entry("b", 1, "w")), "c": fresh}, "", []string{"a", "b"}},
		{"all equal", map[string]vclock.Clock{"a": fresh, "b": fresh, "c": fresh}, "", nil},
		{"failed replica not repaired", map[string]vclock.Clock{"a": fresh, "b": fresh, "c": clk(entry("a", 1, "v1"))}, "c", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cl := newCluster(t, abc, clusterOpts{})
			for n, c := range tc.copies {
				cl.local(n).set("k", c)
			}
			cons := Consistency{Level: LevelAll}
			if tc.failed != "" {
				cl.net.setFault(opRead, tc.failed, unreachable(tc.failed))
				cons = Consistency{Level: LevelTwo}
			}
			r, err := cl.coord("a").Get(testCtx(t), []byte("k"), cons)
			if err != nil {
				t.Fatal(err)
			}
			if !r.Clock.Equal(fresh) {
				t.Fatalf("Get = %v, want %v", r.Clock, fresh)
			}
			for _, n := range tc.stale {
				cl.net.waitFor(t, n+" repaired", func() bool { return cl.local(n).clock("k").Equal(fresh) })
			}
			cl.closeAll() // waits for the repair goroutine
			for _, n := range abc {
				want := 0
				if slices.Contains(tc.stale, n) {
					want = 1
				}
				if got := cl.local(n).applyCount("k"); got != want {
					t.Errorf("%s got %d repairs, want %d", n, got, want)
				}
			}
			if ok, failed := cl.coord("a").ReadRepairs(); ok != uint64(len(tc.stale)) || failed != 0 {
				t.Errorf("ReadRepairs = %d, %d failed; want %d, 0", ok, failed, len(tc.stale))
			}
		})
	}
}

// TestReadRepairLateAnswer: a replica that answers after the client has its
// result still feeds the repair and is repaired itself.
func TestReadRepairLateAnswer(t *testing.T) {
	cl := newCluster(t, abc, clusterOpts{})
	fresh := clk(entry("a", 2, "v2"))
	cl.local("a").set("k", fresh)
	cl.local("b").set("k", fresh)
	cl.local("c").set("k", clk(entry("a", 1, "v1")))
	gate := make(chan struct{})
	cl.net.setFault(opRead, "c", fault{gate: gate})
	if _, err := cl.coord("a").Get(testCtx(t), []byte("k"), Consistency{}); err != nil {
		t.Fatal(err)
	}
	close(gate)
	cl.net.waitFor(t, "c repaired", func() bool { return cl.local("c").clock("k").Equal(fresh) })
	cl.closeAll()
	if cl.local("a").applyCount("k")+cl.local("b").applyCount("k") != 0 || cl.local("c").applyCount("k") != 1 {
		t.Fatal("repair went to the wrong replicas")
	}
}

// TestReadRepairNewerLateAnswer: the repair merges every answer, so a late
// answer newer than what the client saw repairs the replicas that answered
// first (the client's result is not rewritten).
func TestReadRepairNewerLateAnswer(t *testing.T) {
	cl := newCluster(t, abc, clusterOpts{})
	old, fresh := clk(entry("a", 1, "v1")), clk(entry("a", 2, "v2"))
	cl.local("a").set("k", old)
	cl.local("b").set("k", old)
	cl.local("c").set("k", fresh)
	gate := make(chan struct{})
	cl.net.setFault(opRead, "c", fault{gate: gate})
	r, err := cl.coord("a").Get(testCtx(t), []byte("k"), Consistency{})
	if err != nil || !r.Clock.Equal(old) {
		t.Fatalf("Get = %v, %v", r.Clock, err)
	}
	close(gate)
	for _, n := range []string{"a", "b"} {
		cl.net.waitFor(t, n+" repaired", func() bool { return cl.local(n).clock("k").Equal(fresh) })
	}
	cl.closeAll()
	if cl.local("c").applyCount("k") != 0 {
		t.Fatal("c (the newest copy) was repaired")
	}
}

// TestReadRepairDeduplicated: while a repair of a key is in flight, another
// read of that key starts none; once it ends, a new read repairs again.
func TestReadRepairDeduplicated(t *testing.T) {
	cl := newCluster(t, abc, clusterOpts{})
	fresh := clk(entry("a", 2, "v2"))
	cl.local("a").set("k", fresh)
	cl.local("b").set("k", fresh)
	cl.local("c").set("k", clk(entry("a", 1, "v1")))
	gate := make(chan struct{})
	cl.net.setFault(opRead, "c", fault{gate: gate})
	co := cl.coord("a")
	ctx := testCtx(t)
	for i := range 5 {
		if _, err := co.Get(ctx, []byte("k"), Consistency{}); err != nil {
			t.Fatalf("Get %d: %v", i, err)
		}
	}
	if _, busy := co.repairing.Load("k"); !busy {
		t.Fatal("no repair in flight while c's answer is pending")
	}
	close(gate)
	cl.net.waitFor(t, "the repair ends", func() bool {
		_, busy := co.repairing.Load("k")
		return !busy && cl.net.finishedTo(opRead, "c") == 5
	})
	if got := cl.local("c").applyCount("k"); got != 1 {
		t.Fatalf("c got %d repairs for 5 overlapping reads, want 1", got)
	}
	if !cl.local("c").clock("k").Equal(fresh) {
		t.Fatal("c not repaired")
	}

	// c goes stale again; the next read repairs it again.
	cl.net.clearFault(opRead, "c")
	cl.local("c").set("k", clk(entry("a", 1, "v1")))
	if _, err := co.Get(ctx, []byte("k"), Consistency{Level: LevelAll}); err != nil {
		t.Fatal(err)
	}
	cl.net.waitFor(t, "second repair", func() bool { return cl.local("c").applyCount("k") == 2 })
	cl.closeAll()
	if a, b := cl.local("a").applyCount("k"), cl.local("b").applyCount("k"); a+b != 0 {
		t.Fatalf("fresh replicas repaired: a=%d b=%d", a, b)
	}
}

// TestReadRepairPerKey: de-duplication is per key; repairs of different keys
// run side by side.
func TestReadRepairPerKey(t *testing.T) {
	cl := newCluster(t, abc, clusterOpts{})
	fresh := clk(entry("a", 2, "v2"))
	keys := []string{"k1", "k2", "k3"}
	for _, k := range keys {
		cl.local("a").set(k, fresh)
		cl.local("b").set(k, fresh)
		cl.local("c").set(k, clk(entry("a", 1, "v1")))
	}
	gate := make(chan struct{})
	cl.net.setFault(opRead, "c", fault{gate: gate})
	for _, k := range keys {
		if _, err := cl.coord("a").Get(testCtx(t), []byte(k), Consistency{}); err != nil {
			t.Fatal(err)
		}
	}
	close(gate)
	for _, k := range keys {
		cl.net.waitFor(t, k+" repaired", func() bool { return cl.local("c").clock(k).Equal(fresh) })
	}
	cl.closeAll()
	for _, k := range keys {
		if got := cl.local("c").applyCount(k); got != 1 {
			t.Errorf("%s: %d repairs", k, got)
		}
	}
}

// TestReadRepairNothingToRepair: an absent key starts no repair.
func TestReadRepairNothingToRepair(t *testing.T) {
	cl := newCluster(t, abc, clusterOpts{})
	r, err := cl.coord("a").Get(testCtx(t), []byte("k"), Consistency{Level: LevelAll})
	if err != nil || r.Found || !r.Clock.IsEmpty() {
		t.Fatalf("Get = %+v, %v", r, err)
	}
	cl.closeAll()
	if n := cl.net.callsTo(opApply, "b") + cl.net.callsTo(opApply, "c") + cl.local("a").applyCount("k"); n != 0 {
		t.Fatalf("%d repair calls for an absent key", n)
	}
}

// TestGetAsksOnlyR: by default a read asks R replicas, this node first, and
// asks the next replica only when one fails.
func TestGetAsksOnlyR(t *testing.T) {
	c := newCluster(t, abc, clusterOpts{readFew: true})
	ctx := testCtx(t)
	co := c.coord("b")
	key := []byte("k")
	if _, err := co.Put(ctx, Write{Key: key, Value: []byte("v"), Consistency: Consistency{Level: LevelAll}}); err != nil {
		t.Fatal(err)
	}
	res, err := co.Get(ctx, key, Consistency{Level: LevelOne})
	if err != nil || !res.Found || !slices.Equal(res.Info.Replicas, []string{"b"}) {
		t.Fatalf("R=1 read on a replica: %v %+v, want only the local copy", err, res.Info)
	}
	c.net.setFault("read", "a", fault{err: fmt.Errorf("%w: a is down", ErrUnreachable)})
	res, err = co.Get(ctx, key, Consistency{Level: LevelTwo})
	if err != nil || !slices.Equal(sortedIDs(res.Info.Replicas), []string{"b", "c"}) {
		t.Fatalf("R=2 read with a failing: %v %+v, want b and c", err, res.Info)
	}
}

func sortedIDs(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

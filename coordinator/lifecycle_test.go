package coordinator

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/quorumkv/quorumkv/vclock"
)

func TestNewValidates(t *testing.T) {
	base := func() Config {
		l := &fakeLocal{net: newFakeNet(), data: map[string]vclock.Clock{}, applies: map[string]int{}}
		return Config{
			NodeID: "a", Replicas: 3, Local: l, Transport: l.net.transport("a"),
			Placement: func() Placement { return staticPlacement{part: 1, prefs: abc} },
			Logger:    discardLogger(),
		}
	}
	cases := map[string]func(*Config){
		"no node id":        func(c *Config) { c.NodeID = "" },
		"zero replicas":     func(c *Config) { c.Replicas = 0 },
		"negative replicas": func(c *Config) { c.Replicas = -1 },
		"no placement":      func(c *Config) { c.Placement = nil },
		"no local":          func(c *Config) { c.Local = nil },
		"no transport":      func(c *Config) { c.Transport = nil },
		"negative timeout":  func(c *Config) { c.ReplicaTimeout = -1 },
		"negative key size": func(c *Config) { c.MaxKeySize = -1 },
		"negative value":    func(c *Config) { c.MaxValueSize = -1 },
	}
	for name, edit := range cases {
		cfg := base()
		edit(&cfg)
		if co, err := New(cfg); err == nil {
			co.Close()
			t.Errorf("%s: New accepted the config", name)
		}
	}
	cfg := base()
	co, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer co.Close()
	if co.cfg.ReplicaTimeout != DefaultReplicaTimeout || co.cfg.MaxKeySize != DefaultMaxKeySize || co.cfg.MaxValueSize != DefaultMaxValueSize {
		t.Errorf("defaults not applied: %+v", co.cfg)
	}
}

// TestInvalidArguments: bad keys, values, contexts and consistency levels
// are rejected with ErrInvalidArgument before anything is written or sent,
// on every entry point.
func TestInvalidArguments(t *testing.T) {
	limits := func(_ string, c *Config) { c.MaxKeySize, c.MaxValueSize = 8, 16 }
	key8, val16 := bytes.Repeat([]byte("k"), 8), bytes.Repeat([]byte("v"), 16)
	writes := map[string]Write{
		"empty key":         {Key: nil, Value: []byte("v")},
		"zero-length key":   {Key: []byte{}, Value: []byte("v")},
		"key over limit":    {Key: append(key8, 'x'), Value: []byte("v")},
		"value over limit":  {Key: []byte("k"), Value: append(val16, 'x')},
		"unsorted context":  {Key: []byte("k"), Value: []byte("v"), Context: vclock.VV{{Actor: "b", N: 1}, {Actor: "a", N: 1}}},
		"duplicate actor":   {Key: []byte("k"), Value: []byte("v"), Context: vclock.VV{{Actor: "a", N: 1}, {Actor: "a", N: 2}}},
		"zero counter":      {Key: []byte("k"), Value: []byte("v"), Context: vclock.VV{{Actor: "a", N: 0}}},
		"empty actor":       {Key: []byte("k"), Value: []byte("v"), Context: vclock.VV{{Actor: "", N: 1}}},
		"count above N":     {Key: []byte("k"), Value: []byte("v"), Consistency: Consistency{Count: 4}},
		"negative count":    {Key: []byte("k"), Value: []byte("v"), Consistency: Consistency{Count: -1}},
		"unknown level":     {Key: []byte("k"), Value: []byte("v"), Consistency: Consistency{Level: Level(42)}},
		"three of two kept": {Key: []byte("k"), Value: []byte("v"), Consistency: Consistency{Level: LevelThree}},
	}
	cl := forwardCluster(t, clusterOpts{config: limits, replicas: 3})
	// "three of two kept" needs N=2: run it on a separate cluster below.
	delete(writes, "three of two kept")
	ctx := testCtx(t)
	for name, w := range writes {
		for _, via := range []string{"a", "x"} { // a replica and a forwarding node
			if _, err := cl.coord(via).Put(ctx, w); !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("%s: Put via %s: %v, want ErrInvalidArgument", name, via, err)
			}
			if _, err := cl.coord(via).CoordinateForwarded(ctx, w); !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("%s: CoordinateForwarded on %s: %v, want ErrInvalidArgument", name, via, err)
			}
		}
	}
	for name, key := range map[string][]byte{"empty key": nil, "key over limit": append(key8, 'x')} {
		if _, err := cl.coord("a").Get(ctx, key, Consistency{}); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: Get: %v", name, err)
		}
	}
	for _, cons := range []Consistency{{Count: 4}, {Count: -2}, {Level: Level(-3)}} {
		if _, err := cl.coord("a").Get(ctx, []byte("k"), cons); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("Get with %+v: %v", cons, err)
		}
	}
	cl.closeAll()
	for _, n := range xabc {
		if cl.local(n).coordinateCount() != 0 {
			t.Errorf("%s wrote an invalid request", n)
		}
	}
	if n := cl.net.callsFrom(opCoordinate, "x") + cl.net.callsFrom(opApply, "a") + cl.net.callsFrom(opRead, "a"); n != 0 {
		t.Errorf("%d calls sent for invalid requests", n)
	}

	// Exactly at the limits is fine.
	cl2 := newCluster(t, []string{"a", "b"}, clusterOpts{config: limits})
	if _, err := cl2.coord("a").Put(ctx, Write{Key: key8, Value: val16}); err != nil {
		t.Errorf("Put at the limits: %v", err)
	}
	if _, err := cl2.coord("a").Get(ctx, key8, Consistency{}); err != nil {
		t.Errorf("Get at the key limit: %v", err)
	}
	if _, err := cl2.coord("a").Put(ctx, Write{Key: []byte("k"), Value: []byte("v"), Consistency: Consistency{Level: LevelThree}}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("THREE with N=2: %v, want ErrInvalidArgument (never a silent downgrade)", err)
	}
}

// TestDefaultLimits: zero limits mean the defaults.
func TestDefaultLimits(t *testing.T) {
	cl := newCluster(t, []string{"a"}, clusterOpts{})
	ctx := testCtx(t)
	co := cl.coord("a")
	if _, err := co.Put(ctx, Write{Key: bytes.Repeat([]byte("k"), DefaultMaxKeySize), Value: make([]byte, DefaultMaxValueSize)}); err != nil {
		t.Fatalf("at the default limits: %v", err)
	}
	if _, err := co.Put(ctx, Write{Key: bytes.Repeat([]byte("k"), DefaultMaxKeySize+1)}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("key over the default: %v", err)
	}
	if _, err := co.Put(ctx, Write{Key: []byte("k"), Value: make([]byte, DefaultMaxValueSize+1)}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("value over the default: %v", err)
	}
	if _, err := co.Get(ctx, bytes.Repeat([]byte("k"), DefaultMaxKeySize+1), Consistency{}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Get key over the default: %v", err)
	}
}

// TestCloseWaitsForBackgroundWork: writes to stragglers and read repairs go
// on after the client's answer; Close cancels and waits for them.
func TestCloseWaitsForBackgroundWork(t *testing.T) {
	cl := newCluster(t, abc, clusterOpts{})
	cl.net.setFault(opApply, "b", fault{block: true})
	cl.net.setFault(opApply, "c", fault{block: true})
	cl.net.setFault(opRead, "c", fault{block: true})
	co := cl.coord("a")
	ctx := testCtx(t)
	if _, err := co.Put(ctx, Write{Key: []byte("k"), Value: []byte("v"), Consistency: Consistency{Level: LevelOne}}); err != nil {
		t.Fatal(err)
	}
	if _, err := co.Get(ctx, []byte("k2"), Consistency{Level: LevelOne}); err != nil {
		t.Fatal(err)
	}
	cl.net.waitFor(t, "background calls in flight", func() bool {
		return cl.net.callsTo(opApply, "b") == 1 && cl.net.callsTo(opApply, "c") == 1 && cl.net.callsTo(opRead, "c") == 1
	})
	if cl.net.inflight() == 0 {
		t.Fatal("nothing in flight")
	}
	co.Close()
	if n := cl.net.inflight(); n != 0 {
		t.Fatalf("Close returned with %d calls in flight", n)
	}
	co.Close() // idempotent
}

// TestCallsAfterCloseFail: after Close nothing panics and requests that need
// other replicas fail.
func TestCallsAfterCloseFail(t *testing.T) {
	cl := forwardCluster(t, clusterOpts{})
	ctx := testCtx(t)
	for _, n := range xabc {
		cl.coord(n).Close()
	}
	w := Write{Key: []byte("k"), Value: []byte("v")}
	if _, err := cl.coord("a").Put(ctx, w); err == nil {
		t.Error("quorum Put on a closed coordinator succeeded")
	}
	if _, err := cl.coord("a").CoordinateForwarded(ctx, w); err == nil {
		t.Error("CoordinateForwarded on a closed coordinator succeeded")
	}
	if _, err := cl.coord("a").Get(ctx, []byte("k"), Consistency{}); err == nil {
		t.Error("Get on a closed coordinator succeeded")
	}
	if _, err := cl.coord("x").Get(ctx, []byte("k"), Consistency{Level: LevelOne}); err == nil {
		t.Error("Get on a closed non-replica succeeded")
	}
	if n := cl.net.inflight(); n != 0 {
		t.Fatalf("%d calls in flight after Close", n)
	}
}

// TestClosedCoordinatorRejectsRequests: every call after Close should fail
// with an error wrapping ErrClosed, and must not write.
func TestClosedCoordinatorRejectsRequests(t *testing.T) {
	cl := forwardCluster(t, clusterOpts{})
	ctx := testCtx(t)
	for _, n := range xabc {
		cl.coord(n).Close()
	}
	one := Consistency{Level: LevelOne}
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", what, err)
		}
	}
	_, err := cl.coord("a").Put(ctx, Write{Key: []byte("k"), Value: []byte("v"), Consistency: one})
	check("Put (replica, W=ONE)", err)
	_, err = cl.coord("x").Put(ctx, Write{Key: []byte("k"), Value: []byte("v"), Consistency: one})
	check("Put (forwarding)", err)
	_, err = cl.coord("a").CoordinateForwarded(ctx, Write{Key: []byte("k"), Value: []byte("v"), Consistency: one})
	check("CoordinateForwarded", err)
	_, err = cl.coord("a").Get(ctx, []byte("k"), one)
	check("Get", err)
	for _, n := range xabc {
		if c := cl.local(n).coordinateCount(); c != 0 {
			t.Errorf("%s wrote %d times after Close", n, c)
		}
	}
}

// TestConcurrentCloseAndRequests: requests racing Close never panic and
// Close leaves nothing running (goleak checks at the end).
func TestConcurrentCloseAndRequests(t *testing.T) {
	cl := newCluster(t, abc, clusterOpts{})
	co := cl.coord("a")
	ctx := testCtx(t)
	done := make(chan struct{})
	for i := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for j := range 20 {
				key := []byte(fmt.Sprintf("k%d", j%3))
				if i%2 == 0 {
					_, _ = co.Put(ctx, Write{Key: key, Value: []byte("v")})
				} else {
					_, _ = co.Get(ctx, key, Consistency{})
				}
			}
		}()
	}
	co.Close()
	for range 8 {
		<-done
	}
	co.Close()
	if n := cl.net.inflight(); n != 0 {
		t.Fatalf("%d calls in flight", n)
	}
}

// ---- sloppy quorum (Config.Hints) ----

// TestSloppyFallbackCounts: with hints on, a primary that fails is replaced
// by a fallback that holds the write as a hint; it counts toward W and is
// reported.
func TestSloppyFallbackCounts(t *testing.T) {
	cl := newCluster(t, []string{"a", "b", "c", "d"}, clusterOpts{prefs: abc, fallbacks: []string{"d"}, hints: true})
	cl.net.setFault(opApply, "c", unreachable("c"))
	res, err := cl.coord("a").Put(testCtx(t), Write{Key: []byte("k"), Value: []byte("v"), Consistency: Consistency{Level: LevelAll}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Info.Acks != 3 || res.Info.FallbackAcks != 1 || !slices.Contains(res.Info.Replicas, "d") || slices.Contains(res.Info.Replicas, "c") {
		t.Fatalf("Info %+v: want 3 acks, one from fallback d", res.Info)
	}
	hs := cl.nodes["d"].hints.list()
	if len(hs) != 1 || hs[0].target != "c" || hs[0].key != "k" || !hs[0].clock.Equal(res.Clock) {
		t.Fatalf("d holds hints %+v", hs)
	}
	if len(cl.nodes["a"].hints.list()) != 0 {
		t.Fatal("the coordinator kept a hint although the fallback took it")
	}
}

// TestStrictIgnoresFallbacks: strict forbids fallbacks from counting; the
// coordinator keeps the hint itself.
func TestStrictIgnoresFallbacks(t *testing.T) {
	cl := newCluster(t, []string{"a", "b", "c", "d"}, clusterOpts{prefs: abc, fallbacks: []string{"d"}, hints: true})
	cl.net.setFault(opApply, "c", unreachable("c"))
	res, err := cl.coord("a").Put(testCtx(t), Write{Key: []byte("k"), Value: []byte("v"), Consistency: Consistency{Level: LevelAll, Strict: true}})
	if ue := unavailable(t, err); ue.Required != 3 || ue.Acknowledged != 2 {
		t.Fatalf("got %+v", ue)
	}
	if res.Info.FallbackAcks != 0 || cl.net.callsTo(opHint, "d") != 0 {
		t.Fatalf("strict write used a fallback: %+v", res.Info)
	}
	if hs := cl.nodes["a"].hints.list(); len(hs) != 1 || hs[0].target != "c" {
		t.Fatalf("coordinator hints %+v, want one for c", hs)
	}
}

// TestSloppyNoFallbackKeepsHint: no fallback takes the write: the
// coordinator keeps the hint and the quorum fails honestly.
func TestSloppyNoFallbackKeepsHint(t *testing.T) {
	cl := newCluster(t, []string{"a", "b", "c", "d"}, clusterOpts{prefs: abc, fallbacks: []string{"d"}, hints: true})
	cl.net.setFault(opApply, "b", unreachable("b"))
	cl.net.setFault(opApply, "c", unreachable("c"))
	cl.net.setFault(opHint, "d", unreachable("d"))
	_, err := cl.coord("a").Put(testCtx(t), Write{Key: []byte("k"), Value: []byte("v")})
	if ue := unavailable(t, err); ue.Required != 2 || ue.Acknowledged != 1 {
		t.Fatalf("got %+v", ue)
	}
	targets := map[string]bool{}
	for _, h := range cl.nodes["a"].hints.list() {
		targets[h.target] = true
	}
	if !targets["b"] || !targets["c"] || len(targets) != 2 {
		t.Fatalf("coordinator hints for %v, want b and c", targets)
	}
	// Each fallback is used at most once per write: d was offered one hint.
	if n := cl.net.callsTo(opHint, "d"); n != 1 {
		t.Fatalf("d offered %d hints, want 1", n)
	}
}

// TestHintsOffNoHandoff: without Config.Hints there is no sloppy quorum.
func TestHintsOffNoHandoff(t *testing.T) {
	cl := newCluster(t, []string{"a", "b", "c", "d"}, clusterOpts{prefs: abc, fallbacks: []string{"d"}})
	cl.net.setFault(opApply, "c", unreachable("c"))
	_, err := cl.coord("a").Put(testCtx(t), Write{Key: []byte("k"), Value: []byte("v"), Consistency: Consistency{Level: LevelAll}})
	if ue := unavailable(t, err); ue.Acknowledged != 2 {
		t.Fatalf("got %+v", ue)
	}
	cl.closeAll()
	if cl.net.callsTo(opHint, "d") != 0 {
		t.Fatal("hint sent with hints off")
	}
}

// TestStrictDoesNotTrustGossip: a strict write must try its primaries even
// when gossip believes them down (docs/design.md, Data path: quorum decisions
// rest on replicas' answers, never on the gossip view alone).
func TestStrictDoesNotTrustGossip(t *testing.T) {
	cl := newCluster(t, []string{"a", "b", "c", "d"}, clusterOpts{prefs: abc, fallbacks: []string{"d"}, hints: true})
	cl.setDown("b", "c") // stale gossip: both are up
	res, err := cl.coord("a").Put(testCtx(t), Write{Key: []byte("k"), Value: []byte("v"), Consistency: Consistency{Level: LevelAll, Strict: true}})
	if err != nil {
		t.Fatalf("strict ALL write with every replica up: %v (info %+v)", err, res.Info)
	}
}

// TestUnavailableErrorText pins the user-visible message.
func TestUnavailableErrorText(t *testing.T) {
	for _, tc := range []struct {
		e    UnavailableError
		want string
	}{
		{UnavailableError{Op: "write", Required: 2, Acknowledged: 1}, "write unavailable: 2 replicas required, 1 acknowledged"},
		{UnavailableError{Op: "read", Required: 3, Acknowledged: 0}, "read unavailable: 3 replicas required, 0 answered"},
	} {
		if got := tc.e.Error(); got != tc.want || !strings.Contains(got, "required") {
			t.Errorf("%q, want %q", got, tc.want)
		}
	}
	var err error = &UnavailableError{Op: "write", Required: 2}
	wrapped := fmt.Errorf("put: %w", err)
	var ue *UnavailableError
	if !errors.As(wrapped, &ue) || ue.Required != 2 {
		t.Fatal("UnavailableError does not survive wrapping")
	}
}

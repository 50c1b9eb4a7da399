package replica

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/quorumkv/quorumkv/vclock"
)

// ---- incarnations ----

func TestOpenFreshIdentity(t *testing.T) {
	s := mustOpen(t, memConfig(vfs.NewMem()))
	if !s.Fresh() {
		t.Fatal("a new directory is not Fresh")
	}
	inc, ok := strings.CutPrefix(string(s.Actor()), "n1#")
	if !ok {
		t.Fatalf("actor %q does not start with the node id", s.Actor())
	}
	if b, err := hex.DecodeString(inc); err != nil || len(b) < 8 {
		t.Fatalf("incarnation %q: want at least 64 random bits, hex", inc)
	}
	raw, err := s.getState(keyIdentity)
	if err != nil {
		t.Fatal(err)
	}
	var id identity
	if err := json.Unmarshal(raw, &id); err != nil || id.Node != "n1" || id.Incarnation != inc {
		t.Fatalf("identity record %q (%v)", raw, err)
	}
}

// TestReopenKeepsActor: a clean reopen keeps the incarnation, and writes to
// an existing key continue with the same actor and counter.
func TestReopenKeepsActor(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(t *testing.T) Config
	}{
		{"os", func(t *testing.T) Config {
			return Config{NodeID: "n1", Dir: t.TempDir(), Partition: part4, Logger: discardLogger()}
		}},
		{"mem", func(*testing.T) Config { return memConfig(vfs.NewMem()) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg(t)
			s := mustOpen(t, cfg)
			actor := s.Actor()
			c1 := mustCoordinate(t, s, "k", nil, sib("v1"))
			c2 := mustCoordinate(t, s, "k", c1.Context(), sib("v2"))
			d2 := dotOf(t, c2, "v2")
			closeStore(t, s)

			s = mustOpen(t, cfg)
			if s.Fresh() || s.Actor() != actor {
				t.Fatalf("reopen: fresh=%v actor %q, want %q", s.Fresh(), s.Actor(), actor)
			}
			if got, found := mustGet(t, s, "k"); !found || !got.Equal(c2) {
				t.Fatalf("after reopen k = %v, want %v", got, c2)
			}
			c3 := mustCoordinate(t, s, "k", c2.Context(), sib("v3"))
			if d3 := dotOf(t, c3, "v3"); d3.Actor != d2.Actor || d3.N != d2.N+1 {
				t.Fatalf("dot after reopen %v, want (%s, %d)", d3, d2.Actor, d2.N+1)
			}
			closeStore(t, s)
			s = mustOpen(t, cfg)
			if s.Fresh() || s.Actor() != actor {
				t.Fatal("second reopen changed the incarnation")
			}
		})
	}
}

// TestWipedDirNewIncarnation: losing the directory loses the identity with
// the data; the node comes back as a new incarnation whose actors differ
// from every old one.
func TestWipedDirNewIncarnation(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{NodeID: "n1", Dir: dir, Partition: part4, Logger: discardLogger()}
	s := mustOpen(t, cfg)
	old := s.Actor()
	c := mustCoordinate(t, s, "k", nil, sib("v1"))
	oldActor := c.Entries[0].Actor
	closeStore(t, s)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, cfg)
	if !s.Fresh() || s.Actor() == old {
		t.Fatalf("after wipe: fresh=%v actor %q (old %q)", s.Fresh(), s.Actor(), old)
	}
	if _, found := mustGet(t, s, "k"); found {
		t.Fatal("data survived the wipe")
	}
	if _, own := s.ownEpoch(oldActor); own {
		t.Fatalf("the new incarnation claims the old actor %q", oldActor)
	}
	if _, own := s.ownEpoch(old); own {
		t.Fatalf("the new incarnation claims the old base actor %q", old)
	}
}

// TestIncarnationsUnique: every fresh directory gets an incarnation never
// used before.
func TestIncarnationsUnique(t *testing.T) {
	seen := map[vclock.Actor]bool{}
	for range 24 {
		s := mustOpen(t, memConfig(vfs.NewMem()))
		if seen[s.Actor()] {
			t.Fatalf("incarnation %q issued twice", s.Actor())
		}
		seen[s.Actor()] = true
		closeStore(t, s)
	}
}

// TestWrongNode: a directory is bound to its node id.
func TestWrongNode(t *testing.T) {
	fs := vfs.NewMem()
	s := mustOpen(t, memConfig(fs))
	actor := s.Actor()
	mustCoordinate(t, s, "k", nil, sib("v"))
	closeStore(t, s)

	cfg := memConfig(fs)
	cfg.NodeID = "n2"
	if s2, err := Open(cfg); !errors.Is(err, ErrWrongNode) {
		if err == nil {
			_ = s2.Close()
		}
		t.Fatalf("Open as n2: %v, want ErrWrongNode", err)
	}
	// The failed open released the directory and changed nothing.
	s = mustOpen(t, memConfig(fs))
	if s.Fresh() || s.Actor() != actor {
		t.Fatalf("after a refused open: fresh=%v actor %q, want %q", s.Fresh(), s.Actor(), actor)
	}
	if _, found := mustGet(t, s, "k"); !found {
		t.Fatal("data lost")
	}
}

// TestCorruptStateRecords: a damaged identity or epoch lease refuses to open
// instead of guessing.
func TestCorruptStateRecords(t *testing.T) {
	for name, rec := range map[string][2][]byte{
		"identity": {keyIdentity, []byte("{not json")},
		"epoch":    {keyEpoch, []byte{1, 2, 3}},
	} {
		t.Run(name, func(t *testing.T) {
			fs := vfs.NewMem()
			s := mustOpen(t, memConfig(fs))
			if err := s.db.Set(rec[0], rec[1], pebble.Sync); err != nil {
				t.Fatal(err)
			}
			closeStore(t, s)
			if s2, err := Open(memConfig(fs)); err == nil {
				_ = s2.Close()
				t.Fatalf("Open with a corrupt %s record succeeded", name)
			}
		})
	}
}

// TestUncleanShutdown: without fsync an unclean stop may have lost the last
// dots, so the next open is a new incarnation; a clean stop, or fsync, keeps
// the incarnation.
func TestUncleanShutdown(t *testing.T) {
	nosync := func(fs vfs.FS) Config {
		c := memConfig(fs)
		c.NoSync = true
		return c
	}
	t.Run("nosync unclean: new incarnation", func(t *testing.T) {
		fs := vfs.NewCrashableMem()
		s := mustOpen(t, nosync(fs))
		old := s.Actor()
		c := mustCoordinate(t, s, "k", nil, sib("v1"))
		fs = crash(t, s, fs, 100) // the process died; the OS kept every write
		s = mustOpen(t, nosync(fs))
		if !s.Fresh() || s.Actor() == old {
			t.Fatalf("fresh=%v actor %q, old %q", s.Fresh(), s.Actor(), old)
		}
		// Pebble may not even have handed an unsynced write to the OS.
		if got, found := mustGet(t, s, "k"); found && !got.Equal(c) {
			t.Fatalf("k = %v, want absent or %v", got, c)
		}
		// The next write to k uses the new incarnation.
		r := mustCoordinate(t, s, "k", c.Context(), sib("v2"))
		if d := dotOf(t, r, "v2"); epochOf(t, s, d.Actor) == 0 || d.N != 1 {
			t.Fatalf("new write's dot %v", d)
		}
		// A clean close then keeps this incarnation.
		now := s.Actor()
		closeStore(t, s)
		s = mustOpen(t, nosync(fs))
		if s.Fresh() || s.Actor() != now {
			t.Fatal("clean close after a renewal changed the incarnation")
		}
	})
	t.Run("nosync clean close: same incarnation", func(t *testing.T) {
		fs := vfs.NewMem()
		s := mustOpen(t, nosync(fs))
		old := s.Actor()
		c := mustCoordinate(t, s, "k", nil, sib("v1"))
		closeStore(t, s)
		s = mustOpen(t, nosync(fs))
		if s.Fresh() || s.Actor() != old {
			t.Fatalf("fresh=%v actor %q, want %q", s.Fresh(), s.Actor(), old)
		}
		if got, _ := mustGet(t, s, "k"); !got.Equal(c) {
			t.Fatal("a clean close lost unsynced data")
		}
	})
	t.Run("nosync clean close survives power loss", func(t *testing.T) {
		// Close syncs: the clean marker and everything before it are durable.
		fs := vfs.NewCrashableMem()
		s := mustOpen(t, nosync(fs))
		old := s.Actor()
		c := mustCoordinate(t, s, "k", nil, sib("v1"))
		closeStore(t, s)
		fs = fs.CrashClone(vfs.CrashCloneCfg{})
		s = mustOpen(t, nosync(fs))
		if s.Fresh() || s.Actor() != old {
			t.Fatal("power loss after a clean close changed the incarnation")
		}
		if got, _ := mustGet(t, s, "k"); !got.Equal(c) {
			t.Fatal("power loss after a clean close lost data")
		}
	})
	t.Run("nosync repeated crashes: a new incarnation each time", func(t *testing.T) {
		fs := vfs.NewCrashableMem()
		seen := map[vclock.Actor]bool{}
		for range 4 {
			s := mustOpen(t, nosync(fs))
			if seen[s.Actor()] || !s.Fresh() {
				t.Fatalf("incarnation %q reused (fresh=%v)", s.Actor(), s.Fresh())
			}
			seen[s.Actor()] = true
			mustCoordinate(t, s, "k", nil, sib("v"))
			fs = crash(t, s, fs, 100)
		}
	})
	t.Run("sync unclean: new incarnation, synced data kept", func(t *testing.T) {
		// Coordinated writes leave before their fsync: a crash may have
		// lost dots that other replicas hold.
		fs := vfs.NewCrashableMem()
		s := mustOpen(t, memConfig(fs))
		old := s.Actor()
		c := mustCoordinate(t, s, "k", nil, sib("v1"))
		fs = crash(t, s, fs, 0) // power loss
		s = mustOpen(t, memConfig(fs))
		if !s.Fresh() || s.Actor() == old {
			t.Fatalf("fresh=%v actor %q, old %q", s.Fresh(), s.Actor(), old)
		}
		if got, _ := mustGet(t, s, "k"); !got.Equal(c) {
			t.Fatal("fsynced write lost")
		}
	})
}

// nosyncLostWrite runs a NoSync store that acknowledges v1 (made durable by
// a later synced state write) and then v2, crashes losing v2, and reopens
// with reopenNoSync. It returns the reopened store and the copy of v2's
// clock that another replica holds.
func nosyncLostWrite(t *testing.T, reopenNoSync bool) (*Store, vclock.Clock, vclock.VV) {
	fs := vfs.NewCrashableMem()
	cfg := memConfig(fs)
	cfg.NoSync = true
	s := mustOpen(t, cfg)
	c1 := mustCoordinate(t, s, "k", nil, sib("v1"))
	if err := s.SaveDoc([]byte("ring")); err != nil { // fsyncs the log: v1 is durable
		t.Fatal(err)
	}
	c2 := mustCoordinate(t, s, "k", c1.Context(), sib("v2")) // acknowledged, replicated to B
	fs = crash(t, s, fs, 0)
	cfg = memConfig(fs)
	cfg.NoSync = reopenNoSync
	s = mustOpen(t, cfg)
	if got, _ := mustGet(t, s, "k"); !got.Equal(c1) {
		t.Fatalf("after the crash k = %v, want exactly v1 (%v)", got, c1)
	}
	return s, c2, c1.Context()
}

// TestNoSyncLostWriteNewIncarnation: the node lost an acknowledged dot; a
// client that read v1 writes v3. Because the node is a new incarnation, v3
// gets a fresh dot and survives next to B's v2.
func TestNoSyncLostWriteNewIncarnation(t *testing.T) {
	s, b, ctx1 := nosyncLostWrite(t, true)
	if !s.Fresh() {
		t.Fatal("not a new incarnation after an unclean NoSync stop")
	}
	r := mustCoordinate(t, s, "k", ctx1, sib("v3"))
	for _, m := range []vclock.Clock{vclock.Sync(r, b), vclock.Sync(b, r)} {
		if got := live(m); !slices.Equal(got, []string{"v2", "v3"}) {
			t.Fatalf("merge with B: %v, want v2 and v3", got)
		}
	}
}

// TestNoSyncCrashThenSyncReopen: the unclean-stop rule must hold whatever
// mode the next run uses: the dots lost were the last run's.
func TestNoSyncCrashThenSyncReopen(t *testing.T) {
	s, b, ctx1 := nosyncLostWrite(t, false)
	if !s.Fresh() {
		t.Error("reopened with fsync after an unclean NoSync stop: same incarnation")
	}
	r := mustCoordinate(t, s, "k", ctx1, sib("v3"))
	for _, m := range []vclock.Clock{vclock.Sync(r, b), vclock.Sync(b, r)} {
		if got := live(m); !slices.Equal(got, []string{"v2", "v3"}) {
			t.Fatalf("merge with B: %v, want v2 and v3 (dot %v re-issued)", got, dotOf(t, r, "v3"))
		}
	}
}

// ---- per-key epochs ----

func TestOwnEpoch(t *testing.T) {
	s := mustOpen(t, memConfig(vfs.NewMem()))
	base := s.Actor()
	cases := []struct {
		a     vclock.Actor
		epoch uint64
		own   bool
	}{
		{base, 0, true},
		{base + ".1", 1, true},
		{base + ".a", 10, true},
		{base + ".zz", 36*35 + 35, true},
		{base + ".", 0, false},
		{base + ".-1", 0, false},
		{base + ".A!", 0, false},
		{base + "x", 0, false},
		{base + "x.1", 0, false},
		{"n1#0000000000000000.1", 0, false},
		{"n2" + base[2:] + ".1", 0, false},
		{"", 0, false},
	}
	for _, tc := range cases {
		e, own := s.ownEpoch(tc.a)
		if own != tc.own || (own && e != tc.epoch) {
			t.Errorf("ownEpoch(%q) = %d, %v; want %d, %v", tc.a, e, own, tc.epoch, tc.own)
		}
	}
	a, err := s.newEpochActor()
	if err != nil {
		t.Fatal(err)
	}
	if e, own := s.ownEpoch(a); !own || e == 0 {
		t.Fatalf("newEpochActor %q is not recognised as own (%d, %v)", a, e, own)
	}
}

// TestEpochLease: epochs are leased in blocks and the lease is durable before
// any epoch of it is handed out.
func TestEpochLease(t *testing.T) {
	fs := vfs.NewMem()
	cfg := memConfig(fs)
	cfg.EpochLease = 10
	s := mustOpen(t, cfg)
	leased := func() uint64 {
		raw, err := s.getState(keyEpoch)
		if err != nil || len(raw) != 8 {
			t.Fatalf("lease record %x, %v", raw, err)
		}
		return binary.BigEndian.Uint64(raw)
	}
	var prev uint64
	for i := 1; i <= 25; i++ {
		a, err := s.newEpochActor()
		if err != nil {
			t.Fatal(err)
		}
		e := epochOf(t, s, a)
		if e != uint64(i) || e <= prev {
			t.Fatalf("epoch %d, want %d", e, i)
		}
		prev = e
		if want := uint64((i + 9) / 10 * 10); leased() != want {
			t.Fatalf("after epoch %d the lease is %d, want %d", i, leased(), want)
		}
	}
}

// TestEpochLeaseSurvivesRestart: after a restart, clean or not, new epochs
// are greater than every epoch handed out before.
func TestEpochLeaseSurvivesRestart(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lease uint64
		clean bool
	}{
		{"crash, lease 3", 3, false},
		{"crash, default lease", 0, false},
		{"clean, lease 3", 3, true},
		{"clean, lease 1", 1, true},
		{"clean, default lease", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := vfs.NewCrashableMem()
			var actor vclock.Actor
			var max uint64
			seen := map[vclock.Actor]bool{}
			for round := range 4 {
				cfg := memConfig(fs)
				cfg.EpochLease = tc.lease
				s := mustOpen(t, cfg)
				switch {
				case round == 0:
				case tc.clean && (s.Actor() != actor || s.Fresh()):
					t.Fatalf("round %d: clean restart changed the incarnation", round)
				case !tc.clean && (s.Actor() == actor || !s.Fresh()):
					t.Fatalf("round %d: crash kept the incarnation", round)
				case !tc.clean:
					max = 0 // a new incarnation may restart its epochs
				}
				actor = s.Actor()
				var got []vclock.Actor
				for i := range 4 {
					a, err := s.newEpochActor()
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, a)
					// Coordinating a new key mints one too.
					c := mustCoordinate(t, s, string(rune('a'+round*10+i)), nil, sib("v"))
					got = append(got, c.Entries[0].Actor)
				}
				for _, a := range got {
					if e := epochOf(t, s, a); e <= max || seen[a] {
						t.Fatalf("round %d: actor %s (epoch %d) handed out before (max %d)", round, a, e, max)
					} else {
						max = e
					}
					seen[a] = true
				}
				if tc.clean {
					closeStore(t, s)
				} else {
					fs = crash(t, s, fs, 0)
				}
			}
		})
	}
}

// TestNewIncarnationRestartsEpochs: a new incarnation's epochs may restart
// at 1; its actors still differ from every old actor.
func TestNewIncarnationRestartsEpochs(t *testing.T) {
	fs := vfs.NewCrashableMem()
	cfg := memConfig(fs)
	cfg.NoSync = true
	s := mustOpen(t, cfg)
	var old []vclock.Actor
	for range 3 {
		a, err := s.newEpochActor()
		if err != nil {
			t.Fatal(err)
		}
		old = append(old, a)
	}
	fs = crash(t, s, fs, 100)
	cfg.FS = fs
	s = mustOpen(t, cfg)
	if !s.Fresh() {
		t.Fatal("want a new incarnation")
	}
	a, err := s.newEpochActor()
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(old, a) {
		t.Fatalf("new incarnation re-issued actor %q", a)
	}
	for _, o := range old {
		if _, own := s.ownEpoch(o); own {
			t.Fatalf("new incarnation claims %q", o)
		}
	}
}

// TestActorFor covers the choice of the actor that mints a write's dot
// (docs/causality.md §6.1 rule 2), observed through Coordinate.
func TestActorFor(t *testing.T) {
	s := mustOpen(t, memConfig(vfs.NewMem()))
	base := s.Actor()
	coord := func(key string, ctx vclock.VV, v string) vclock.Dot {
		t.Helper()
		return dotOf(t, mustCoordinate(t, s, key, ctx, sib(v)), v)
	}

	// No local object: a fresh epoch per key.
	d1 := coord("k1", nil, "a")
	d2 := coord("k2", nil, "b")
	e1, e2 := epochOf(t, s, d1.Actor), epochOf(t, s, d2.Actor)
	if e1 == 0 || e2 <= e1 || d1.N != 1 || d2.N != 1 {
		t.Fatalf("first writes: %v %v", d1, d2)
	}
	// Existing object: reuse this node's actor already in the clock.
	if d := coord("k1", nil, "c"); d.Actor != d1.Actor || d.N != 2 {
		t.Fatalf("second write to k1: %v, want (%s, 2)", d, d1.Actor)
	}
	// A context that knows more of a foreign actor is no amnesia signal.
	if d := coord("k1", vclock.VV{{Actor: "zz-other", N: 9}}, "d"); d.Actor != d1.Actor || d.N != 3 {
		t.Fatalf("foreign context: %v", d)
	}
	// Only foreign actors locally: a fresh epoch, not a foreign actor.
	mustApply(t, s, "k3", clock(entry("other#1", 4, "x")))
	d3 := coord("k3", nil, "e")
	if e := epochOf(t, s, d3.Actor); e <= e2 || d3.N != 1 {
		t.Fatalf("write on a foreign-only key: %v", d3)
	}
	// Several own epochs in the clock: the highest one.
	hi := base + ".zz"
	mustApply(t, s, "k1", clock(entry(hi, 1, "f")))
	if d := coord("k1", nil, "g"); d.Actor != hi || d.N != 2 {
		t.Fatalf("with own epochs %s and %s: %v, want (%s, 2)", d1.Actor, hi, d, hi)
	}
	// Amnesia: the context knows a higher counter of an own actor than the
	// local clock: a fresh epoch, whose dot cannot collide.
	k1, _ := mustGet(t, s, "k1")
	ctx := vclock.VV{{Actor: d1.Actor, N: k1.Counter(d1.Actor) + 5}}
	d := coord("k1", ctx, "h")
	if e := epochOf(t, s, d.Actor); d.Actor == d1.Actor || d.Actor == hi || e <= e2 || d.N != 1 {
		t.Fatalf("amnesia by context: %v", d)
	}
	// An own epoch the local clock does not know at all is amnesia too.
	k2, _ := mustGet(t, s, "k2")
	unknown := base + ".y"
	if k2.Counter(unknown) != 0 {
		t.Fatal("setup")
	}
	d = coord("k2", vclock.VV{{Actor: d2.Actor, N: 1}, {Actor: unknown, N: 1}}, "i")
	if d.Actor == d2.Actor || d.Actor == unknown {
		t.Fatalf("unknown own epoch in context: %v", d)
	}
	// And so is the base actor ahead of the local clock.
	k3, _ := mustGet(t, s, "k3")
	d = coord("k3", vclock.Clock{Entries: k3.Entries}.Context(), "j")
	if d.Actor != d3.Actor {
		t.Fatalf("matching context changed the actor: %v", d)
	}
	d = coord("k3", vclock.VV{{Actor: base, N: 1}}, "k")
	if d.Actor == d3.Actor || d.Actor == base {
		t.Fatalf("base actor ahead in context: %v", d)
	}
}

// ---- KV679 and the vectors of docs/causality.md §6.1 ----

// TestKV679WipedNodeNeverReissuesDots: write k five times on node A, keep
// the clock aside (replica B's copy), wipe A, reopen it. Whatever order A
// sees B's copy and a client's write made with an old context, both the old
// and the new value survive, and A never re-issues an old dot.
func TestKV679WipedNodeNeverReissuesDots(t *testing.T) {
	s := mustOpen(t, memConfig(vfs.NewMem()))
	var c vclock.Clock
	var ctxs []vclock.VV // the context a client held before write i
	for i := 1; i <= 5; i++ {
		ctxs = append(ctxs, c.Context())
		c = mustCoordinate(t, s, "k", c.Context(), sib(val(i)))
	}
	b := c.Clone() // B's copy: {a:5[v005]}
	if live(b)[0] != val(5) || len(b.Entries) != 1 || b.Entries[0].N != 5 {
		t.Fatalf("setup: %v", b)
	}
	oldActor := b.Entries[0].Actor
	oldBase := s.Actor()
	closeStore(t, s)

	for i, ctx := range ctxs {
		for _, applyFirst := range []bool{true, false} {
			a := mustOpen(t, memConfig(vfs.NewMem())) // wiped disk, same node
			if !a.Fresh() || a.Actor() == oldBase {
				t.Fatalf("wiped node kept its incarnation %q", a.Actor())
			}
			var r vclock.Clock
			if applyFirst {
				mustApply(t, a, "k", b)
				r = mustCoordinate(t, a, "k", ctx, sib("new"))
			} else {
				r = mustCoordinate(t, a, "k", ctx, sib("new"))
				mustApply(t, a, "k", b)
			}
			d := dotOf(t, r, "new")
			if d.Actor == oldActor || strings.HasPrefix(string(d.Actor), string(oldBase)) {
				t.Fatalf("ctx %d: the new write reused an old actor: %v", i, d)
			}
			final, _ := mustGet(t, a, "k")
			for _, m := range []vclock.Clock{final, vclock.Sync(final, b), vclock.Sync(b, final)} {
				if got := live(m); !slices.Equal(got, []string{"new", val(5)}) {
					t.Fatalf("ctx %v, apply first %v: %v, want both %s and new", ctx, applyFirst, got, val(5))
				}
			}
			closeStore(t, a)
		}
	}

	// With the full context (the client read v005), the new write supersedes
	// v005 legitimately, and still with a fresh dot.
	a := mustOpen(t, memConfig(vfs.NewMem()))
	mustApply(t, a, "k", b)
	r := mustCoordinate(t, a, "k", b.Context(), sib("new"))
	if got := live(vclock.Sync(r, b)); !slices.Equal(got, []string{"new"}) {
		t.Fatalf("full context: %v, want only new", got)
	}
	if d := dotOf(t, r, "new"); d.Actor == oldActor {
		t.Fatalf("dot %v re-issued", d)
	}

	// Five more writes after the wipe: no dot is ever one of the old ones.
	old := map[vclock.Dot]bool{}
	for n := uint64(1); n <= 5; n++ {
		old[vclock.Dot{Actor: oldActor, N: n}] = true
	}
	cur := r
	for i := range 5 {
		ctx := cur.Context()
		if i%2 == 1 {
			ctx = nil
		}
		cur = mustCoordinate(t, a, "k", ctx, sib(val(100+i)))
		if d := dotOf(t, cur, val(100+i)); old[d] {
			t.Fatalf("re-issued old dot %v", d)
		}
	}
}

// TestDVVSetK1K3: K1 (blind write after a wipe) and K3 (with ctx{a:1}) from
// docs/causality.md §6.1: with a new incarnation both values survive the merge
// with B.
func TestDVVSetK1K3(t *testing.T) {
	s := mustOpen(t, memConfig(vfs.NewMem()))
	c1 := mustCoordinate(t, s, "k", nil, sib("v1"))
	b := mustCoordinate(t, s, "k", c1.Context(), sib("v2")) // A and B: {a:2[v2]}
	a := b.Entries[0].Actor
	closeStore(t, s)

	t.Run("K1 blind", func(t *testing.T) {
		s := mustOpen(t, memConfig(vfs.NewMem()))
		r := mustCoordinate(t, s, "k", nil, sib("v3"))
		d := dotOf(t, r, "v3")
		if d.Actor == a || d.N != 1 || len(r.Entries) != 1 {
			t.Fatalf("A after wipe: %v", r)
		}
		want := clock(entry(a, 2, "v2"), entry(d.Actor, 1, "v3"))
		for _, m := range []vclock.Clock{vclock.Sync(r, b), vclock.Sync(b, r)} {
			if !m.Equal(want) {
				t.Fatalf("SYNC: %v, want %v", m, want)
			}
		}
	})
	t.Run("K3 with ctx{a:1}", func(t *testing.T) {
		s := mustOpen(t, memConfig(vfs.NewMem()))
		r := mustCoordinate(t, s, "k", vclock.VV{{Actor: a, N: 1}}, sib("v3"))
		d := dotOf(t, r, "v3")
		if want := clock(entry(a, 1), entry(d.Actor, 1, "v3")); !r.Equal(want) {
			t.Fatalf("A: %v, want %v", r, want)
		}
		want := clock(entry(a, 2, "v2"), entry(d.Actor, 1, "v3"))
		for _, m := range []vclock.Clock{vclock.Sync(r, b), vclock.Sync(b, r)} {
			if !m.Equal(want) {
				t.Fatalf("SYNC: %v, want %v", m, want)
			}
		}
	})
}

// deleteLocal drops key from s's Pebble (single-key loss: corruption, a
// reaped tombstone).
func deleteLocal(t *testing.T, s *Store, key string) {
	t.Helper()
	dk, _ := s.dataKey([]byte(key))
	if err := s.db.Delete(dk, pebble.Sync); err != nil {
		t.Fatal(err)
	}
}

// TestDVVSetK4Doomstone: a reaped tombstone's stale copy comes back after a
// new write; the per-key epoch keeps the new write.
func TestDVVSetK4Doomstone(t *testing.T) {
	s := mustOpen(t, memConfig(vfs.NewMem()))
	c := mustCoordinate(t, s, "k", nil, sib("v1"))
	c = mustCoordinate(t, s, "k", c.Context(), sib("v2"))
	stale := mustCoordinate(t, s, "k", c.Context(), tomb) // {a:3[⊥]}, still in a hint
	if stale.Size() != 1 || !stale.AllTombstones() || stale.Entries[0].N != 3 {
		t.Fatalf("setup: %v", stale)
	}
	// Reaped: every replica held it and the grace period passed.
	p := part4([]byte("k"))
	cands, err := s.ReapCandidates(p, time.Now().Add(time.Hour))
	if err != nil || len(cands) != 1 || string(cands[0].Key) != "k" {
		t.Fatalf("ReapCandidates: %v, %v", cands, err)
	}
	if n, err := s.Reap(p, cands); err != nil || n != 1 {
		t.Fatalf("Reap: %d, %v", n, err)
	}
	if _, found := mustGet(t, s, "k"); found {
		t.Fatal("reaped key still stored")
	}
	r := mustCoordinate(t, s, "k", nil, sib("v9"))
	d := dotOf(t, r, "v9")
	if d.Actor == stale.Entries[0].Actor || d.N != 1 {
		t.Fatalf("write after reap: dot %v", d)
	}
	m, changed := mustApply(t, s, "k", stale)
	if !changed || !slices.Equal(live(m), []string{"v9"}) || m.Size() != 2 {
		t.Fatalf("stale tombstone arrives: %v (changed %v), want ⊥ and v9", m, changed)
	}
}

// TestDVVSetK5FallbackAmnesia: A lost k, is read-repaired from B with its
// own dot, and records a new epoch; the next write then cannot collide with
// the dot a fallback holds.
func TestDVVSetK5FallbackAmnesia(t *testing.T) {
	s := mustOpen(t, memConfig(vfs.NewMem()))
	b := mustCoordinate(t, s, "k", nil, sib("v1"))         // B holds {a:1[v1]}
	f := mustCoordinate(t, s, "k", b.Context(), sib("v2")) // only F holds {a:2[v2]}
	a := b.Entries[0].Actor
	deleteLocal(t, s, "k")

	m, changed := mustApply(t, s, "k", b)
	if !changed || len(m.Entries) != 2 || m.Counter(a) != 1 {
		t.Fatalf("read repair on a forgotten key: %v", m)
	}
	var fresh vclock.Entry
	for _, e := range m.Entries {
		if e.Actor != a {
			fresh = e
		}
	}
	if ep := epochOf(t, s, fresh.Actor); ep <= epochOf(t, s, a) || fresh.N != 1 || len(fresh.Values) != 0 {
		t.Fatalf("want a value-less entry (newEpoch, 1, []), got %+v", fresh)
	}
	if got, _ := mustGet(t, s, "k"); !got.Equal(m) {
		t.Fatal("the epoch entry was not persisted")
	}

	r := mustCoordinate(t, s, "k", vclock.VV{{Actor: a, N: 1}}, sib("v3"))
	if want := clock(entry(a, 1), entry(fresh.Actor, 2, "v3")); !r.Equal(want) {
		t.Fatalf("PUT(ctx{a:1}, v3) = %v, want %v", r, want)
	}
	want := clock(entry(a, 2, "v2"), entry(fresh.Actor, 2, "v3"))
	for _, mm := range []vclock.Clock{vclock.Sync(r, f), vclock.Sync(f, r)} {
		if !mm.Equal(want) {
			t.Fatalf("F hands off: %v, want %v", mm, want)
		}
	}
	// Applying it again adds no further epoch.
	if _, changed := mustApply(t, s, "k", b); changed {
		t.Fatal("re-applying B's copy changed the key")
	}
}

// TestApplyDetectsAmnesiaOnExistingKey: docs/causality.md §6.1 rule 2 — an
// incoming clock with a higher counter of one of this node's actors than the
// local copy proves local amnesia (here: the local copy of k was rolled back,
// e.g. a partially restored or corrupted key) and must start a new epoch.
func TestApplyDetectsAmnesiaOnExistingKey(t *testing.T) {
	s := mustOpen(t, memConfig(vfs.NewMem()))
	c1 := mustCoordinate(t, s, "k", nil, sib("v1"))
	b := mustCoordinate(t, s, "k", c1.Context(), sib("v2"))
	f := mustCoordinate(t, s, "k", b.Context(), sib("v3")) // only F got v3: {a:3[v3]}
	// k rolls back to v1 (single-key amnesia).
	dk, _ := s.dataKey([]byte("k"))
	if err := s.db.Set(dk, c1.Marshal(), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, "k", b) // B read-repairs {a:2[v2]}: proof of amnesia
	r := mustCoordinate(t, s, "k", b.Context(), sib("v4"))
	for _, m := range []vclock.Clock{vclock.Sync(r, f), vclock.Sync(f, r)} {
		if got := live(m); !slices.Equal(got, []string{"v3", "v4"}) {
			t.Fatalf("F hands off: %v, want v3 and v4 (v4's dot %v)", got, dotOf(t, r, "v4"))
		}
	}
}

// TestLostWALMakesNewIncarnation: a store whose WAL is deleted after a
// clean Close reopens as a new incarnation (Fresh), even when an earlier
// run's clean marker reached the tables, so the node knows it lost writes.
func TestLostWALMakesNewIncarnation(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{NodeID: "n1", Dir: dir, Partition: part4, Logger: discardLogger()}
	var actor vclock.Actor
	for run := range 3 {
		s := mustOpen(t, cfg)
		if want := run == 0; s.Fresh() != want {
			t.Fatalf("run %d: Fresh() = %v, want %v", run, s.Fresh(), want)
		}
		actor = s.Actor()
		for i := range 20 {
			if _, err := s.Coordinate(fmt.Appendf(nil, "r%d-%d", run, i), nil, sib("v")); err != nil {
				t.Fatal(err)
			}
		}
		closeStore(t, s)
	}
	logs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(logs) == 0 {
		t.Fatalf("no WAL in %s (%v)", dir, err)
	}
	for _, f := range logs {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	s := mustOpen(t, cfg)
	if !s.Fresh() || s.Actor() == actor {
		t.Fatalf("after losing the WAL: Fresh() = %v, actor %s (was %s); want a new incarnation", s.Fresh(), s.Actor(), actor)
	}
}

package replica

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/quorumkv/quorumkv/vclock"
)

// part4 is the test partition function: the first byte mod 4.
func part4(k []byte) int {
	if len(k) == 0 {
		return 0
	}
	return int(k[0]) % 4
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

const testDir = "/data"

// memConfig is a config on fs (a MemFS) for node n1.
func memConfig(fs vfs.FS) Config {
	return Config{NodeID: "n1", Dir: testDir, FS: fs, Partition: part4, Logger: discardLogger()}
}

// mustOpen opens cfg and closes the store when the test ends (Close is
// idempotent, so tests may close it earlier).
func mustOpen(t testing.TB, cfg Config) *Store {
	t.Helper()
	s, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open(%s): %v", cfg.Dir, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func closeStore(t testing.TB, s *Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// crash simulates a crash of s: the returned FS holds what survived (all
// synced data, plus unsyncedPercent of the rest: 100 is a killed process
// whose page cache survived, 0 a power loss). s is then closed on the old FS,
// which the clone no longer sees.
func crash(t testing.TB, s *Store, fs *vfs.MemFS, unsyncedPercent int) *vfs.MemFS {
	t.Helper()
	cfg := vfs.CrashCloneCfg{UnsyncedDataPercent: unsyncedPercent}
	if unsyncedPercent > 0 {
		cfg.RNG = rand.New(rand.NewPCG(1, 2))
	}
	clone := fs.CrashClone(cfg)
	_ = s.Close()
	return clone
}

func sib(v string) vclock.Sibling { return vclock.Sibling{Value: []byte(v)} }

var tomb = vclock.Sibling{Tombstone: true}

func entry(actor vclock.Actor, n uint64, values ...string) vclock.Entry {
	e := vclock.Entry{Actor: actor, N: n}
	for _, v := range values {
		e.Values = append(e.Values, sib(v))
	}
	return e
}

// clock builds a valid clock from entries in any order.
func clock(entries ...vclock.Entry) vclock.Clock {
	es := slices.Clone(entries)
	slices.SortFunc(es, func(a, b vclock.Entry) int { return bytes.Compare([]byte(a.Actor), []byte(b.Actor)) })
	c := vclock.Clock{Entries: es}
	if err := c.Validate(); err != nil {
		panic(err)
	}
	return c
}

// live returns the live values of c, sorted.
func live(c vclock.Clock) []string {
	var out []string
	for _, v := range c.Live() {
		out = append(out, string(v))
	}
	slices.Sort(out)
	return out
}

// findDot returns the dot of the (first) live sibling whose value is v.
func findDot(c vclock.Clock, v string) (vclock.Dot, bool) {
	for _, e := range c.Entries {
		for p, s := range e.Values {
			if string(s.Value) == v && !s.Tombstone {
				return vclock.Dot{Actor: e.Actor, N: e.N - uint64(p)}, true
			}
		}
	}
	return vclock.Dot{}, false
}

// dotOf is findDot that fails the test when v is missing.
func dotOf(t testing.TB, c vclock.Clock, v string) vclock.Dot {
	t.Helper()
	d, ok := findDot(c, v)
	if !ok {
		t.Fatalf("no sibling %q in %v", v, c)
	}
	return d
}

// allDots returns every sibling's dot in c.
func allDots(c vclock.Clock) []vclock.Dot {
	var out []vclock.Dot
	for _, e := range c.Entries {
		for p := range e.Values {
			out = append(out, vclock.Dot{Actor: e.Actor, N: e.N - uint64(p)})
		}
	}
	return out
}

func mustCoordinate(t testing.TB, s *Store, key string, ctx vclock.VV, v vclock.Sibling) vclock.Clock {
	t.Helper()
	c, err := s.Coordinate([]byte(key), ctx, v)
	if err != nil {
		t.Fatalf("Coordinate(%s, %v): %v", key, ctx, err)
	}
	return c
}

func mustGet(t testing.TB, s *Store, key string) (vclock.Clock, bool) {
	t.Helper()
	c, found, err := s.Get([]byte(key))
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	return c, found
}

func mustApply(t testing.TB, s *Store, key string, c vclock.Clock) (vclock.Clock, bool) {
	t.Helper()
	m, changed, err := s.Apply([]byte(key), c)
	if err != nil {
		t.Fatalf("Apply(%s): %v", key, err)
	}
	return m, changed
}

// epochOf is the per-key epoch of one of s's actors (fails for others).
func epochOf(t testing.TB, s *Store, a vclock.Actor) uint64 {
	t.Helper()
	e, own := s.ownEpoch(a)
	if !own {
		t.Fatalf("actor %q is not one of %q's", a, s.Actor())
	}
	return e
}

// capture is a slog handler that keeps records for assertions.
type capture struct {
	mu   *sync.Mutex
	recs *[]slog.Record
}

func newCapture() capture { return capture{mu: &sync.Mutex{}, recs: &[]slog.Record{}} }

func (c capture) Enabled(context.Context, slog.Level) bool { return true }
func (c capture) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	*c.recs = append(*c.recs, r.Clone())
	return nil
}
func (c capture) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c capture) WithGroup(string) slog.Handler      { return c }

// count returns how many records at level have msg.
func (c capture) count(level slog.Level, msg string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, r := range *c.recs {
		if r.Level == level && r.Message == msg {
			n++
		}
	}
	return n
}

func val(i int) string { return fmt.Sprintf("v%03d", i) }

package replica

import (
	"errors"
	"fmt"
	"io/fs"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/quorumkv/quorumkv/vclock"
)

// TestDiskGuard: the store is full while the measured free space is below
// the reserve, for hold after a "no space left", and for good after a
// write-ahead log failed.
func TestDiskGuard(t *testing.T) {
	t0 := time.Unix(1000, 0)
	hold := 250 * time.Millisecond
	tests := []struct {
		name      string
		steps     func(g *diskGuard)
		at        time.Duration
		full      bool
		noSpace   bool
		walFailed bool
	}{
		{name: "not measured yet", steps: func(*diskGuard) {}},
		{name: "above the reserve", steps: func(g *diskGuard) { g.measured(100 << 20) }},
		{name: "at the reserve", steps: func(g *diskGuard) { g.measured(64 << 20) }},
		{name: "below the reserve", steps: func(g *diskGuard) { g.measured(64<<20 - 1) }, full: true},
		{name: "back above", steps: func(g *diskGuard) { g.measured(1 << 20); g.measured(65 << 20) }},
		{name: "no space just now", steps: func(g *diskGuard) { g.measured(100 << 20); g.sawNoSpace(t0, false) }, at: hold - 1, full: true, noSpace: true},
		{name: "no space a hold ago", steps: func(g *diskGuard) { g.measured(100 << 20); g.sawNoSpace(t0, false) }, at: hold},
		{name: "log failed long ago", steps: func(g *diskGuard) { g.measured(100 << 20); g.sawNoSpace(t0, true) }, at: time.Hour, full: true, walFailed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := diskGuard{reserve: 64 << 20, hold: hold}
			tt.steps(&g)
			st := g.state(t0.Add(tt.at), "n1")
			if (st != nil) != tt.full {
				t.Fatalf("full = %v, want %v", st, tt.full)
			}
			if st == nil {
				return
			}
			if !errors.Is(st, ErrDiskFull) || st.NoSpace != tt.noSpace || st.WALFailed != tt.walFailed {
				t.Fatalf("state %+v", st)
			}
		})
	}
	g := diskGuard{hold: hold} // no reserve: only "no space left" counts
	g.measured(0)
	if st := g.state(t0, "n1"); st != nil {
		t.Fatalf("no reserve, nothing free: %v", st)
	}
}

// TestLogLimiter: one line per interval, with the count held back.
func TestLogLimiter(t *testing.T) {
	l := logLimiter{every: 10 * time.Second}
	t0 := time.Unix(1000, 0)
	var got []string
	for i := range 25 {
		if ok, n := l.allow(t0.Add(time.Duration(i) * time.Second)); ok {
			got = append(got, fmt.Sprintf("%d:%d", i, n))
		}
	}
	if fmt.Sprint(got) != "[0:0 10:9 20:9]" {
		t.Fatalf("logged %v", got)
	}
}

// diskConfig is memConfig with its free space measured by free (bytes).
func diskConfig(free *atomic.Int64) Config {
	cfg := memConfig(vfs.NewMem())
	cfg.MinFreeSpace = 16 << 20
	cfg.DiskCheckInterval = 10 * time.Millisecond
	cfg.FreeSpace = func() (uint64, error) { return uint64(free.Load()), nil }
	return cfg
}

// TestWritesRefusedWhileDiskFull: below the reserve every kind of write
// fails at once with ErrDiskFull, reads go on, and writes are taken again
// once space is back, without reopening; listeners hear both changes.
func TestWritesRefusedWhileDiskFull(t *testing.T) {
	var free atomic.Int64
	free.Store(1 << 30)
	s := mustOpen(t, diskConfig(&free))
	changes := make(chan bool, 4)
	s.OnDiskChange(func() { changes <- s.DiskFull() != nil })
	mustCoordinate(t, s, "a", nil, sib("before"))

	free.Store(1 << 20)
	if full := <-changes; !full {
		t.Fatal("listener heard 'not full' first")
	}
	if st := s.DiskFull(); st == nil || st.Free != 1<<20 || st.Reserve != 16<<20 {
		t.Fatalf("DiskFull() = %+v", st)
	}
	start := time.Now()
	_, err := s.Coordinate([]byte("b"), nil, sib("x"))
	assertDiskFull(t, "Coordinate", err)
	_, _, err = s.Apply([]byte("c"), mustCoordinateElsewhere(t))
	assertDiskFull(t, "Apply", err)
	for _, err := range s.ApplyMany([]Item{{Key: []byte("d"), Clock: mustCoordinateElsewhere(t)}}) {
		assertDiskFull(t, "ApplyMany", err)
	}
	assertDiskFull(t, "hint", s.Hints().Set([]byte("h"), []byte("v")))
	if d := time.Since(start); d > time.Second {
		t.Fatalf("refusals took %v", d)
	}
	if _, found := mustGet(t, s, "a"); !found {
		t.Fatal("a read failed while the disk was full")
	}

	free.Store(1 << 30)
	if full := <-changes; full {
		t.Fatal("listener did not hear the disk freed")
	}
	if s.DiskFull() != nil {
		t.Fatal("still full after space came back")
	}
	mustCoordinate(t, s, "b", nil, sib("after"))
}

func assertDiskFull(t *testing.T, what string, err error) {
	t.Helper()
	var dfe *DiskFullError
	if !errors.Is(err, ErrDiskFull) || !errors.As(err, &dfe) {
		t.Fatalf("%s while full: %v, want ErrDiskFull", what, err)
	}
}

// mustCoordinateElsewhere is a sibling set as another replica minted it.
func mustCoordinateElsewhere(t *testing.T) vclock.Clock {
	t.Helper()
	other := mustOpen(t, Config{NodeID: "n2", Dir: testDir, FS: vfs.NewMem(), Partition: part4, Logger: discardLogger()})
	return mustCoordinate(t, other, "c", nil, sib("from n2"))
}

// TestNoSpaceErrorsMakeTheStoreFull: a "no space left" from Pebble's
// background work refuses writes for a check interval; one from a commit
// (the write-ahead log) is ErrDiskFull and refuses writes until a restart.
func TestNoSpaceErrorsMakeTheStoreFull(t *testing.T) {
	var free atomic.Int64
	free.Store(1 << 30)
	cfg := diskConfig(&free)
	cfg.DiskCheckInterval = 50 * time.Millisecond
	var measured atomic.Int64
	measure := cfg.FreeSpace
	cfg.FreeSpace = func() (uint64, error) { measured.Add(1); return measure() }
	s := mustOpen(t, cfg)
	enospc := &fs.PathError{Op: "write", Path: "000007.sst", Err: syscall.ENOSPC}

	s.disk.eventListener().BackgroundError(fmt.Errorf("flush: %w", enospc))
	if st := s.DiskFull(); st == nil || !st.NoSpace || st.WALFailed {
		t.Fatalf("after a background ENOSPC: %+v", st)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.DiskFull() != nil {
		if time.Now().After(deadline) {
			t.Fatal("a background ENOSPC kept the store full with space free")
		}
		time.Sleep(5 * time.Millisecond)
	}

	if err := s.disk.failed(errors.New("other")); errors.Is(err, ErrDiskFull) {
		t.Fatalf("another error became %v", err)
	}
	err := s.disk.failed(enospc)
	if !errors.Is(err, ErrDiskFull) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("a commit's ENOSPC became %v", err)
	}
	// Three measurements with space free later, the store still refuses.
	for after := measured.Load() + 3; measured.Load() < after; {
		if time.Now().After(deadline) {
			t.Fatal("the free space was not measured again")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st := s.DiskFull(); st == nil || !st.WALFailed {
		t.Fatalf("a failed log stopped refusing writes: %+v", st)
	}
	_, err = s.Coordinate([]byte("k"), nil, sib("x"))
	assertDiskFull(t, "Coordinate after the log failed", err)
}

// TestDiskCheckOffWithoutMeasurement: a file system that cannot measure
// its free space (in-memory) never refuses writes for the reserve.
func TestDiskCheckOffWithoutMeasurement(t *testing.T) {
	s := mustOpen(t, memConfig(vfs.NewMem()))
	if s.disk.stop != nil {
		t.Fatal("the free space check runs on a file system that cannot measure it")
	}
	mustCoordinate(t, s, "a", nil, sib("x"))
}

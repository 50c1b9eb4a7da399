package replica

import (
	"errors"
	"fmt"
	"syscall"
	"time"
)

// ErrDiskFull refuses a write the store cannot keep: the free space of its
// data directory's file system is below the reserve (Config.MinFreeSpace),
// or the file system answered "no space left" lately. Nothing was stored.
var ErrDiskFull = errors.New("disk full")

// DiskFullError is ErrDiskFull with what the store measured.
type DiskFullError struct {
	Node string
	// Free and Reserve are the free bytes last measured and the reserve
	// (Known false: free space could not be measured).
	Free, Reserve uint64
	Known         bool
	// NoSpace: the file system itself answered "no space left".
	NoSpace bool
	// WALFailed: a write to the write-ahead log failed for want of space;
	// Pebble cannot go on with that log, so the node takes writes again
	// only after a restart.
	WALFailed bool
}

func (e *DiskFullError) Error() string {
	switch {
	case e.WALFailed:
		return fmt.Sprintf("node %s: disk full: the write-ahead log could not be written (no space left); free space and restart the node to take writes again", e.Node)
	case e.Known && e.NoSpace:
		return fmt.Sprintf("node %s: disk full: no space left on the data directory's file system (%s free, reserve %s); writes are refused until space is freed", e.Node, bytesText(e.Free), bytesText(e.Reserve))
	case e.Known:
		return fmt.Sprintf("node %s: disk full: %s free on the data directory's file system, below the reserve of %s; writes are refused until space is freed", e.Node, bytesText(e.Free), bytesText(e.Reserve))
	}
	return fmt.Sprintf("node %s: disk full: no space left on the data directory's file system; writes are refused until space is freed", e.Node)
}

func (e *DiskFullError) Unwrap() error { return ErrDiskFull }

// bytesText prints n in MiB with one decimal (KiB below 1 MiB).
func bytesText(n uint64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// isNoSpace reports whether err is the file system's "no space left".
func isNoSpace(err error) bool { return errors.Is(err, syscall.ENOSPC) }

// diskGuard decides whether the store takes writes, from what it is told:
// the free space measured now and then, and the "no space left" errors
// Pebble met. It does no I/O and reads no clock.
//
// The store is full while the last measured free space is below the
// reserve, and for hold after each "no space left" (a background flush that
// keeps failing renews it; once space is back the failures stop and the
// hold runs out).
type diskGuard struct {
	reserve uint64        // 0: no reserve check
	hold    time.Duration // how long one "no space left" keeps the store full

	known     bool   // free was measured
	free      uint64 // bytes free at the last measurement
	noSpace   time.Time
	walFailed bool // a commit failed for want of space: until restart
}

// measured records a measurement of the free space.
func (g *diskGuard) measured(free uint64) { g.known, g.free = true, free }

// sawNoSpace records a "no space left" at now; wal says a commit (the
// write-ahead log) failed with it.
func (g *diskGuard) sawNoSpace(now time.Time, wal bool) {
	g.noSpace = now
	g.walFailed = g.walFailed || wal
}

// state is the guard's verdict at now: nil while writes are taken,
// otherwise the error that refuses them.
func (g *diskGuard) state(now time.Time, node string) *DiskFullError {
	below := g.known && g.reserve > 0 && g.free < g.reserve
	noSpace := !g.noSpace.IsZero() && now.Sub(g.noSpace) < g.hold
	if !below && !noSpace && !g.walFailed {
		return nil
	}
	return &DiskFullError{Node: node, Free: g.free, Reserve: g.reserve, Known: g.known, NoSpace: noSpace, WALFailed: g.walFailed}
}

// logLimiter lets one message of a kind through per interval and counts the
// ones it held back. It reads no clock: the caller passes the time.
type logLimiter struct {
	every      time.Duration
	last       time.Time
	suppressed int
}

// allow reports whether a message at now is logged, and how many were held
// back since the last one that was.
func (l *logLimiter) allow(now time.Time) (ok bool, suppressed int) {
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.suppressed++
		return false, 0
	}
	l.last, suppressed, l.suppressed = now, l.suppressed, 0
	return true, suppressed
}

package replica

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// diskWatch runs the store's diskGuard: it measures the free space every
// check interval, hears of "no space left" from writes and from Pebble's
// background work, and publishes the verdict, so that a write is refused
// with one atomic load instead of hanging in a Pebble that cannot flush.
type diskWatch struct {
	node      string
	log       *slog.Logger
	freeSpace func() (uint64, error)
	every     time.Duration

	mu       sync.Mutex
	g        diskGuard
	still    logLimiter
	onChange []func()

	refused atomic.Int64  // writes refused since the last line about it
	stalls  atomic.Uint64 // write stalls Pebble began since open

	full atomic.Pointer[DiskFullError] // nil: writes are taken

	stop chan struct{}
	done chan struct{}
}

func newDiskWatch(cfg Config, log *slog.Logger) *diskWatch {
	w := &diskWatch{
		node: cfg.NodeID, log: log, freeSpace: cfg.FreeSpace, every: cfg.DiskCheckInterval,
		g:     diskGuard{hold: cfg.DiskCheckInterval},
		still: logLimiter{every: cfg.LogInterval},
	}
	if cfg.MinFreeSpace > 0 {
		w.g.reserve = uint64(cfg.MinFreeSpace)
	}
	if w.freeSpace == nil {
		fs, dir := cfg.FS, cfg.Dir
		w.freeSpace = func() (uint64, error) {
			u, err := fs.GetDiskUsage(dir)
			return u.AvailBytes, err
		}
	}
	return w
}

// start measures once and, when free space can be measured at all,
// measures again every interval until close.
func (w *diskWatch) start() {
	if !w.check() {
		return
	}
	w.stop, w.done = make(chan struct{}), make(chan struct{})
	go w.run()
}

func (w *diskWatch) run() {
	defer close(w.done)
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.check()
		}
	}
}

func (w *diskWatch) close() {
	if w.stop != nil {
		close(w.stop)
		<-w.done
		w.stop = nil
	}
}

// check measures the free space; false when it cannot be measured here
// (an in-memory file system).
func (w *diskWatch) check() bool {
	free, err := w.freeSpace()
	if errors.Is(err, vfs.ErrUnsupported) {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		if ok, n := w.still.allow(time.Now()); ok {
			w.log.Warn("cannot measure the data directory's free space", "err", err, "suppressed", n)
		}
		return true
	}
	w.g.measured(free)
	w.publishLocked()
	return true
}

// sawNoSpace records a "no space left" from Pebble's background work or
// from extending a WAL.
func (w *diskWatch) sawNoSpace() { w.noSpace(false) }

func (w *diskWatch) noSpace(wal bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.g.sawNoSpace(time.Now(), wal)
	w.publishLocked()
}

// walFailed reports whether a commit failed for want of space (Pebble's
// log is then unusable: no commit may wait on it again).
func (w *diskWatch) walFailed() bool {
	st := w.full.Load()
	return st != nil && st.WALFailed
}

// publishLocked makes the guard's verdict the one writes see, logs a change
// (and, while full, a reminder once per log interval) and tells the
// listeners of a change.
func (w *diskWatch) publishLocked() {
	now := time.Now()
	st := w.g.state(now, w.node)
	was := w.full.Load()
	w.full.Store(st)
	switch {
	case st != nil && was == nil:
		w.log.Error("disk full: refusing writes until space is freed", "free", st.Free, "reserve", st.Reserve, "no_space", st.NoSpace, "wal_failed", st.WALFailed)
		w.still.last = now
		w.refused.Store(0)
	case st == nil && was != nil:
		w.log.Info("disk has space again: taking writes", "free", w.g.free, "reserve", w.g.reserve, "refused", w.refused.Swap(0))
	case st != nil:
		if ok, _ := w.still.allow(now); ok {
			w.log.Warn("disk still full", "free", st.Free, "reserve", st.Reserve, "refused", w.refused.Swap(0))
		}
	}
	if (st == nil) != (was == nil) {
		for _, fn := range w.onChange {
			go fn()
		}
	}
}

// admit is nil when the store takes writes, else the error refusing one.
func (w *diskWatch) admit() error {
	st := w.full.Load()
	if st == nil {
		return nil
	}
	w.refused.Add(1)
	return st
}

// failed turns a failed commit's error into ErrDiskFull when the file
// system had no space left (and records it: the write-ahead log failed);
// other errors pass.
func (w *diskWatch) failed(err error) error {
	if err == nil || !isNoSpace(err) {
		return err
	}
	w.noSpace(true)
	st := w.full.Load()
	if st == nil {
		st = &DiskFullError{Node: w.node, NoSpace: true}
	}
	return fmt.Errorf("%w (%w)", st, err)
}

// eventListener is Pebble's: a background error with "no space left" makes
// the store full, and background errors and write stalls are logged once
// per log interval, not each time (a flush that cannot write retries at
// once, over and over).
func (w *diskWatch) eventListener() *pebble.EventListener {
	var mu sync.Mutex
	bg := logLimiter{every: w.still.every}
	stalls := logLimiter{every: w.still.every}
	return &pebble.EventListener{
		BackgroundError: func(err error) {
			if isNoSpace(err) {
				w.sawNoSpace()
			}
			mu.Lock()
			ok, n := bg.allow(time.Now())
			mu.Unlock()
			if ok {
				w.log.Error("storage background error", "err", err, "suppressed", n)
			}
		},
		WriteStallBegin: func(info pebble.WriteStallBeginInfo) {
			w.stalls.Add(1)
			mu.Lock()
			ok, n := stalls.allow(time.Now())
			mu.Unlock()
			if ok {
				w.log.Warn("storage write stall", "reason", info.Reason, "suppressed", n)
			}
		},
	}
}

// OnDiskChange calls fn (in a goroutine) each time the store starts or
// stops refusing writes for a full disk; fn reads DiskFull for the state
// (two calls may run in either order, so the state is read, not passed).
func (s *Store) OnDiskChange(fn func()) {
	s.disk.mu.Lock()
	defer s.disk.mu.Unlock()
	s.disk.onChange = append(s.disk.onChange, fn)
}

// DiskFull is nil while the store takes writes, otherwise the error with
// which it refuses them.
func (s *Store) DiskFull() *DiskFullError { return s.disk.full.Load() }

package replica

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

// ErrCorrupt is a damaged file in the store's data directory (a checksum
// that does not match, a block that does not decode). Pebble cannot repair
// it; the node's other replicas hold the data.
var ErrCorrupt = errors.New("replica: data file damaged")

// Recovery is what an operator does about ErrCorrupt.
const Recovery = "recovery: wipe the data directory; the node rejoins as a new incarnation and is refilled from the other replicas"

// CorruptionError is ErrCorrupt in File (its path; empty when Pebble did
// not say which), in data directory Dir.
type CorruptionError struct {
	File string
	Dir  string
	Err  error
}

func (e *CorruptionError) Error() string {
	file := "a data file"
	if e.File != "" {
		file = "data file " + e.File
	}
	return fmt.Sprintf("replica: %s is damaged (%v); recovery: wipe the data directory %s; the node rejoins as a new incarnation and is refilled from the other replicas", file, e.Err, e.Dir)
}

func (e *CorruptionError) Unwrap() []error { return []error{ErrCorrupt, e.Err} }

// corruptions records the damaged files Pebble reports. Pebble reports a
// corruption synchronously from the read that found it (a scan, a Get, a
// background compaction) and its default handler calls Logger.Fatalf,
// which panics; this one records the first file and logs each file once,
// so the read fails with an error instead and Open can say which file.
type corruptions struct {
	log *slog.Logger

	mu    sync.Mutex
	first string
	seen  map[string]bool
}

// report is the Pebble EventListener's DataCorruption hook: it must not
// block (it runs in read paths).
func (c *corruptions) report(info pebble.DataCorruptionInfo) {
	c.mu.Lock()
	if c.seen == nil {
		c.seen = map[string]bool{}
	}
	again := c.seen[info.Path]
	c.seen[info.Path] = true
	if c.first == "" {
		c.first = info.Path
	}
	c.mu.Unlock()
	if !again {
		c.log.Error("damaged data file: reads of the keys it holds fail; "+Recovery, "file", info.Path, "err", shortReason(info.Details))
	}
}

// firstFile is the first damaged file reported ("" if none).
func (c *corruptions) firstFile() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.first
}

// corruptionError turns err into a *CorruptionError when it reports a
// damaged file (naming the file Pebble attached to it, or else the first one
// reported), and returns it unchanged otherwise.
func (s *Store) corruptionError(err error) error {
	if err == nil || !pebble.IsCorruptionError(err) {
		return err
	}
	file := s.corrupt.firstFile()
	if info := pebble.ExtractDataCorruptionInfo(err); info != nil {
		file = info.Path
	}
	return &CorruptionError{File: file, Dir: s.cfg.Dir, Err: errors.New(shortReason(err))}
}

// shortReason is err's message without Pebble's wrapped detail chain
// (the first line of it).
func shortReason(err error) string {
	msg := err.Error()
	for i, r := range msg {
		if r == '\n' {
			return msg[:i]
		}
	}
	return msg
}

package replica

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/quorumkv/quorumkv/antientropy"
	"github.com/quorumkv/quorumkv/vclock"
)

// The change log: every write that changes a key's stored state (a
// client's, a replica's, a hint's, a read repair's, an anti-entropy
// push) adds c/<partition:be16>/<seq:be64> → <key> to the same Pebble
// batch. Sequence numbers count per partition, from 1, and are assigned
// under the partition's stripe lock, held until the batch is applied, so
// the entries of a partition become visible in sequence order: a reader that saw seq n
// will never later find an entry below n appear. Entries name the key
// only; a reader reads the key's state when it reads the entry (a watch's
// events may coalesce). The oldest entries are trimmed (TrimLog); the
// number past the last trimmed one is the log's floor. A partition the
// node drops keeps its sequence past the drop (s/logseq/<partition>), so a
// sequence number is never reused within one incarnation.

// logStripes is the number of locks partitions' appends are striped over.
const logStripes = 64

// changeLog is the log's in-memory state.
type changeLog struct {
	// stripes order the appends of each partition (partition p's is
	// stripes[p % logStripes]): held from a sequence's assignment until
	// its batch is applied.
	stripes [logStripes]sync.Mutex
	// mu guards last and waiters.
	mu sync.Mutex
	// last is each partition's last assigned sequence (loaded on first
	// use); waiters are closed when a partition's log grows.
	last    map[int]uint64
	waiters map[int]chan struct{}
}

// logKey is c/<partition:be16>/<seq:be64>; seq 0 is the partition's
// prefix end marker base.
func logKey(p int, seq uint64) []byte {
	k := make([]byte, 0, 13)
	k = append(k, logPrefix...)
	k = binary.BigEndian.AppendUint16(k, uint16(p))
	k = append(k, '/')
	return binary.BigEndian.AppendUint64(k, seq)
}

func logPartitionPrefix(p int) []byte { return logKey(p, 0)[:len(logPrefix)+3] }

// logSeqKey is s/logseq/<partition:be16>: the last sequence of a
// partition's log when the node dropped the partition.
func logSeqKey(p int) []byte {
	return binary.BigEndian.AppendUint16([]byte("s/logseq/"), uint16(p))
}

// lastSeqLocked loads p's last sequence. Called with clog.mu held.
func (s *Store) lastSeqLocked(p int) (uint64, error) {
	if n, ok := s.clog.last[p]; ok {
		return n, nil
	}
	var last uint64
	if v, err := s.getState(logSeqKey(p)); err != nil {
		return 0, err
	} else if len(v) == 8 {
		last = binary.BigEndian.Uint64(v)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: logPartitionPrefix(p), UpperBound: prefixEnd(logPartitionPrefix(p))})
	if err != nil {
		return 0, err
	}
	if it.Last() {
		last = max(last, binary.BigEndian.Uint64(it.Key()[len(it.Key())-8:]))
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return 0, err
	}
	s.clog.last[p] = last
	return last, nil
}

// logAndApply adds a log entry for each changed key to b (its partition
// and key), then applies b with apply, holding the stripes of the
// partitions involved throughout.
func (s *Store) logAndApply(b *pebble.Batch, changed []change, apply func() error) error {
	var stripes []int
	for _, c := range changed {
		stripes = append(stripes, c.p%logStripes)
	}
	slices.Sort(stripes)
	for _, st := range slices.Compact(stripes) {
		s.clog.stripes[st].Lock()
		defer s.clog.stripes[st].Unlock()
	}
	next, err := s.assignSeqs(b, changed)
	if err != nil {
		return err
	}
	if err := apply(); err != nil {
		return err
	}
	if s.cfg.OnChange != nil {
		for _, c := range changed {
			s.cfg.OnChange(c.key)
		}
	}
	s.clog.mu.Lock()
	defer s.clog.mu.Unlock()
	for p, n := range next {
		s.clog.last[p] = n
		if w, ok := s.clog.waiters[p]; ok {
			close(w)
			delete(s.clog.waiters, p)
		}
	}
	return nil
}

// assignSeqs numbers changed's entries after each partition's last and
// adds them to b; it returns each partition's new last.
func (s *Store) assignSeqs(b *pebble.Batch, changed []change) (map[int]uint64, error) {
	s.clog.mu.Lock()
	defer s.clog.mu.Unlock()
	next := map[int]uint64{}
	for _, c := range changed {
		n, ok := next[c.p]
		if !ok {
			last, err := s.lastSeqLocked(c.p)
			if err != nil {
				return nil, err
			}
			n = last
		}
		n++
		next[c.p] = n
		if err := b.Set(logKey(c.p, n), c.key, nil); err != nil {
			return nil, err
		}
	}
	return next, nil
}

// LogEntry is one change of a partition's log with the key's state when
// it was read.
type LogEntry struct {
	Seq   uint64
	Key   []byte
	Clock vclock.Clock
	Found bool
}

// LogRead is ReadLog's answer.
type LogRead struct {
	Entries []LogEntry
	// Floor is the lowest sequence still in the log (Last+1 when empty);
	// Last the last assigned.
	Floor, Last uint64
	// Incarnation names this replica's life: sequences of another are
	// unrelated.
	Incarnation string
}

// ErrLogCompacted: the entries after the sequence asked for were trimmed.
var ErrLogCompacted = errors.New("change log compacted past the sequence")

// ReadLog returns up to limit entries of p's log after sequence after,
// each with its key's current state.
func (s *Store) ReadLog(p int, after uint64, limit int) (LogRead, error) {
	if err := s.enter(); err != nil {
		return LogRead{}, err
	}
	defer s.exit()
	s.clog.mu.Lock()
	last, err := s.lastSeqLocked(p)
	s.clog.mu.Unlock()
	if err != nil {
		return LogRead{}, err
	}
	out := LogRead{Last: last, Floor: last + 1, Incarnation: s.id.Incarnation}
	lower := logPartitionPrefix(p)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
	if err != nil {
		return out, err
	}
	defer it.Close()
	if it.First() {
		out.Floor = binary.BigEndian.Uint64(it.Key()[len(it.Key())-8:])
	}
	if after+1 < out.Floor {
		return out, fmt.Errorf("%w: after %d, floor %d", ErrLogCompacted, after, out.Floor)
	}
	for ok := it.SeekGE(logKey(p, after+1)); ok && len(out.Entries) < limit; ok = it.Next() {
		seq := binary.BigEndian.Uint64(it.Key()[len(it.Key())-8:])
		if seq > last {
			break // applied after last was read: the next read gets it
		}
		key := bytes.Clone(it.Value())
		obj, err := s.read(segmentKey(p, antientropy.Segment(key), key))
		if err != nil {
			return out, err
		}
		out.Entries = append(out.Entries, LogEntry{Seq: seq, Key: key, Clock: obj.clock, Found: obj.found})
	}
	return out, it.Error()
}

// LogGrew returns a channel closed once p's log has an entry after seq.
func (s *Store) LogGrew(p int, seq uint64) <-chan struct{} {
	s.clog.mu.Lock()
	defer s.clog.mu.Unlock()
	if last, err := s.lastSeqLocked(p); err != nil || last > seq {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	w, ok := s.clog.waiters[p]
	if !ok {
		w = make(chan struct{})
		s.clog.waiters[p] = w
	}
	return w
}

// TrimLog deletes p's oldest entries, keeping the last keep.
func (s *Store) TrimLog(p int, keep uint64) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.exit()
	s.clog.mu.Lock()
	last, err := s.lastSeqLocked(p)
	s.clog.mu.Unlock()
	if err != nil || last <= keep {
		return err
	}
	return s.db.DeleteRange(logKey(p, 0), logKey(p, last-keep+1), pebble.NoSync)
}

// dropLog adds to b the deletion of p's log and the record of its
// last sequence. Called with clog.mu held and no write of p possible.
func (s *Store) dropLog(b *pebble.Batch, p int) error {
	last, err := s.lastSeqLocked(p)
	if err != nil {
		return err
	}
	if err := b.Set(logSeqKey(p), binary.BigEndian.AppendUint64(nil, last), nil); err != nil {
		return err
	}
	return b.DeleteRange(logPartitionPrefix(p), prefixEnd(logPartitionPrefix(p)), nil)
}

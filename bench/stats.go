package bench

import (
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Histograms record latencies in nanoseconds, from 1µs to 1 minute (longer
// ones are clamped), to 3 significant digits.
const (
	histMin    = int64(time.Microsecond)
	histMax    = int64(time.Minute)
	histDigits = 3
)

func newHistogram() *hdr.Histogram { return hdr.New(histMin, histMax, histDigits) }

// outcome is what a successful operation saw besides its latency.
type outcome struct {
	notFound bool // a read found no value
	conflict bool // a compare-and-set found another version
	retries  int  // attempts the driver repeated
	receipt  *Receipt
}

// opStats are one operation's counts and latencies (of the operations that
// succeeded, a read of a missing key and a conflicting compare-and-set
// included).
type opStats struct {
	hist      *hdr.Histogram
	notFound  int64
	conflicts int64
	retries   int64
	receipts  receiptCounts
	errors    [3]int64 // by class, in ErrorClasses order
	samples   [3]string
}

// receiptCounts add up quorumkv's receipts.
type receiptCounts struct {
	n, fastPath, rounds int64
}

func newOpStats() *opStats { return &opStats{hist: newHistogram()} }

func (s *opStats) record(lat time.Duration, o outcome, err error) {
	if err != nil {
		i := classIndex(Classify(err))
		s.errors[i]++
		s.samples[i] = err.Error()
		return
	}
	if o.notFound {
		s.notFound++
	}
	if o.conflict {
		s.conflicts++
	}
	s.retries += int64(o.retries)
	if o.receipt != nil {
		s.receipts.n++
		s.receipts.rounds += int64(o.receipt.Rounds)
		if o.receipt.FastPath {
			s.receipts.fastPath++
		}
	}
	_ = s.hist.RecordValue(min(max(int64(lat), histMin), histMax))
}

func (s *opStats) count() int64 { return s.hist.TotalCount() }

func (s *opStats) errorCount() int64 {
	var n int64
	for _, e := range s.errors {
		n += e
	}
	return n
}

// merge adds src into s.
func (s *opStats) merge(src *opStats) {
	s.hist.Merge(src.hist)
	s.notFound += src.notFound
	s.conflicts += src.conflicts
	s.retries += src.retries
	s.receipts.n += src.receipts.n
	s.receipts.fastPath += src.receipts.fastPath
	s.receipts.rounds += src.receipts.rounds
	for i := range s.errors {
		s.errors[i] += src.errors[i]
		if src.samples[i] != "" {
			s.samples[i] = src.samples[i]
		}
	}
}

func (s *opStats) reset() {
	s.hist.Reset()
	s.notFound, s.conflicts, s.retries = 0, 0, 0
	s.receipts = receiptCounts{}
	s.errors = [3]int64{}
	s.samples = [3]string{}
}

// recorder is one client's stats, drained by the collector once per
// interval. Only its client and the collector touch it, so the lock is
// almost never contended.
type recorder struct {
	mu  sync.Mutex
	ops [numOps]*opStats // nil until the op is first recorded
}

func (r *recorder) record(op Op, lat time.Duration, o outcome, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ops[op] == nil {
		r.ops[op] = newOpStats()
	}
	r.ops[op].record(lat, o, err)
}

// drainInto merges what r holds into dst and resets r.
func (r *recorder) drainInto(dst *[numOps]*opStats) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for op, s := range r.ops {
		if s == nil || (s.count() == 0 && s.errorCount() == 0) {
			continue
		}
		if dst[op] == nil {
			dst[op] = newOpStats()
		}
		dst[op].merge(s)
		s.reset()
	}
}

// mergeRecorders drains every client's recorder into one set of stats per
// operation.
func mergeRecorders(recs []*recorder) [numOps]*opStats {
	var out [numOps]*opStats
	for _, r := range recs {
		r.drainInto(&out)
	}
	return out
}

package replica

import (
	"math"

	dto "github.com/prometheus/client_model/go"
)

// StorageStats are the storage engine's own figures, for monitoring.
type StorageStats struct {
	Compactions, Flushes int64
	// L0Files and L0Sublevels: a growing level 0 is the engine falling
	// behind with compactions (and the cause of write stalls).
	L0Files     int64
	L0Sublevels int32
	WriteStalls uint64
	// CacheHits and CacheMisses are block cache lookups.
	CacheHits, CacheMisses int64
	// Fsync is the latency of the write-ahead log's fsyncs.
	Fsync LatencyHistogram
}

// LatencyHistogram is a cumulative histogram in seconds.
type LatencyHistogram struct {
	Count   uint64
	Sum     float64            // seconds
	Buckets map[float64]uint64 // upper bound (seconds) -> cumulative count
}

// StorageStats reads the engine's figures now.
func (s *Store) StorageStats() StorageStats {
	m := s.db.Metrics()
	st := StorageStats{
		Compactions: m.Compact.Count,
		Flushes:     m.Flush.Count,
		L0Files:     m.Levels[0].TablesCount,
		L0Sublevels: m.Levels[0].Sublevels,
		WriteStalls: s.disk.stalls.Load(),
		CacheHits:   m.BlockCache.Hits,
		CacheMisses: m.BlockCache.Misses,
	}
	if h := m.LogWriter.FsyncLatency; h != nil {
		var d dto.Metric
		if err := h.Write(&d); err == nil {
			st.Fsync = fromNanos(d.GetHistogram())
		}
	}
	return st
}

// fromNanos converts the engine's fsync histogram (nanoseconds) to seconds.
func fromNanos(h *dto.Histogram) LatencyHistogram {
	out := LatencyHistogram{Count: h.GetSampleCount(), Sum: h.GetSampleSum() / 1e9, Buckets: map[float64]uint64{}}
	for _, b := range h.GetBucket() {
		if ub := b.GetUpperBound(); !math.IsInf(ub, 1) {
			out.Buckets[ub/1e9] = b.GetCumulativeCount()
		}
	}
	return out
}

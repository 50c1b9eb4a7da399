package serial

import (
	"math"
	"slices"
	"sync"
	"time"
)

// latencies keeps the durations of the last rounds that ended on their
// answers, for the backoff to adapt to.
type latencies struct {
	mu      sync.Mutex
	samples [64]time.Duration
	n, next int
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.samples[l.next] = d
	l.next = (l.next + 1) % len(l.samples)
	l.n = min(l.n+1, len(l.samples))
}

// quantiles returns the median and the 95th percentile (0 without samples).
func (l *latencies) quantiles() (p50, p95 time.Duration) {
	l.mu.Lock()
	s := slices.Clone(l.samples[:l.n])
	l.mu.Unlock()
	if len(s) == 0 {
		return 0, 0
	}
	slices.Sort(s)
	return s[len(s)/2], s[(len(s)*95)/100]
}

// backoff is the wait before retry number attempt (1 for the first
// retry), randomised between a floor of two thirds of the median round and
// a ceiling of the 95th percentile times 1.8^attempt, the ceiling kept
// within [lo, hi]; r is uniform in [0, 1).
func backoff(p50, p95 time.Duration, attempt int, lo, hi time.Duration, r float64) time.Duration {
	ceil := time.Duration(float64(p95) * math.Pow(1.8, float64(attempt)))
	ceil = min(max(ceil, lo), hi)
	floor := min(p50*2/3, ceil)
	return floor + time.Duration(r*float64(ceil-floor))
}

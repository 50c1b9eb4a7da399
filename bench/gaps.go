package bench

import "time"

// DefaultStarvationLimit is the longest a client may go without completing
// an operation before the report counts it as starved.
const DefaultStarvationLimit = 2 * time.Second

// gapTracker finds one client's longest wait between completed operations:
// from the start of the measured run to its first completion, between
// completions, and from its last completion to when it stopped.
type gapTracker struct {
	last time.Time // the start, then the latest completion
	max  time.Duration
}

func newGapTracker(start time.Time) gapTracker { return gapTracker{last: start} }

// complete notes an operation completed at t (times before the start or
// the latest completion count from there).
func (g *gapTracker) complete(t time.Time) {
	if !t.After(g.last) {
		return
	}
	g.max = max(g.max, t.Sub(g.last))
	g.last = t
}

// finish ends the client's run at t and returns its longest gap.
func (g *gapTracker) finish(t time.Time) time.Duration {
	if t.After(g.last) {
		g.max = max(g.max, t.Sub(g.last))
	}
	return g.max
}

// Starvation is the starvation check: for each client, the longest time it
// went without completing an operation (measured part of the run only).
type Starvation struct {
	LimitMs float64 `json:"limit_ms"`
	// WorstGapMs is the longest gap of any client, WorstClient its client.
	WorstGapMs  float64 `json:"worst_gap_ms"`
	WorstClient int     `json:"worst_client"`
	// Starved counts the clients whose longest gap exceeded the limit.
	Starved int `json:"starved_clients"`
	// MaxGapMs is each client's longest gap, by client.
	MaxGapMs []float64 `json:"max_gap_ms"`
}

// newStarvation summarises the clients' longest gaps against limit.
func newStarvation(gaps []time.Duration, limit time.Duration) Starvation {
	s := Starvation{LimitMs: ms(int64(limit)), MaxGapMs: make([]float64, len(gaps))}
	var worst time.Duration
	for i, g := range gaps {
		s.MaxGapMs[i] = ms(int64(g))
		if g > worst {
			worst, s.WorstClient = g, i
		}
		if g > limit {
			s.Starved++
		}
	}
	s.WorstGapMs = ms(int64(worst))
	return s
}

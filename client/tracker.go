package client

import (
	"slices"
	"time"
)

// tracker follows one endpoint's responsiveness from what the client sees
// of it: how many requests are outstanding, for how long the endpoint has
// had work and said nothing, and the latencies of its recent answers. It is
// pure: every method is given the time, and the caller serializes calls.
type tracker struct {
	cfg         Responsiveness
	outstanding int
	busySince   time.Time // when outstanding last rose from zero
	lastAnswer  time.Time
	quiet       bool // latched once silent past the threshold; an answer clears it
	lastProbe   time.Time
	all, reads  samples
}

// sent records a request handed to the endpoint.
func (t *tracker) sent(now time.Time) {
	if t.outstanding == 0 {
		t.busySince = now
	}
	t.outstanding++
}

// done records the end of a request sent at start: answered when the
// endpoint answered it (a result or an error of its own), not when its
// connection broke first. (A request whose caller stopped waiting is still
// outstanding: the node holds it until it answers.)
func (t *tracker) done(now, start time.Time, answered, read bool) {
	t.isQuiet(now) // latch before the count drops: the wait is evidence
	t.outstanding = max(0, t.outstanding-1)
	if !answered {
		return
	}
	t.all.add(now.Sub(start))
	if read {
		t.reads.add(now.Sub(start))
	}
	t.heard(now)
}

// heard records that the endpoint said something (any answer on its
// stream, a health probe): it is not quiet.
func (t *tracker) heard(now time.Time) {
	if now.After(t.lastAnswer) {
		t.lastAnswer = now
	}
	t.quiet = false
}

// silent is how long the endpoint has had requests outstanding without
// answering any (zero when it has none).
func (t *tracker) silent(now time.Time) time.Duration {
	if t.outstanding == 0 {
		return 0
	}
	since := t.busySince
	if t.lastAnswer.After(since) {
		since = t.lastAnswer
	}
	return now.Sub(since)
}

// quietAfter is the silence that makes the endpoint quiet: QuietAfter, or
// QuietFactor times its recent p99 when longer, at most QuietMax.
func (t *tracker) quietAfter() time.Duration {
	d := time.Duration(t.cfg.QuietFactor * float64(t.all.quantile(0.99)))
	return min(max(d, t.cfg.QuietAfter), t.cfg.QuietMax)
}

// lagAfter is the silence that makes the endpoint lagging: LagAfter, or
// LagFactor times its recent p90 when longer, at most quietAfter.
func (t *tracker) lagAfter() time.Duration {
	d := time.Duration(t.cfg.LagFactor * float64(t.all.quantile(0.90)))
	return min(max(d, t.cfg.LagAfter), t.quietAfter())
}

// lagging reports whether new requests should go to another replica
// first: the endpoint is quiet, or silent past lagAfter. It latches
// nothing.
func (t *tracker) lagging(now time.Time) bool {
	return t.isQuiet(now) || t.silent(now) > t.lagAfter()
}

// isQuiet reports whether the endpoint is quiet, latching the state once
// its silence passes quietAfter.
func (t *tracker) isQuiet(now time.Time) bool {
	if !t.quiet && t.silent(now) > t.quietAfter() {
		t.quiet = true
	}
	return t.quiet
}

// giveUp reports whether a try sent at start should stop waiting: the
// endpoint is quiet and the try has waited GiveUpAfter.
func (t *tracker) giveUp(now, start time.Time) bool {
	return t.cfg.GiveUpAfter > 0 && t.isQuiet(now) && now.Sub(start) >= t.cfg.GiveUpAfter
}

// probeDue reports whether a quiet endpoint should be health-checked now,
// and if so counts the probe as started.
func (t *tracker) probeDue(now time.Time) bool {
	if !t.isQuiet(now) || now.Sub(t.lastProbe) < t.cfg.ProbeEvery {
		return false
	}
	t.lastProbe = now
	return true
}

// hedgeDelay is how long a get waits on the endpoint before it is also
// sent to the next one: HedgePercentile of its recent read latencies,
// within HedgeMin..HedgeMax (HedgeMax before any read answered).
func (t *tracker) hedgeDelay() time.Duration {
	if t.reads.n == 0 {
		return t.cfg.HedgeMax
	}
	return min(max(t.reads.quantile(t.cfg.HedgePercentile), t.cfg.HedgeMin), t.cfg.HedgeMax)
}

// active reports whether the endpoint needs watching without new events:
// it has requests outstanding or is quiet (and so probed).
func (t *tracker) active() bool { return t.outstanding > 0 || t.quiet }

// samplesLen is how many recent latencies an endpoint keeps.
const samplesLen = 256

// samples is a ring of the most recent latencies. Quantiles are computed
// from a sorted copy, refreshed once a sixteenth of the ring is new.
type samples struct {
	ring   [samplesLen]time.Duration
	n      int // filled slots
	next   int
	fresh  int // added since sorted was computed
	sorted []time.Duration
}

func (s *samples) add(d time.Duration) {
	s.ring[s.next] = d
	s.next = (s.next + 1) % samplesLen
	s.n = min(s.n+1, samplesLen)
	s.fresh++
}

// quantile is the q-quantile (0 < q <= 1) of the recent latencies, zero
// before any.
func (s *samples) quantile(q float64) time.Duration {
	if s.n == 0 {
		return 0
	}
	if s.sorted == nil || s.fresh >= samplesLen/16 || (len(s.sorted) < s.n && s.fresh > 0) {
		s.sorted = append(s.sorted[:0], s.ring[:s.n]...)
		slices.Sort(s.sorted)
		s.fresh = 0
	}
	i := int(q*float64(len(s.sorted))+0.999999) - 1
	return s.sorted[min(max(i, 0), len(s.sorted)-1)]
}

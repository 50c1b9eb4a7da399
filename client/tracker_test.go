package client

import (
	"testing"
	"time"
)

func testTracker() (*tracker, time.Time) {
	return &tracker{cfg: DefaultResponsiveness()}, time.Unix(1000, 0)
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// TestTrackerQuiet: an endpoint with a request outstanding and no answer
// for QuietAfter is quiet; it stays quiet when the request ends unanswered
// (its stream broke: the wait was the evidence) and an answer takes it
// back at once.
func TestTrackerQuiet(t *testing.T) {
	tr, t0 := testTracker()
	tr.sent(t0)
	if tr.isQuiet(t0.Add(ms(300))) {
		t.Fatal("quiet at exactly QuietAfter")
	}
	if !tr.isQuiet(t0.Add(ms(301))) {
		t.Fatal("not quiet after QuietAfter with a request outstanding")
	}
	tr.done(t0.Add(ms(400)), t0, false, true) // its stream broke
	if !tr.isQuiet(t0.Add(time.Hour)) {
		t.Fatal("a quiet endpoint came back without answering")
	}
	tr.heard(t0.Add(time.Hour))
	if tr.isQuiet(t0.Add(time.Hour)) {
		t.Fatal("still quiet after it answered")
	}
}

// TestTrackerLagging: an endpoint silent with work outstanding is lagging
// long before it is quiet (LagAfter, or LagFactor × its p90 when longer,
// never past the quiet threshold); lagging latches nothing, so the next
// answer ends it, and an idle endpoint never lags.
func TestTrackerLagging(t *testing.T) {
	tr, t0 := testTracker()
	if tr.lagging(t0.Add(time.Hour)) {
		t.Fatal("idle endpoint lagging")
	}
	tr.sent(t0)
	if tr.lagging(t0.Add(ms(50))) {
		t.Fatal("lagging at exactly LagAfter")
	}
	if !tr.lagging(t0.Add(ms(51))) || tr.isQuiet(t0.Add(ms(51))) {
		t.Fatal("want lagging and not quiet after LagAfter")
	}
	tr.done(t0.Add(ms(60)), t0, true, false)
	if tr.lagging(t0.Add(ms(100))) {
		t.Fatal("still lagging after an answer")
	}
	// Recent latencies of 40 ms make the threshold 3 × 40 ms.
	for i := range 50 {
		at := t0.Add(ms(100 + i))
		tr.sent(at)
		tr.done(at.Add(ms(40)), at, true, false)
	}
	t1 := t0.Add(time.Minute)
	tr.sent(t1)
	if tr.lagging(t1.Add(ms(120))) || !tr.lagging(t1.Add(ms(121))) {
		t.Fatal("want the threshold at 3 × p90 = 120 ms")
	}
	// Slow history: the threshold stops at the quiet one.
	for i := range 256 {
		at := t1.Add(ms(1000 + i))
		tr.sent(at)
		tr.done(at.Add(time.Second), at, true, false)
	}
	tr.done(t1.Add(time.Second), t1, true, false)
	if got, want := tr.lagAfter(), tr.quietAfter(); got != want {
		t.Fatalf("lagAfter %v past quietAfter %v", got, want)
	}
}

// TestTrackerIdleIsNotQuiet: silence counts only while requests are
// outstanding: an endpoint idle for an hour is not quiet when a request is
// sent, nor is one whose stream broke before QuietAfter.
func TestTrackerIdleIsNotQuiet(t *testing.T) {
	tr, t0 := testTracker()
	tr.sent(t0)
	tr.done(t0.Add(ms(60)), t0, false, true) // its stream broke
	later := t0.Add(time.Hour)
	tr.sent(later)
	if tr.isQuiet(later.Add(ms(100))) {
		t.Fatal("idle time counted as silence")
	}
}

// TestTrackerAnswersKeepItResponsive: a busy endpoint that keeps
// answering is never quiet, although some of its requests take long.
func TestTrackerAnswersKeepItResponsive(t *testing.T) {
	tr, t0 := testTracker()
	tr.sent(t0) // a slow one, outstanding throughout
	now := t0
	for range 100 {
		tr.sent(now)
		now = now.Add(ms(10))
		tr.done(now, now.Add(-ms(10)), true, true)
		if tr.isQuiet(now) {
			t.Fatalf("quiet at %v while answering every 10ms", now.Sub(t0))
		}
	}
	if tr.silent(now) != 0 {
		t.Fatalf("silent %v just after an answer", tr.silent(now))
	}
}

// TestTrackerThresholdFollowsLatency: the quiet threshold is QuietFactor
// times the recent p99 when that is longer than QuietAfter, capped at
// QuietMax.
func TestTrackerThresholdFollowsLatency(t *testing.T) {
	for _, tc := range []struct {
		name    string
		latency time.Duration
		want    time.Duration
	}{
		{"fast", ms(5), ms(300)},
		{"slow", ms(200), ms(800)},
		{"very slow", ms(900), 2 * time.Second},
	} {
		tr, t0 := testTracker()
		for i := range 200 {
			s := t0.Add(time.Duration(i) * time.Second)
			tr.sent(s)
			tr.done(s.Add(tc.latency), s, true, false)
		}
		if got := tr.quietAfter(); got != tc.want {
			t.Errorf("%s: quietAfter = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestTrackerHedgeDelay: a get is hedged after the p99 of recent read
// latencies, within HedgeMin..HedgeMax (HedgeMax before any read).
func TestTrackerHedgeDelay(t *testing.T) {
	tr, t0 := testTracker()
	if got := tr.hedgeDelay(); got != ms(500) {
		t.Fatalf("no reads yet: %v, want HedgeMax", got)
	}
	add := func(n int, d time.Duration, read bool) {
		for range n {
			tr.sent(t0)
			tr.done(t0.Add(d), t0, true, read)
		}
	}
	add(100, ms(2), true)
	if got := tr.hedgeDelay(); got != ms(50) {
		t.Fatalf("fast reads: %v, want HedgeMin", got)
	}
	add(300, ms(400), false) // writes do not move the read delay
	if got := tr.hedgeDelay(); got != ms(50) {
		t.Fatalf("after slow writes: %v, want HedgeMin", got)
	}
	add(90, ms(2), true)
	add(10, ms(120), true) // 10 % slow reads: p99 is slow
	if got := tr.hedgeDelay(); got != ms(120) {
		t.Fatalf("p99 of reads: %v, want 120ms", got)
	}
	add(samplesLen, ms(3000), true)
	if got := tr.hedgeDelay(); got != ms(500) {
		t.Fatalf("very slow reads: %v, want HedgeMax", got)
	}
}

// TestTrackerGiveUpAndProbe: once quiet, a try that has waited
// GiveUpAfter gives up, and a probe is due every ProbeEvery.
func TestTrackerGiveUpAndProbe(t *testing.T) {
	tr, t0 := testTracker()
	tr.sent(t0)
	if tr.giveUp(t0.Add(ms(200)), t0) || tr.probeDue(t0.Add(ms(200))) {
		t.Fatal("gave up or probed before the endpoint was quiet")
	}
	if tr.giveUp(t0.Add(ms(500)), t0) {
		t.Fatal("gave up before GiveUpAfter")
	}
	if !tr.giveUp(t0.Add(time.Second), t0) {
		t.Fatal("did not give up after GiveUpAfter on a quiet endpoint")
	}
	if !tr.probeDue(t0.Add(ms(400))) {
		t.Fatal("no probe of a quiet endpoint")
	}
	if tr.probeDue(t0.Add(ms(800))) {
		t.Fatal("probed again within ProbeEvery")
	}
	if !tr.probeDue(t0.Add(ms(900))) {
		t.Fatal("no probe after ProbeEvery")
	}
	tr.done(t0.Add(ms(950)), t0, true, true) // it answers at last
	if tr.probeDue(t0.Add(2*time.Second)) || tr.giveUp(t0.Add(2*time.Second), t0) {
		t.Fatal("probed or gave up after the endpoint answered")
	}
	tr.cfg.GiveUpAfter = 0
	tr.sent(t0.Add(3 * time.Second))
	if tr.giveUp(t0.Add(time.Minute), t0.Add(3*time.Second)) {
		t.Fatal("gave up with GiveUpAfter 0")
	}
}

// TestSamplesQuantile: quantiles of the most recent samplesLen latencies.
func TestSamplesQuantile(t *testing.T) {
	var s samples
	if s.quantile(0.99) != 0 {
		t.Fatal("quantile of nothing")
	}
	for i := 1; i <= 100; i++ {
		s.add(ms(i))
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, ms(50)}, {0.99, ms(99)}, {1, ms(100)}, {0.001, ms(1)}} {
		if got := s.quantile(tc.q); got != tc.want {
			t.Errorf("q%v = %v, want %v", tc.q, got, tc.want)
		}
	}
	for range samplesLen {
		s.add(ms(7))
	}
	if got := s.quantile(1); got != ms(7) {
		t.Fatalf("old samples still counted: max %v", got)
	}
}

// TestResponsivenessValidate: the defaults are valid; nonsense is refused.
func TestResponsivenessValidate(t *testing.T) {
	if err := DefaultResponsiveness().Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Responsiveness){
		"zero quiet":      func(r *Responsiveness) { r.QuietAfter = 0 },
		"zero lag":        func(r *Responsiveness) { r.LagAfter = 0 },
		"negative lag":    func(r *Responsiveness) { r.LagFactor = -1 },
		"max below quiet": func(r *Responsiveness) { r.QuietMax = ms(100) },
		"negative give":   func(r *Responsiveness) { r.GiveUpAfter = -1 },
		"no probe":        func(r *Responsiveness) { r.ProbeEvery = 0 },
		"percentile":      func(r *Responsiveness) { r.HedgePercentile = 1.5 },
		"hedge bounds":    func(r *Responsiveness) { r.HedgeMax = ms(10) },
	} {
		r := DefaultResponsiveness()
		mut(&r)
		if err := r.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if _, err := New([]string{"127.0.0.1:1"}, WithResponsiveness(r)); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	r := DefaultResponsiveness()
	r.Hedge, r.HedgeMin = false, 0
	if err := r.Validate(); err != nil {
		t.Fatalf("hedge bounds checked with hedging off: %v", err)
	}
}

// TestTryOrder: healthy candidates first in preference order, then the
// failing ones, then the quiet ones.
func TestTryOrder(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cands []candidate
		want  []int
	}{
		{"all healthy", []candidate{{addr: "a"}, {addr: "b"}, {addr: "c"}}, []int{0, 1, 2}},
		{"first quiet", []candidate{{addr: "a", quiet: true}, {addr: "b"}, {addr: "c"}}, []int{1, 2, 0}},
		{"first failing", []candidate{{addr: "a", failing: true}, {addr: "b"}, {addr: "c"}}, []int{1, 2, 0}},
		{"quiet after failing", []candidate{{addr: "a", quiet: true}, {addr: "b", failing: true}, {addr: "c"}}, []int{2, 1, 0}},
		{"quiet and failing last", []candidate{{addr: "a", quiet: true, failing: true}, {addr: "b", quiet: true}, {addr: "c", failing: true}}, []int{2, 0, 1}},
		{"all quiet keeps order", []candidate{{addr: "a", quiet: true}, {addr: "b", quiet: true}}, []int{0, 1}},
		{"first lagging", []candidate{{addr: "a", lagging: true}, {addr: "b"}, {addr: "c"}}, []int{1, 2, 0}},
		{"lagging after failing, before quiet", []candidate{{addr: "a", quiet: true}, {addr: "b", lagging: true}, {addr: "c", failing: true}}, []int{2, 1, 0}},
		{"lagging and failing counts as lagging", []candidate{{addr: "a", lagging: true, failing: true}, {addr: "b", failing: true}}, []int{1, 0}},
	} {
		got := tryOrder(tc.cands)
		if len(got) != len(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
				break
			}
		}
	}
}

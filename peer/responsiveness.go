package peer

import (
	"slices"
	"sync"
	"time"
)

// DefaultQuietAfter is Config.QuietAfter's default: a peer that has left
// work unanswered this long is quiet. A few hundred milliseconds: far
// above a batch's round trip and fsync on a busy node, far below the
// replica timeout a request would otherwise wait out.
const DefaultQuietAfter = 300 * time.Millisecond

// latencyWindow is how many recent answers the latency figures cover.
const latencyWindow = 64

// responsiveness is what one peer's answers tell of it: the batches sent
// to it that await an answer, since when it has left work unanswered, and
// the latency of its recent answers. It is pure (the caller passes the
// time) and not safe for concurrent use (health is).
//
// The peer is quiet when it has left work unanswered for QuietAfter: some
// batch sent to it got no answer, and no answer came since. An answer ends
// it at once. A batch dropped without an answer (its stream was replaced
// because the peer stopped answering) keeps the peer quiet: it did not
// answer. Only reset, for a connection that broke (the peer is gone, its
// operations fail fast as unreachable), forgets it.
type responsiveness struct {
	outstanding map[uint64]time.Time // batch id -> when it was sent
	// unansweredSince is when work began to wait on the peer with no
	// answer since (zero: nothing waits).
	unansweredSince time.Time
	// droppedSince: a batch was dropped unanswered since the last answer.
	droppedSince bool
	lastAnswer   time.Time
	latencies    [latencyWindow]time.Duration
	nLatencies   int // samples in latencies (at most latencyWindow)
	nextLatency  int // where the next sample goes
}

func newResponsiveness() responsiveness {
	return responsiveness{outstanding: map[uint64]time.Time{}}
}

// sent notes batch id sent at at.
func (r *responsiveness) sent(id uint64, at time.Time) {
	r.outstanding[id] = at
	if r.unansweredSince.IsZero() {
		r.unansweredSince = at
	}
}

// answered notes the peer's answer to batch id at at (an unknown id still
// shows the peer answers).
func (r *responsiveness) answered(id uint64, at time.Time) {
	if sentAt, ok := r.outstanding[id]; ok {
		delete(r.outstanding, id)
		r.latencies[r.nextLatency] = max(0, at.Sub(sentAt))
		r.nextLatency = (r.nextLatency + 1) % latencyWindow
		r.nLatencies = min(r.nLatencies+1, latencyWindow)
	}
	r.lastAnswer = at
	r.unansweredSince, r.droppedSince = time.Time{}, false
	if len(r.outstanding) > 0 {
		// The peer answers: what it still owes is measured from now.
		r.unansweredSince = at
	}
}

// dropped notes batch id will get no answer (its stream was given up);
// the wait it stood for goes on.
func (r *responsiveness) dropped(id uint64) {
	if _, ok := r.outstanding[id]; ok {
		delete(r.outstanding, id)
		r.droppedSince = true
	}
}

// unsent takes back batch id: it never left (too large a frame), so it
// does not count as waiting.
func (r *responsiveness) unsent(id uint64) {
	delete(r.outstanding, id)
	if len(r.outstanding) == 0 && !r.droppedSince {
		r.unansweredSince = time.Time{}
	}
}

// reset forgets everything but the latencies: the connection broke, so
// nothing sent on it will be answered, and the peer's operations fail fast
// until a new one works.
func (r *responsiveness) reset() {
	clear(r.outstanding)
	r.unansweredSince, r.droppedSince = time.Time{}, false
}

// quiet reports the peer has left work unanswered for at least after.
func (r *responsiveness) quiet(now time.Time, after time.Duration) bool {
	return !r.unansweredSince.IsZero() && now.Sub(r.unansweredSince) >= after
}

// Health is what a peer's answers tell of it at one moment.
type Health struct {
	Quiet bool
	// Outstanding batches sent and not answered; Oldest is the age of the
	// oldest of them (0: none).
	Outstanding int
	Oldest      time.Duration
	// Unanswered is how long work has waited on the peer with no answer
	// since (0: nothing waits).
	Unanswered time.Duration
	// SinceAnswer is the time since the peer last answered (-1: never).
	SinceAnswer time.Duration
	// P50 and P99 are the latencies of the peer's recent answers (0: none
	// yet).
	P50, P99 time.Duration
}

// health sums r up at now.
func (r *responsiveness) health(now time.Time, after time.Duration) Health {
	h := Health{Quiet: r.quiet(now, after), Outstanding: len(r.outstanding), SinceAnswer: -1}
	for _, at := range r.outstanding {
		h.Oldest = max(h.Oldest, now.Sub(at))
	}
	if !r.unansweredSince.IsZero() {
		h.Unanswered = now.Sub(r.unansweredSince)
	}
	if !r.lastAnswer.IsZero() {
		h.SinceAnswer = now.Sub(r.lastAnswer)
	}
	if r.nLatencies > 0 {
		lat := slices.Clone(r.latencies[:r.nLatencies])
		slices.Sort(lat)
		h.P50 = lat[(r.nLatencies+1)/2-1]
		h.P99 = lat[(99*r.nLatencies+99)/100-1]
	}
	return h
}

// health is one peer's responsiveness behind a lock, with the time taken
// from now: the pipe's sender and receiver note what happens, the
// coordinator asks.
type health struct {
	now   func() time.Time
	after time.Duration

	mu sync.Mutex
	r  responsiveness
}

func newHealth(now func() time.Time, after time.Duration) *health {
	return &health{now: now, after: after, r: newResponsiveness()}
}

func (h *health) sent(id uint64) {
	h.mu.Lock()
	h.r.sent(id, h.now())
	h.mu.Unlock()
}

func (h *health) answered(id uint64) {
	h.mu.Lock()
	h.r.answered(id, h.now())
	h.mu.Unlock()
}

func (h *health) dropped(ids []uint64) {
	h.mu.Lock()
	for _, id := range ids {
		h.r.dropped(id)
	}
	h.mu.Unlock()
}

func (h *health) unsent(id uint64) {
	h.mu.Lock()
	h.r.unsent(id)
	h.mu.Unlock()
}

func (h *health) reset() {
	h.mu.Lock()
	h.r.reset()
	h.mu.Unlock()
}

func (h *health) quiet() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.r.quiet(h.now(), h.after)
}

func (h *health) snapshot() Health {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.r.health(h.now(), h.after)
}

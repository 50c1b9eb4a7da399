package client

import (
	"context"
	"sync"
	"time"
)

// health watches one endpoint for the client: it feeds the endpoint's
// tracker from the tries sent to it and from its stream's answers, ends
// tries that wait on it once it is quiet (GiveUpAfter), and health-checks
// it while it is quiet, so it is taken back as soon as it answers. A timer
// runs only while the endpoint has tries outstanding or is quiet.
type health struct {
	probe func(context.Context) bool // reports a SERVING answer
	now   func() time.Time

	mu      sync.Mutex
	t       tracker
	waiting map[*attempt]struct{} // tries to give up on when the endpoint goes quiet
	timer   *time.Timer
	closed  bool
	ctx     context.Context // ends on close (probes)
	cancel  context.CancelFunc
	probes  sync.WaitGroup
}

func newHealth(cfg Responsiveness, probe func(context.Context) bool) *health {
	ctx, cancel := context.WithCancel(context.Background())
	return &health{probe: probe, now: time.Now, t: tracker{cfg: cfg}, waiting: map[*attempt]struct{}{},
		ctx: ctx, cancel: cancel}
}

// tick is how often the timer looks at an active endpoint.
func (h *health) tick() time.Duration {
	return max(min(h.t.cfg.QuietAfter, h.t.cfg.ProbeEvery)/4, time.Millisecond)
}

// quiet reports whether new requests should avoid the endpoint.
func (h *health) quiet() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.t.isQuiet(h.now())
}

// hedgeDelay is how long a get waits on the endpoint before it is hedged.
func (h *health) hedgeDelay() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.t.hedgeDelay()
}

// sent records try a as outstanding on the endpoint.
func (h *health) sent(a *attempt) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.t.sent(a.start)
	if h.t.cfg.GiveUpAfter > 0 {
		h.waiting[a] = struct{}{}
	}
	h.armLocked()
}

// done records the end of try a (answered: the endpoint answered it).
func (h *health) done(a *attempt, answered bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.waiting, a)
	h.t.done(h.now(), a.start, answered, a.read)
}

// heard records an answer on the endpoint's stream.
func (h *health) heard() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.t.heard(h.now())
}

// armLocked starts the timer when the endpoint is active and it is not
// running.
func (h *health) armLocked() {
	if h.timer == nil && !h.closed && h.t.active() {
		h.timer = time.AfterFunc(h.tick(), h.check)
	}
}

// check runs on the timer: it gives up on the tries that waited
// GiveUpAfter on a quiet endpoint, probes it when a probe is due, and
// re-arms while the endpoint stays active.
func (h *health) check() {
	h.mu.Lock()
	h.timer = nil
	if h.closed {
		h.mu.Unlock()
		return
	}
	now := h.now()
	for a := range h.waiting {
		if h.t.giveUp(now, a.start) {
			delete(h.waiting, a)
			close(a.quiet)
		}
	}
	probe := h.t.probeDue(now)
	if probe {
		h.probes.Add(1)
	}
	h.armLocked()
	h.mu.Unlock()
	if probe {
		defer h.probes.Done()
		ctx, cancel := context.WithTimeout(h.ctx, h.t.cfg.ProbeEvery)
		ok := h.probe(ctx)
		cancel()
		if ok {
			h.heard()
		}
	}
}

// close stops the timer and waits for a probe in progress.
func (h *health) close() {
	h.mu.Lock()
	h.closed = true
	if h.timer != nil {
		h.timer.Stop()
		h.timer = nil
	}
	h.mu.Unlock()
	h.cancel()
	h.probes.Wait()
}

package client

import (
	"context"
	"sync"
	"time"
)

// health watches one endpoint for the client: it feeds the endpoint's
// tracker from what becomes of the operations its stream sends, ends
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

// lagging reports whether new requests should try other endpoints first.
func (h *health) lagging() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.t.lagging(h.now())
}

// hedgeDelay is how long a get waits on the endpoint before it is hedged.
func (h *health) hedgeDelay() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.t.hedgeDelay()
}

// waitOn registers try a, to be given up on once the endpoint is quiet.
func (h *health) waitOn(a *attempt) {
	if h.t.cfg.GiveUpAfter <= 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.waiting[a] = struct{}{}
	h.armLocked()
}

// stopWaiting forgets try a.
func (h *health) stopWaiting(a *attempt) {
	if h.t.cfg.GiveUpAfter <= 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.waiting, a)
}

// sentOps, answeredOps and lostOps feed the tracker from the endpoint's
// stream (observer).
func (h *health) sentOps(now time.Time, n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for range n {
		h.t.sent(now)
	}
	h.armLocked()
}

func (h *health) answeredOps(now time.Time, ops []*muxOp) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, o := range ops {
		h.t.done(now, o.sentAt, true, o.op.GetGet() != nil)
	}
	h.t.heard(now)
}

func (h *health) lostOps(now time.Time, ops []*muxOp) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, o := range ops {
		h.t.done(now, o.sentAt, false, false)
	}
}

// heard records a SERVING answer to a probe.
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

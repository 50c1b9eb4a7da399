package peer

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/vclock"
)

func TestResponsiveness(t *testing.T) {
	const after = 300 * time.Millisecond
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	type step struct {
		do        func(r *responsiveness)
		now       int // ms
		quiet     bool
		outstand  int
		oldestMs  int
		unansMs   int
		sinceAnsw int // ms, -1: never
	}
	steps := []struct {
		name string
		step
	}{
		{"idle peer is not quiet", step{do: func(*responsiveness) {}, now: 5000, sinceAnsw: -1}},
		{"a batch waits", step{do: func(r *responsiveness) { r.sent(1, at(0)) }, now: 299, outstand: 1, oldestMs: 299, unansMs: 299, sinceAnsw: -1}},
		{"quiet once it waited QuietAfter", step{do: func(r *responsiveness) { r.sent(2, at(200)) }, now: 300, quiet: true, outstand: 2, oldestMs: 300, unansMs: 300, sinceAnsw: -1}},
		{"an answer ends it; the rest is measured from the answer", step{do: func(r *responsiveness) { r.answered(2, at(400)) }, now: 600, outstand: 1, oldestMs: 600, unansMs: 200, sinceAnsw: 200}},
		{"still owing, quiet again", step{do: func(*responsiveness) {}, now: 700, quiet: true, outstand: 1, oldestMs: 700, unansMs: 300, sinceAnsw: 300}},
		{"a batch given up keeps it quiet", step{do: func(r *responsiveness) { r.dropped(1) }, now: 800, quiet: true, unansMs: 400, sinceAnsw: 400}},
		{"and so does a new batch that waits", step{do: func(r *responsiveness) { r.sent(3, at(900)) }, now: 950, quiet: true, outstand: 1, oldestMs: 50, unansMs: 550, sinceAnsw: 550}},
		{"its answer takes it back at once", step{do: func(r *responsiveness) { r.answered(3, at(960)) }, now: 5000, sinceAnsw: 4040}},
		{"a batch that never left does not count", step{do: func(r *responsiveness) { r.sent(4, at(6000)); r.unsent(4) }, now: 7000, sinceAnsw: 6040}},
		{"a broken connection forgets what was sent on it", step{do: func(r *responsiveness) { r.sent(5, at(8000)); r.reset() }, now: 9000, sinceAnsw: 8040}},
	}
	r := newResponsiveness()
	for _, s := range steps {
		s.do(&r)
		h := r.health(at(s.now), after)
		want := Health{Quiet: s.quiet, Outstanding: s.outstand, Oldest: time.Duration(s.oldestMs) * time.Millisecond,
			Unanswered: time.Duration(s.unansMs) * time.Millisecond, SinceAnswer: time.Duration(s.sinceAnsw) * time.Millisecond}
		if s.sinceAnsw < 0 {
			want.SinceAnswer = -1
		}
		h.P50, h.P99 = 0, 0
		if h != want {
			t.Fatalf("%s: got %+v, want %+v", s.name, h, want)
		}
	}
}

func TestResponsivenessLatencies(t *testing.T) {
	r := newResponsiveness()
	t0 := time.Unix(1000, 0)
	for i := range 100 { // latencies 1..100 ms; the window keeps the last 64 (37..100)
		r.sent(uint64(i), t0)
		r.answered(uint64(i), t0.Add(time.Duration(i+1)*time.Millisecond))
	}
	h := r.health(t0, time.Second)
	if h.P50 != 68*time.Millisecond || h.P99 != 100*time.Millisecond {
		t.Fatalf("p50 %v p99 %v", h.P50, h.P99)
	}
}

// manualClock is a clock the test moves.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestPipeQuiet: a peer that leaves a batch unanswered for QuietAfter is
// quiet; its answer takes it back at once.
func TestPipeQuiet(t *testing.T) {
	peer := newFakePeer(t)
	clk := &manualClock{t: time.Unix(1000, 0)}
	cfg := DefaultConfig("n1", func(string) (string, bool) { return peer.l.Addr().String(), true })
	cfg.Now = clk.now
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if tr.Quiet("n2") {
		t.Fatal("a peer never sent anything is quiet")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	tr.ApplyAsync(ctx, "n2", []byte("k"), vclock.Clock{}, func(err error) { done <- err })
	req := peer.next(t) // sent, and now unanswered
	clk.add(DefaultQuietAfter - time.Millisecond)
	if tr.Quiet("n2") {
		t.Fatal("quiet before QuietAfter")
	}
	clk.add(time.Millisecond)
	if !tr.Quiet("n2") {
		h, _ := tr.Health("n2")
		t.Fatalf("not quiet after QuietAfter: %+v", h)
	}
	pc := <-peer.conn
	if err := pc.Send(&api.PipeResponse{Id: req.GetId(), Errors: []string{""}}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if tr.Quiet("n2") {
		t.Fatal("still quiet after the peer answered")
	}
	if h, ok := tr.Health("n2"); !ok || h.Outstanding != 0 || h.P50 != DefaultQuietAfter {
		t.Fatalf("health after the answer: %+v %v", h, ok)
	}
}

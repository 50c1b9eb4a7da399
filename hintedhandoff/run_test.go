package hintedhandoff

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestRunDeliversAndStops: Run replays on its ticker until ctx ends, then
// returns (goleak in TestMain checks nothing is left behind).
func TestRunDeliversAndStops(t *testing.T) {
	e := newEnv("a")
	e.snd.notify = make(chan string, 16)
	s := e.open(t, func(c *Config) { c.Interval = time.Millisecond })
	mustAdd(t, s, "a", "a0")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()

	waitFor(t, e.snd.notify, "first delivery")
	// Added after a0 was acknowledged, so a1 is not in the round that
	// delivered a0: it proves a later tick replays again.
	mustAdd(t, s, "a", "a1")
	waitFor(t, e.snd.notify, "delivery on a later tick")
	cancel()
	waitFor(t, done, "Run to return")

	if got := e.snd.keys("a"); !slices.Equal(got, []string{"a0", "a1"}) {
		t.Fatalf("delivered %v", got)
	}
	if s.Pending() != 0 {
		t.Fatalf("Pending = %d", s.Pending())
	}
}

// TestRunPicksUpTargetThatComesBack: a dead target is skipped by Run until
// Liveness says it is alive.
func TestRunPicksUpTargetThatComesBack(t *testing.T) {
	e := newEnv() // a is dead
	e.snd.notify = make(chan string, 16)
	probed := make(chan struct{}, 1)
	s := e.open(t, func(c *Config) {
		c.Interval = time.Millisecond
		c.Liveness = livenessFunc(func(n string) bool {
			select {
			case probed <- struct{}{}:
			default:
			}
			return e.live.Alive(n)
		})
	})
	mustAdd(t, s, "a", "a0")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()

	waitFor(t, probed, "a liveness probe") // Run looked and skipped a
	if e.snd.attemptsFor("a") != 0 {
		t.Fatalf("dead target tried")
	}
	e.live.set("a", true)
	if got := waitFor(t, e.snd.notify, "delivery after a came back"); got != "a" {
		t.Fatalf("delivered to %q", got)
	}
	cancel()
	waitFor(t, done, "Run to return")
}

// TestRunStopsWhileSendBlocked: cancelling ctx ends an in-flight Apply and
// Run returns.
func TestRunStopsWhileSendBlocked(t *testing.T) {
	e := newEnv("a")
	s := e.open(t, func(c *Config) { c.Interval = time.Millisecond; c.SendTimeout = time.Hour })
	mustAdd(t, s, "a", "a0")
	e.snd.setBlock("a", true)
	inApply := make(chan struct{}, 1)
	e.snd.onApply = func(context.Context, string, []byte) {
		select {
		case inApply <- struct{}{}:
		default:
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	waitFor(t, inApply, "Apply to start")
	cancel()
	waitFor(t, done, "Run to return")
	if s.Pending() != 1 || e.kv.Len() != 1 {
		t.Fatalf("an unacknowledged hint was dropped: Pending=%d KV=%d", s.Pending(), e.kv.Len())
	}
}

func TestRunCancelledBeforeStart(t *testing.T) {
	e := newEnv("a")
	s := e.open(t, func(c *Config) { c.Interval = time.Hour })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	waitFor(t, done, "Run to return")
}

type livenessFunc func(string) bool

func (f livenessFunc) Alive(n string) bool { return f(n) }

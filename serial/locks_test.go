package serial

import (
	"context"
	"errors"
	"testing"
	"time"
)

func newTestLocks(t *testing.T) (*Locks, *fakeClock) {
	t.Helper()
	mono := &fakeClock{now: time.Unix(1000, 0)}
	p, _, _ := newTestProposer(t, func(c *Config) { c.Mono = mono; c.Rho = 0.01 })
	return NewLocks(p), mono
}

// A contender takes a lock over only after its node saw the same grant
// unchanged for ttl·(1+ρ) on its own monotonic clock; a renewal seen
// meanwhile restarts the wait.
func TestLockTakeoverWaitsTTLTimesOnePlusRhoOfUnchangedGrant(t *testing.T) {
	l, mono := newTestLocks(t)
	ctx := context.Background()
	ttl := time.Second
	need := 1010 * time.Millisecond // ttl·(1+ρ)

	a, err := l.Acquire(ctx, "job", "A", ttl, 0, nil)
	if err != nil || !a.Acquired || a.Lock.Token != 1 {
		t.Fatalf("A acquires: %+v, %v", a, err)
	}
	b, err := l.Acquire(ctx, "job", "B", ttl, 0, nil)
	if err != nil || b.Acquired || b.Lock.Holder != "A" || b.RetryAfter != need {
		t.Fatalf("B while A holds: %+v, %v: want refused, retry after %v", b, err, need)
	}
	mono.advance(600 * time.Millisecond)
	if b, _ = l.Acquire(ctx, "job", "B", ttl, 0, nil); b.Acquired || b.RetryAfter != need-600*time.Millisecond {
		t.Fatalf("B at 600ms: %+v: want refused, retry after %v", b, need-600*time.Millisecond)
	}
	// A renews: the grant B's node sees changed, so its wait starts over.
	if r, err := l.Renew(ctx, "job", a.Lock.Token, nil); err != nil || !r.Acquired || r.Lock.Renewals != 1 {
		t.Fatalf("A renews: %+v, %v", r, err)
	}
	mono.advance(600 * time.Millisecond)
	if b, _ = l.Acquire(ctx, "job", "B", ttl, 0, nil); b.Acquired || b.RetryAfter != need {
		t.Fatalf("B after the renewal: %+v: want refused, the full wait again", b)
	}
	mono.advance(need - time.Millisecond)
	if b, _ = l.Acquire(ctx, "job", "B", ttl, 0, nil); b.Acquired || b.RetryAfter != time.Millisecond {
		t.Fatalf("B 1ms short: %+v: want refused, retry after 1ms", b)
	}
	mono.advance(time.Millisecond)
	b, err = l.Acquire(ctx, "job", "B", ttl, 0, nil)
	if err != nil || !b.Acquired || b.Lock.Holder != "B" || b.Lock.Token != 2 {
		t.Fatalf("B after ttl·(1+ρ) unchanged: %+v, %v: want granted with token 2", b, err)
	}
	// A's grant is gone: its renew and release answer definitely false.
	if r, err := l.Renew(ctx, "job", a.Lock.Token, nil); err != nil || r.Acquired {
		t.Fatalf("A renews after the takeover: %+v, %v: want lost", r, err)
	}
	if r, err := l.Release(ctx, "job", a.Lock.Token, nil); err != nil || r.Acquired {
		t.Fatalf("A releases after the takeover: %+v, %v: want not holder", r, err)
	}
	if l.Observed() != 0 {
		t.Errorf("%d observations kept after the takeover", l.Observed())
	}
}

func TestLockTokensIncreaseAcrossReleases(t *testing.T) {
	l, _ := newTestLocks(t)
	ctx := context.Background()
	var last uint64
	for i := range 5 {
		g, err := l.Acquire(ctx, "l", "h", time.Second, 0, nil)
		if err != nil || !g.Acquired || g.Lock.Token <= last {
			t.Fatalf("acquire %d: %+v, %v: want a token above %d", i, g, err, last)
		}
		last = g.Lock.Token
		if r, err := l.Release(ctx, "l", g.Lock.Token, nil); err != nil || !r.Acquired || r.Lock.Held {
			t.Fatalf("release %d: %+v, %v", i, r, err)
		}
	}
	d, err := l.Describe(ctx, "l")
	if err != nil || d.Lock.Held || d.Lock.Token != last {
		t.Fatalf("describe: %+v, %v: want free, last token %d", d, err, last)
	}
}

// A retried Acquire (same op id) after its grant answers the same grant.
func TestLockAcquireRetryIsIdempotent(t *testing.T) {
	l, _ := newTestLocks(t)
	ctx := context.Background()
	id := []byte("attempt-1")
	g1, err := l.Acquire(ctx, "l", "h", time.Second, 0, id)
	if err != nil || !g1.Acquired {
		t.Fatal(g1, err)
	}
	g2, err := l.Acquire(ctx, "l", "h", time.Second, 0, id)
	if err != nil || !g2.Acquired || g2.Lock.Token != g1.Lock.Token {
		t.Fatalf("retry: %+v, %v: want the same grant (token %d)", g2, err, g1.Lock.Token)
	}
}

// With a wait, Acquire keeps polling while the holder keeps the lock and
// is granted once it is released.
func TestLockAcquireWaitsForARelease(t *testing.T) {
	p, _, _ := newTestProposer(t, func(c *Config) { c.LockPollFloor = time.Millisecond })
	l := NewLocks(p)
	ctx := context.Background()
	a, err := l.Acquire(ctx, "l", "A", 40*time.Millisecond, 0, nil)
	if err != nil || !a.Acquired {
		t.Fatal(a, err)
	}
	released := make(chan error, 1)
	go func() {
		// B has been refused once (it observes A's grant): release.
		for l.Observed() == 0 {
			time.Sleep(time.Millisecond)
		}
		_, err := l.Release(ctx, "l", a.Lock.Token, nil)
		released <- err
	}()
	b, err := l.Acquire(ctx, "l", "B", time.Second, 5*time.Second, nil)
	if err != nil || !b.Acquired || b.Lock.Token != 2 {
		t.Fatalf("B waiting: %+v, %v: want granted token 2", b, err)
	}
	if err := <-released; err != nil {
		t.Fatal(err)
	}
}

func TestLockRequestsValidate(t *testing.T) {
	l, _ := newTestLocks(t)
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"empty name":   func() error { _, err := l.Acquire(ctx, "", "h", time.Second, 0, nil); return err },
		"empty holder": func() error { _, err := l.Acquire(ctx, "l", "", time.Second, 0, nil); return err },
		"zero ttl":     func() error { _, err := l.Acquire(ctx, "l", "h", 0, 0, nil); return err },
		"renew":        func() error { _, err := l.Renew(ctx, "", 1, nil); return err },
	} {
		if err := call(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

func TestObservationsAreBounded(t *testing.T) {
	o := newObservations(2)
	t0 := time.Unix(0, 0)
	o.see("a", 1, 0, t0)
	o.see("b", 1, 0, t0)
	o.see("c", 1, 0, t0)
	if o.len() != 2 {
		t.Fatalf("%d observations, want 2", o.len())
	}
	// a was evicted: it is seen afresh.
	if first := o.see("a", 1, 0, t0.Add(time.Second)); !first.Equal(t0.Add(time.Second)) {
		t.Errorf("evicted lock first seen %v, want now", first)
	}
	if first := o.see("c", 1, 0, t0.Add(2*time.Second)); !first.Equal(t0) {
		t.Errorf("kept lock first seen %v, want %v", first, t0)
	}
}

package deadline

import (
	"context"
	"testing"
	"time"
)

// TestSharedRoundsUpAndShares: deadlines round up to the next slice; calls
// in the same slice share a context, calls in another slice do not; a
// cancelled parent ends them.
func TestSharedRoundsUpAndShares(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	s := NewShared(parent, 10*time.Millisecond, time.Minute)
	now := time.Unix(100, 3_000_000) // 100.003 s
	s.now = func() time.Time { return now }
	a, _ := s.WithTimeout(time.Second)
	if dl, _ := a.Deadline(); !dl.Equal(time.Unix(101, 10_000_000)) {
		t.Fatalf("deadline %v, want 101.010", dl)
	}
	now = now.Add(5 * time.Millisecond) // 100.008: same slice
	if b, _ := s.WithTimeout(time.Second); b != a {
		t.Fatal("a call in the same slice got another context")
	}
	now = now.Add(5 * time.Millisecond) // 100.013: next slice
	c, _ := s.WithTimeout(time.Second)
	if c == a {
		t.Fatal("a call in the next slice shared the context")
	}
	if dl, _ := c.Deadline(); !dl.Equal(time.Unix(101, 20_000_000)) {
		t.Fatalf("deadline %v, want 101.020", dl)
	}
	// An earlier deadline than the latest one handed out, or a timeout
	// over the bound: a context of its own, freed by its cancel.
	for _, d := range []time.Duration{time.Millisecond, 2 * time.Minute} {
		own, stop := s.WithTimeout(d)
		if own == c {
			t.Fatalf("timeout %v shared the latest context", d)
		}
		stop()
		if own.Err() == nil {
			t.Fatalf("timeout %v: cancel did not end its own context", d)
		}
	}
	if again, _ := s.WithTimeout(time.Second); again != c {
		t.Fatal("the latest shared context was replaced by an earlier deadline")
	}
	cancel()
	for _, ctx := range []context.Context{a, c} {
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("a shared context outlived its parent")
		}
	}
}

// TestSharedEndsAtDeadline: a shared context ends by itself.
func TestSharedEndsAtDeadline(t *testing.T) {
	s := NewShared(context.Background(), time.Millisecond, time.Minute)
	ctx, _ := s.WithTimeout(time.Millisecond)
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("shared context never ended")
	}
	if ctx.Err() != context.DeadlineExceeded {
		t.Fatalf("err %v", ctx.Err())
	}
}

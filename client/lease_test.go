package client

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/quorumkv/quorumkv/api"
)

// The lease tests run a lock of ttl 3 s (validity 2.96 s at ρ = 1 % and a
// 10 ms margin, renewals every second) on a fake clock: time moves only in
// Advance, and each step waits (polling) for what the lease does in
// response, never for time to pass.
const leaseTTL = 3 * time.Second

// lockFake grants lock "L" (token 7, ttl 3 s) and answers renewals with
// renew (a renewal when nil).
func lockFake(t *testing.T, renew func() (proto.Message, error)) *serialFake {
	f := startSerialFake(t, &serialFake{}, nil)
	f.setHandle(func(method string, _ proto.Message) (proto.Message, error) {
		if method == "Renew" && renew != nil {
			return renew()
		}
		return &api.LockResponse{Name: "L", Acquired: true, Held: true, Token: 7, TtlMs: 3000, HeldBy: "me"}, nil
	})
	return f
}

func acquire(t *testing.T, c *Client) *Lease {
	t.Helper()
	l, err := c.Acquire(testCtx(t), "L", "me", leaseTTL)
	if err != nil {
		t.Fatal(err)
	}
	if l.Name() != "L" || l.Token() != 7 || l.TTL() != leaseTTL {
		t.Fatalf("lease %s token %d ttl %v", l.Name(), l.Token(), l.TTL())
	}
	return l
}

// renewed waits until the lease has been renewed n times in all and the
// last renewal's answer is in (validity, or the lease's end).
func renewed(t *testing.T, f *serialFake, l *Lease, n int, until time.Time) {
	t.Helper()
	eventually(t, "renewal "+itoa(n), func() bool {
		return f.count("Renew") >= n && (l.validUntilNow().Equal(until) || l.Context().Err() != nil)
	})
}

func live(t *testing.T, l *Lease) {
	t.Helper()
	if err := l.Context().Err(); err != nil {
		t.Fatalf("the lease ended: %v (%v)", err, context.Cause(l.Context()))
	}
}

// TestLeaseRenewsItself: renewals every ttl/3 each extend the validity to
// their send time + ttl·(1−ρ) − margin, so the lease outlives its first
// validity; Release stops them and releases the lock.
func TestLeaseRenewsItself(t *testing.T) {
	clk := newFakeClock()
	f := lockFake(t, nil)
	c := serialClient(t, clk, f)
	t0 := clk.Now()
	l := acquire(t, c)
	if !l.validUntilNow().Equal(t0.Add(2960 * time.Millisecond)) {
		t.Fatalf("valid until %v after t0, want 2.96s", l.validUntilNow().Sub(t0))
	}
	for i := 1; i <= 4; i++ {
		eventually(t, "the renewal timer", func() bool { return clk.pending() == 2 }) // expiry and renewal
		clk.Advance(time.Second)
		renewed(t, f, l, i, t0.Add(time.Duration(i)*time.Second+2960*time.Millisecond))
		live(t, l)
	}
	if err := l.Release(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(context.Cause(l.Context()), context.Canceled) {
		t.Fatalf("after Release: cause %v", context.Cause(l.Context()))
	}
	if f.count("Release") != 1 || f.count("Renew") != 4 {
		t.Fatalf("%d releases, %d renewals", f.count("Release"), f.count("Renew"))
	}
	if err := l.Release(testCtx(t)); err != nil || f.count("Release") != 1 {
		t.Fatalf("second Release: %v, %d releases sent", err, f.count("Release"))
	}
	clk.Advance(time.Minute)
	if f.count("Renew") != 4 || clk.pending() != 0 {
		t.Fatalf("after Release: %d renewals, %d timers", f.count("Renew"), clk.pending())
	}
}

// TestLeaseExpiresWithoutRenewal: renewals that fail without a verdict (no
// quorum, unknown outcome) do not extend the validity, and the lease's
// Context ends exactly at send + ttl·(1−ρ) − margin of the last grant.
func TestLeaseExpiresWithoutRenewal(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"no quorum", reasonErr(codes.Unavailable, api.ReasonQuorumUnavailable, "required", "2", "acknowledged", "1")},
		{"unknown outcome", reasonErr(codes.Unavailable, api.ReasonOutcomeUnknown)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			f := lockFake(t, func() (proto.Message, error) { return nil, tc.err })
			c := serialClient(t, clk, f)
			t0 := clk.Now()
			l := acquire(t, c)
			want := t0.Add(2960 * time.Millisecond)
			for i := 1; i <= 2; i++ {
				eventually(t, "the renewal timer", func() bool { return clk.pending() == 2 })
				clk.Advance(time.Second)
				eventually(t, "a failed renewal", func() bool { return f.count("Renew") >= i })
				live(t, l)
			}
			eventually(t, "the renewal timer", func() bool { return clk.pending() == 2 })
			clk.Advance(want.Sub(clk.Now()) - time.Millisecond)
			live(t, l)
			if !l.validUntilNow().Equal(want) {
				t.Fatalf("validity moved to %v after t0", l.validUntilNow().Sub(t0))
			}
			clk.Advance(time.Millisecond)
			if !errors.Is(context.Cause(l.Context()), ErrLeaseExpired) {
				t.Fatalf("at the end of validity: %v, cause %v", l.Context().Err(), context.Cause(l.Context()))
			}
			eventually(t, "the renewal goroutine's exit", func() bool {
				select {
				case <-l.done:
					return true
				default:
					return false
				}
			})
		})
	}
}

// TestLeaseLost: a renewal that answers that the token no longer holds the
// lock ends the lease at once (cause ErrLockLost) and stops renewing;
// Release then reports ErrLockLost.
func TestLeaseLost(t *testing.T) {
	clk := newFakeClock()
	var lost atomic.Bool
	f := lockFake(t, nil)
	f.setHandle(func(method string, _ proto.Message) (proto.Message, error) {
		if method != "Acquire" && lost.Load() {
			return &api.LockResponse{Name: "L", Held: true, Token: 8, HeldBy: "other"}, nil
		}
		return &api.LockResponse{Name: "L", Acquired: true, Held: true, Token: 7, TtlMs: 3000, HeldBy: "me"}, nil
	})
	c := serialClient(t, clk, f)
	l := acquire(t, c)
	lost.Store(true)
	eventually(t, "the renewal timer", func() bool { return clk.pending() == 2 })
	clk.Advance(time.Second)
	select {
	case <-l.Context().Done():
	case <-testCtx(t).Done():
		t.Fatal("the lost lease's context is not done")
	}
	if !errors.Is(context.Cause(l.Context()), ErrLockLost) {
		t.Fatalf("cause %v, want ErrLockLost", context.Cause(l.Context()))
	}
	<-l.done
	if err := l.Release(testCtx(t)); !errors.Is(err, ErrLockLost) {
		t.Fatalf("Release of a lost lease: %v", err)
	}
	clk.Advance(time.Minute)
	if f.count("Renew") != 1 || clk.pending() != 0 {
		t.Fatalf("after loss: %d renewals, %d timers", f.count("Renew"), clk.pending())
	}
}

// TestLeaseStopsOnClose: closing the client stops its leases' renewals
// without releasing the locks.
func TestLeaseStopsOnClose(t *testing.T) {
	clk := newFakeClock()
	f := lockFake(t, nil)
	c := serialClient(t, clk, f)
	l := acquire(t, c)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(context.Cause(l.Context()), context.Canceled) {
		t.Fatalf("after Close: cause %v", context.Cause(l.Context()))
	}
	clk.Advance(time.Minute)
	if f.count("Renew") != 0 || f.count("Release") != 0 || clk.pending() != 0 {
		t.Fatalf("after Close: %d renewals, %d releases, %d timers", f.count("Renew"), f.count("Release"), clk.pending())
	}
}

// TestLeaseValidityFromSendTime: the validity counts from before the
// acquire was sent, so a grant whose answer came after its validity ended
// comes back already ended.
func TestLeaseValidityFromSendTime(t *testing.T) {
	clk := newFakeClock()
	f := startSerialFake(t, &serialFake{}, nil)
	f.setHandle(func(string, proto.Message) (proto.Message, error) {
		clk.Advance(3 * time.Second) // the answer takes longer than the validity
		return &api.LockResponse{Name: "L", Acquired: true, Held: true, Token: 7, TtlMs: 3000, HeldBy: "me"}, nil
	})
	c := serialClient(t, clk, f)
	l := acquire(t, c)
	select {
	case <-l.Context().Done():
	case <-testCtx(t).Done():
		t.Fatal("a grant answered after its validity is live")
	}
	if !errors.Is(context.Cause(l.Context()), ErrLeaseExpired) {
		t.Fatalf("cause %v", context.Cause(l.Context()))
	}
	<-l.done
	if f.count("Renew") != 0 {
		t.Fatalf("an ended lease was renewed")
	}
}

// TestAcquireRequest: Acquire sends the ttl and wait in milliseconds, and
// refuses bad ones before sending.
func TestAcquireRequest(t *testing.T) {
	f := lockFake(t, nil)
	c := serialClient(t, newFakeClock(), f)
	l, err := c.Acquire(testCtx(t), "L", "me", leaseTTL, WaitFor(1500*time.Millisecond), WithLockOpID([]byte("op")))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(testCtx(t))
	calls := f.received()
	req := calls[0].req.(*api.AcquireRequest)
	if req.GetName() != "L" || req.GetHolder() != "me" || req.GetTtlMs() != 3000 || req.GetWaitMs() != 1500 || calls[0].opID != "op" {
		t.Fatalf("acquire request %v", req)
	}
	for _, tc := range []struct {
		ttl  time.Duration
		opts []LockOption
	}{
		{0, nil},
		{time.Millisecond, nil},
		{time.Second, []LockOption{WaitFor(-time.Second)}},
		{time.Second, []LockOption{WithLockOpID(make([]byte, 40))}},
	} {
		if _, err := c.Acquire(testCtx(t), "L", "me", tc.ttl, tc.opts...); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("ttl %v: %v", tc.ttl, err)
		}
	}
	if n := f.count("Acquire"); n != 1 {
		t.Fatalf("%d acquires sent", n)
	}
}

// TestLeaseStuckRenewalGivesUp: a renewal that has no answer by the time
// the next is due gives up, and the next one is sent on schedule while the
// first still hangs (here it answers, so the lease lives on).
func TestLeaseStuckRenewalGivesUp(t *testing.T) {
	clk := newFakeClock()
	var renews atomic.Int32
	f := startSerialFake(t, &serialFake{}, nil)
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) }) // before the fake stops
	f.setHandle(func(method string, _ proto.Message) (proto.Message, error) {
		if method == "Renew" && renews.Add(1) == 1 {
			<-hang // the first renewal never answers
		}
		return &api.LockResponse{Name: "L", Acquired: true, Held: true, Token: 7, TtlMs: 300, HeldBy: "me"}, nil
	})
	c := serialClient(t, clk, f)
	t0 := clk.Now()
	l, err := c.Acquire(testCtx(t), "L", "me", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		eventually(t, "the renewal timer", func() bool { return clk.pending() == 2 })
		clk.Advance(100 * time.Millisecond)
	}
	want := t0.Add(200*time.Millisecond + 287*time.Millisecond)
	eventually(t, "the second renewal", func() bool { return renews.Load() == 2 && l.validUntilNow().Equal(want) })
	live(t, l)
}

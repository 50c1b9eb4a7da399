package node_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/node"
	"github.com/quorumkv/quorumkv/node/nodetest"
)

// TestR12ClockRateAndWallStep is regression R12 of CASPAXOS.md §4.3 (the
// rule of §3.4, "TTL without trusting clocks"): with every monotonic clock
// within [1−ρ, 1+ρ] of real time and no clock synchronised, a holder's
// validity window and a contender's grant never overlap, and stepping the
// wall clock changes nothing.
//
// Time is virtual: the test's real time stands still except when the test
// advances it, 1 ms at a time. The holder's lease clock (the client's
// LeaseConfig.Clock) and every node's monotonic clock (Config.Mono, what a
// node measures lock observations on) run at a rate of that real time the
// case sets. The holder acquires the lock (ttl 600 ms) through the real
// client and then stalls: its renewals never reach a node. At the instant
// of the grant, and after every step, a contender asks another node for
// the lock. The test records, in real time, when the holder's
// lease.Context() ends (ErrLeaseExpired) and when the contender is granted,
// and requires the grant strictly after the end of the holder's validity.
// Because real time does not move during a request, the holder's send time
// and the grant's commit are the same instant and the contender observes
// the grant at that instant too: the tightest case of §3.4's argument.
//
// The worst case is the holder's clock SLOW (1−ρ) and the observer's FAST
// (1+ρ): the holder counts ttl·(1−ρ) − margin on a clock at 1−ρ, so it
// believes itself valid for ttl − margin/(1−ρ) of real time, the longest any
// allowed rate gives; the observer counts ttl·(1+ρ) on a clock at 1+ρ, so it
// takes over after exactly ttl, the soonest. The margin (10 ms) is all that
// separates them. §4.3's wording, holder +ρ and observer −ρ, is the
// opposite, most comfortable case (validity ends at ttl·(1−ρ)/(1+ρ) −
// margin, the grant comes at ttl·(1+ρ)/(1−ρ)); both are run, with true
// rates in between. Rates beyond the bound (1∓4ρ) are the checker's
// negative control: there the grant does come inside the holder's validity
// (§6 C4: overlaps may appear; fencing, R11, is what protects the data).
//
// Then, in the worst case, every node's wall clock (Config.Clock, which
// ballots are made from; it carries no monotonic reading, so a step shows in
// anything computed from it) steps by +1 h, and in another run by −1 h,
// halfway through the hold: the holder's expiry and the contender's grant
// land on exactly the same instants as without the step, so a step neither
// hands the lock over early nor ends the holder's validity early. (The
// host's own clock cannot be stepped from a test: time.Now keeps its
// monotonic reading, which the default clocks measure with.)
func TestR12ClockRateAndWallStep(t *testing.T) {
	const (
		rho    = 0.01 // the nodes' ρ (serial.DefaultRho) and the lease's
		margin = 10 * time.Millisecond
		ttl    = 600 * time.Millisecond
		step   = time.Millisecond
	)
	vt := &r12Time{}
	var wallOffset, steppedReads atomic.Int64
	var nodeClocks []*r12Clock
	c := nodetest.Start(t, 3, nodetest.Options{Tune: func(cfg *node.Config) {
		cfg.Clock = r12Wall{offset: &wallOffset, steppedReads: &steppedReads}
		mono := vt.newClock(time.Unix(int64(1000*(len(nodeClocks)+1)), 0))
		nodeClocks = append(nodeClocks, mono)
		cfg.Mono = mono
	}})
	ctx := ctxT(t)

	holderClock := vt.newClock(time.Unix(500, 0))
	var stalled atomic.Int64
	lease := client.DefaultLeaseConfig()
	lease.Rho, lease.Margin, lease.Clock = rho, margin, holderClock
	// The holder's renewals never reach a node: its requests travel the
	// gRPC stream, whose sends of a renewal fail as a lost connection does.
	holder, err := client.New([]string{c.Node("n1").Addr()}, client.WithoutRouting(), client.WithLeaseConfig(lease),
		client.WithGRPCStream(), client.WithDialOptions(grpc.WithChainStreamInterceptor(func(ctx context.Context,
			desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			s, err := streamer(ctx, desc, cc, method, opts...)
			if err != nil || method != api.KV_Stream_FullMethodName {
				return s, err
			}
			return stallRenewals{ClientStream: s, stalled: &stalled}, nil
		})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Close() })
	contender := c.Locks("n2")

	type outcome struct{ expired, granted time.Duration } // real time after the grant
	worst := map[bool]outcome{}                           // by whether the wall clock stepped
	for i, tc := range []struct {
		name             string
		holder, observer float64       // clock rates
		wallStep         time.Duration // at ttl/2 into the hold, on every node
		overlap          bool          // beyond the rate bound: an overlap is expected
	}{
		{name: "worst case: holder slow, observer fast", holder: 1 - rho, observer: 1 + rho},
		{name: "holder fast, observer slow", holder: 1 + rho, observer: 1 - rho},
		{name: "true rates", holder: 1, observer: 1},
		{name: "negative control: rates beyond the bound", holder: 1 - 4*rho, observer: 1 + 4*rho, overlap: true},
		{name: "worst case, wall clock +1h", holder: 1 - rho, observer: 1 + rho, wallStep: time.Hour},
		{name: "worst case, wall clock -1h", holder: 1 - rho, observer: 1 + rho, wallStep: -time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wallOffset.Store(0)
			steppedReads.Store(0)
			holderClock.setRate(tc.holder)
			for _, m := range nodeClocks {
				m.setRate(tc.observer)
			}
			name := fmt.Sprintf("r12-%d", i)
			l, err := holder.Acquire(ctx, name, "holder", ttl)
			if err != nil {
				t.Fatalf("the holder's acquire: %v", err)
			}
			t0 := vt.elapsed()
			steps := 0
			// poll asks for the lock for the contender once at this instant
			// (a failed request is asked again with its op id: the same
			// instant, the same grant).
			poll := func() bool {
				id := []byte(fmt.Sprintf("contender-%d-%d", i, steps))
				for try := 0; ; try++ {
					rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
					r, err := contender.Acquire(rctx, &api.AcquireRequest{Name: name, Holder: "contender", TtlMs: uint32(ttl.Milliseconds()), OpId: id})
					cancel()
					switch {
					case err == nil && r.GetAcquired():
						return true
					case err == nil && r.GetHeldBy() == "holder":
						return false
					case err == nil:
						t.Fatalf("contender refused with the lock held by %q", r.GetHeldBy())
					case try == 10:
						t.Fatalf("contender's acquire at %v: %v", vt.elapsed()-t0, err)
					}
				}
			}
			if poll() {
				t.Fatal("the contender was granted the lock the holder was just granted")
			}
			expired, granted := time.Duration(-1), time.Duration(-1)
			for expired < 0 || granted < 0 {
				if steps++; time.Duration(steps)*step > 3*ttl {
					t.Fatalf("after %v: holder's validity ended at %v, contender granted at %v (-1: not yet)", 3*ttl, expired, granted)
				}
				if tc.wallStep != 0 && time.Duration(steps)*step == ttl/2 {
					wallOffset.Store(int64(tc.wallStep))
				}
				vt.advance(step) // runs the holder's expiry when it is due
				now := vt.elapsed() - t0
				if expired < 0 && l.Context().Err() != nil {
					expired = now
					if cause := context.Cause(l.Context()); !errors.Is(cause, client.ErrLeaseExpired) {
						t.Fatalf("the holder's lease ended at %v with %v, want ErrLeaseExpired", now, cause)
					}
				}
				if granted < 0 && poll() {
					granted = now
				}
			}
			if stalled.Load() == 0 {
				t.Fatal("the holder never tried to renew")
			}
			// The ideal instants: the holder's validity, ttl·(1−ρ) − margin on
			// its clock, and the observer's wait, ttl·(1+ρ) on its own.
			wantExpired := time.Duration(float64(time.Duration(float64(ttl)*(1-rho))-margin) / tc.holder)
			wantGranted := time.Duration(float64(ttl) * (1 + rho) / tc.observer)
			t.Logf("holder's validity ended at %v (ideal %v), contender granted at %v (ideal %v): gap %v",
				expired, wantExpired, granted, wantGranted, granted-expired)
			for what, got := range map[string][2]time.Duration{"validity end": {expired, wantExpired}, "grant": {granted, wantGranted}} {
				if got[0] < got[1]-step || got[0] > got[1]+2*step {
					t.Errorf("%s at %v, want within a step of %v", what, got[0], got[1])
				}
			}
			switch {
			case tc.overlap && granted >= expired:
				t.Errorf("rates beyond the bound: granted at %v, after the validity end at %v: want an overlap (the checker sees none)", granted, expired)
			case !tc.overlap && granted <= expired:
				t.Errorf("OVERLAP: the contender was granted at %v, the holder valid until %v", granted, expired)
			}
			if tc.wallStep != 0 && steppedReads.Load() == 0 {
				t.Errorf("no node read its wall clock after the %v step", tc.wallStep)
			}
			if tc.holder == 1-rho && tc.observer == 1+rho {
				worst[tc.wallStep != 0] = outcome{expired, granted}
				if w, ok := worst[false]; ok && tc.wallStep != 0 && w != (outcome{expired, granted}) {
					t.Errorf("a wall-clock step of %v moved the holder's expiry and the grant to %v and %v, from %v and %v",
						tc.wallStep, expired, granted, w.expired, w.granted)
				}
			}
		})
	}
}

// r12Time is the test's real time: it stands still except in advance, so
// every instant the test records is exact and the same on every run.
type r12Time struct {
	mu     sync.Mutex
	now    time.Duration
	clocks []*r12Clock
}

// r12Clock is a monotonic clock running at rate × the test's real time: a
// node's Config.Mono (clock.Clock) or the holder's lease clock
// (client.MonoClock). Its timers fire in advance, in its goroutine.
type r12Clock struct {
	vt     *r12Time
	origin time.Time     // the reading at real time since
	since  time.Duration // when the rate last changed
	rate   float64
	timers map[*r12Timer]struct{}
}

type r12Timer struct {
	at time.Time
	f  func()
}

func (vt *r12Time) newClock(origin time.Time) *r12Clock {
	vt.mu.Lock()
	defer vt.mu.Unlock()
	c := &r12Clock{vt: vt, origin: origin, since: vt.now, rate: 1, timers: map[*r12Timer]struct{}{}}
	vt.clocks = append(vt.clocks, c)
	return c
}

func (vt *r12Time) elapsed() time.Duration {
	vt.mu.Lock()
	defer vt.mu.Unlock()
	return vt.now
}

// advance moves real time on by d and runs, in order, every timer that is
// then due.
func (vt *r12Time) advance(d time.Duration) {
	vt.mu.Lock()
	vt.now += d
	var due []*r12Timer
	for _, c := range vt.clocks {
		now := c.readLocked()
		for tm := range c.timers {
			if !tm.at.After(now) {
				due = append(due, tm)
				delete(c.timers, tm)
			}
		}
	}
	vt.mu.Unlock()
	slices.SortFunc(due, func(a, b *r12Timer) int { return a.at.Compare(b.at) })
	for _, tm := range due {
		tm.f()
	}
}

func (c *r12Clock) readLocked() time.Time {
	return c.origin.Add(time.Duration(float64(c.vt.now-c.since) * c.rate))
}

// Now reads the clock.
func (c *r12Clock) Now() time.Time {
	c.vt.mu.Lock()
	defer c.vt.mu.Unlock()
	return c.readLocked()
}

// AfterFunc runs f once the clock has moved on by d.
func (c *r12Clock) AfterFunc(d time.Duration, f func()) func() bool {
	if d <= 0 {
		go f()
		return func() bool { return false }
	}
	c.vt.mu.Lock()
	defer c.vt.mu.Unlock()
	tm := &r12Timer{at: c.readLocked().Add(d), f: f}
	c.timers[tm] = struct{}{}
	return func() bool {
		c.vt.mu.Lock()
		defer c.vt.mu.Unlock()
		_, pending := c.timers[tm]
		delete(c.timers, tm)
		return pending
	}
}

// setRate makes the clock run at rate from now on.
func (c *r12Clock) setRate(rate float64) {
	c.vt.mu.Lock()
	defer c.vt.mu.Unlock()
	c.origin, c.since, c.rate = c.readLocked(), c.vt.now, rate
}

// r12Wall is a node's wall clock: the host's, stepped by offset, with no
// monotonic reading, so that a step shows in every duration taken from it.
// steppedReads counts the readings taken while it is stepped (ballots,
// for one, are made from them).
type r12Wall struct{ offset, steppedReads *atomic.Int64 }

func (w r12Wall) Now() time.Time {
	off := time.Duration(w.offset.Load())
	if off != 0 {
		w.steppedReads.Add(1)
	}
	return time.Now().Round(0).Add(off)
}

// stallRenewals fails the send of any request carrying a lock renewal.
type stallRenewals struct {
	grpc.ClientStream
	stalled *atomic.Int64
}

func (s stallRenewals) SendMsg(m any) error {
	if req, ok := m.(*api.StreamRequest); ok {
		for _, op := range req.GetOps() {
			if op.GetRenew() != nil {
				s.stalled.Add(1)
				return status.Error(codes.Unavailable, "r12: the holder is stalled")
			}
		}
	}
	return s.ClientStream.SendMsg(m)
}

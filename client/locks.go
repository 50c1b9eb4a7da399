package client

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/quorumkv/quorumkv/api"
)

// LockInfo is a lock's state after a request: held or not, by whom, with
// which token (while free: the last token issued, 0 if never), its ttl and
// the renewals of the current grant.
type LockInfo struct {
	Name     string
	Held     bool
	HeldBy   string
	Token    uint64
	TTL      time.Duration
	Renewals uint64
}

func lockInfo(r *api.LockResponse) *LockInfo {
	return &LockInfo{
		Name: r.GetName(), Held: r.GetHeld(), HeldBy: r.GetHeldBy(), Token: r.GetToken(),
		TTL: time.Duration(r.GetTtlMs()) * time.Millisecond, Renewals: r.GetRenewals(),
	}
}

// LockOption configures one lock request.
type LockOption func(*lockCall)

type lockCall struct {
	wait time.Duration
	opID []byte
}

// WaitFor makes Acquire keep trying for up to d while another holder has
// the lock (0, the default: answer at once).
func WaitFor(d time.Duration) LockOption { return func(c *lockCall) { c.wait = d } }

// WithLockOpID names the request (at most 32 bytes; default: 16 random
// bytes per call, reused by the client's own retries). Pass the same id to
// retry an Acquire that ended with ErrOutcomeUnknown: a grant the first
// one made is answered again.
func WithLockOpID(id []byte) LockOption { return func(c *lockCall) { c.opID = id } }

func newLockCall(opts []LockOption) (*lockCall, error) {
	c := &lockCall{}
	for _, o := range opts {
		o(c)
	}
	if c.opID == nil {
		c.opID = newOpID()
	}
	switch {
	case c.wait < 0:
		return nil, fmt.Errorf("%w: negative lock wait %v", ErrInvalidArgument, c.wait)
	case c.wait/time.Millisecond > math.MaxUint32:
		return nil, fmt.Errorf("%w: lock wait %v is too long", ErrInvalidArgument, c.wait)
	}
	return c, checkOpID(c.opID)
}

// Acquire takes lock name for holder for ttl (whole milliseconds) and
// returns its lease, which renews itself every ttl/3 until Release, the
// client's Close, or loss. The lease's Token is the lock's fencing token:
// it strictly increases per lock name, forever; pass it with WithFence.
//
// A lock held by another holder fails with *LockHeldError (ErrLockHeld,
// ErrConditionFailed). A request that may have been granted without an
// answer fails with ErrOutcomeUnknown: acquire again with the same
// WithLockOpID to get that grant. A grant that comes back after its
// validity already ended is returned with its Context done.
//
// The lease's Context is cancelled at t_send + ttl·(1−ρ) − margin after
// the last successful acquire or renew (t_send read on the lease clock
// before the request was sent; see LeaseConfig), or as soon as a renew
// answers that the lock is lost. It bounds the holder's validity window;
// it cannot stop a holder that pauses after checking it, which is what
// fencing is for.
func (c *Client) Acquire(ctx context.Context, name, holder string, ttl time.Duration, opts ...LockOption) (*Lease, error) {
	call, err := newLockCall(opts)
	if err != nil {
		return nil, err
	}
	cfg := c.opts.lease
	ttlMs, err := cfg.ttlMillis(ttl)
	if err != nil {
		return nil, err
	}
	req := &api.AcquireRequest{Name: name, Holder: holder, TtlMs: ttlMs,
		WaitMs: uint32(call.wait / time.Millisecond), OpId: call.opID}
	sentAt := cfg.clock().Now()
	var resp *api.LockResponse
	err = c.serialDo(ctx, []byte(name), false, call.wait, func(ctx context.Context, e endpoint) (err error) {
		resp, err = e.locks.Acquire(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	if !resp.GetAcquired() {
		return nil, &LockHeldError{Name: name, HeldBy: resp.GetHeldBy(), Token: resp.GetToken(),
			RetryAfter: time.Duration(resp.GetRetryAfterMs()) * time.Millisecond}
	}
	granted := time.Duration(ttlMs) * time.Millisecond
	if ms := resp.GetTtlMs(); ms > 0 {
		granted = time.Duration(ms) * time.Millisecond
	}
	return c.startLease(name, resp.GetToken(), granted, sentAt)
}

// RenewLock renews lock name held with token. A token that no longer
// holds the lock fails with ErrLockLost (and ErrConditionFailed), with the
// lock's current state.
func (c *Client) RenewLock(ctx context.Context, name string, token uint64) (*LockInfo, error) {
	req := &api.RenewRequest{Name: name, Token: token, OpId: newOpID()}
	return c.lockChange(ctx, name, token, func(ctx context.Context, l api.LocksClient) (*api.LockResponse, error) {
		return l.Renew(ctx, req)
	})
}

// ReleaseLock frees lock name held with token (the lock keeps its last
// token, so the next grant's is higher). A token that no longer holds the
// lock fails with ErrLockLost (and ErrConditionFailed), with the lock's
// current state.
func (c *Client) ReleaseLock(ctx context.Context, name string, token uint64) (*LockInfo, error) {
	req := &api.ReleaseRequest{Name: name, Token: token, OpId: newOpID()}
	return c.lockChange(ctx, name, token, func(ctx context.Context, l api.LocksClient) (*api.LockResponse, error) {
		return l.Release(ctx, req)
	})
}

// DescribeLock reads lock name linearizably.
func (c *Client) DescribeLock(ctx context.Context, name string) (*LockInfo, error) {
	req := &api.DescribeLockRequest{Name: name}
	resp, err := c.lockRPC(ctx, name, true, func(ctx context.Context, l api.LocksClient) (*api.LockResponse, error) {
		return l.Describe(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	return lockInfo(resp), nil
}

func (c *Client) lockChange(ctx context.Context, name string, token uint64, rpc func(context.Context, api.LocksClient) (*api.LockResponse, error)) (*LockInfo, error) {
	resp, err := c.lockRPC(ctx, name, false, rpc)
	if err != nil {
		return nil, err
	}
	info := lockInfo(resp)
	if !resp.GetAcquired() {
		return info, fmt.Errorf("lock %q, token %d: %w", name, token, conditionError{ErrLockLost})
	}
	return info, nil
}

func (c *Client) lockRPC(ctx context.Context, name string, read bool, rpc func(context.Context, api.LocksClient) (*api.LockResponse, error)) (*api.LockResponse, error) {
	var resp *api.LockResponse
	err := c.serialDo(ctx, []byte(name), read, 0, func(ctx context.Context, e endpoint) (err error) {
		resp, err = rpc(ctx, e.locks)
		return err
	})
	return resp, err
}

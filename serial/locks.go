package serial

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/quorumkv/quorumkv/paxos"
)

// Locks are leases with fencing tokens, each a register of kind KindLock
// named by the lock, run by a Proposer. Expiry needs only a bounded clock
// rate: a contender is granted a held lock (a takeover) only once this
// node has itself seen the same grant (token, renewals) unchanged for
// ttl·(1+ρ) on its monotonic clock, and the takeover applies only if the
// grant is still that one.
type Locks struct {
	p   *Proposer
	obs *observations
}

// LockResult is a lock request's answer.
type LockResult struct {
	Name string
	// Acquired: Acquire was granted, Renew renewed, Release released
	// (Describe: false).
	Acquired bool
	// Lock is the lock's grant after the request (Token: the holder's
	// while held, otherwise the last token issued).
	Lock paxos.Lock
	// RetryAfter: an Acquire refused may be granted after this long (what
	// is left of the wait for the holder's grant to expire).
	RetryAfter time.Duration
	// Deduplicated: the op id was an earlier attempt's, and this its answer.
	Deduplicated bool
	Receipt      Receipt
}

// NewLocks returns the locks run by p.
func NewLocks(p *Proposer) *Locks {
	return &Locks{p: p, obs: newObservations(p.cfg.MaxObserved)}
}

// MaxTTL is the longest ttl a lock takes.
const MaxTTL = time.Duration(math.MaxUint32) * time.Millisecond

func invalid(msg string) error { return errors.Join(ErrInvalid, errors.New("serial: "+msg)) }

// Acquire grants the lock name to holder for ttl. If another holds it, it
// keeps trying for up to wait (polling at most every quarter of the
// holder's ttl, and no more often than Config.LockPollFloor) and answers
// Acquired false with the holder and RetryAfter once wait is over. opID
// names the attempt (nil: a random id); a retry with the same id answers
// the same grant.
func (l *Locks) Acquire(ctx context.Context, name, holder string, ttl, wait time.Duration, opID []byte) (LockResult, error) {
	switch {
	case name == "":
		return LockResult{}, invalid("empty lock name")
	case holder == "":
		return LockResult{}, invalid("empty holder")
	case ttl <= 0 || ttl > MaxTTL:
		return LockResult{}, invalid("ttl must be positive and at most 2^32-1 ms")
	}
	if len(opID) == 0 {
		opID = NewOpID()
	}
	ttlMs := uint32(max(ttl/time.Millisecond, 1))
	until := l.p.cfg.Mono.Now().Add(wait)
	for {
		res, err := l.p.Do(ctx, KindLock, []byte(name), paxos.Op{Kind: paxos.OpAcquire, ID: opID, Holder: holder, TTLms: ttlMs})
		if err != nil {
			return LockResult{}, err
		}
		if res.Outcome == paxos.Applied {
			l.obs.forget(name)
			return lockResult(name, res, true), nil
		}
		left, res, err := l.tryTakeover(ctx, name, holder, ttlMs, opID, res)
		switch {
		case err != nil:
			return LockResult{}, err
		case res.Outcome == paxos.Applied:
			return lockResult(name, res, true), nil
		case !res.Lock.Held:
			continue // released meanwhile: ask again at once
		}
		refused := lockResult(name, res, false)
		refused.RetryAfter = max(left, 0)
		remaining := until.Sub(l.p.cfg.Mono.Now())
		if remaining <= 0 {
			return refused, nil
		}
		gap := min(max(min(left, ttlOf(res.Lock)/4), l.p.cfg.LockPollFloor), remaining)
		if sleep(ctx, gap) != nil {
			return refused, nil
		}
	}
}

// tryTakeover observes the grant res shows held by another and, once this
// node has seen it unchanged for ttl·(1+ρ), takes it over. It returns what
// is left of the wait (0 or less: over) and the latest answer.
func (l *Locks) tryTakeover(ctx context.Context, name, holder string, ttlMs uint32, opID []byte, res Result) (time.Duration, Result, error) {
	for range 2 {
		if !res.Lock.Held {
			l.obs.forget(name)
			return 0, res, nil
		}
		g := res.Lock
		now := l.p.cfg.Mono.Now()
		first := l.obs.see(name, g.Token, g.Renewals, now)
		left := l.expiry(g) - now.Sub(first)
		if left > 0 {
			return left, res, nil
		}
		next, err := l.p.Do(ctx, KindLock, []byte(name), paxos.Op{
			Kind: paxos.OpTakeover, ID: opID, Holder: holder, TTLms: ttlMs, Token: g.Token, Renewals: g.Renewals,
		})
		if err != nil {
			return 0, next, err
		}
		if next.Outcome == paxos.Applied {
			l.obs.forget(name)
			return 0, next, nil
		}
		res = next // renewed or granted anew meanwhile: observe that grant
	}
	return 0, res, nil
}

// expiry is how long a grant must be seen unchanged before a takeover:
// its ttl·(1+ρ).
func (l *Locks) expiry(g paxos.Lock) time.Duration {
	return time.Duration(float64(ttlOf(g)) * (1 + l.p.cfg.Rho))
}

func ttlOf(g paxos.Lock) time.Duration { return time.Duration(g.TTLms) * time.Millisecond }

// Renew renews the grant with token: Acquired false (definite) when token
// no longer holds the lock.
func (l *Locks) Renew(ctx context.Context, name string, token uint64, opID []byte) (LockResult, error) {
	return l.change(ctx, name, paxos.Op{Kind: paxos.OpRenew, ID: opID, Token: token})
}

// Release frees the lock if token holds it: Acquired false (definite)
// when it does not.
func (l *Locks) Release(ctx context.Context, name string, token uint64, opID []byte) (LockResult, error) {
	return l.change(ctx, name, paxos.Op{Kind: paxos.OpRelease, ID: opID, Token: token})
}

// Describe reads the lock linearizably.
func (l *Locks) Describe(ctx context.Context, name string) (LockResult, error) {
	return l.change(ctx, name, paxos.Op{Kind: paxos.OpGet})
}

func (l *Locks) change(ctx context.Context, name string, op paxos.Op) (LockResult, error) {
	if name == "" {
		return LockResult{}, invalid("empty lock name")
	}
	res, err := l.p.Do(ctx, KindLock, []byte(name), op)
	if err != nil {
		return LockResult{}, err
	}
	return lockResult(name, res, op.Kind != paxos.OpGet && res.Outcome == paxos.Applied), nil
}

// Observed is how many locks held by others this node is watching.
func (l *Locks) Observed() int { return l.obs.len() }

func lockResult(name string, res Result, acquired bool) LockResult {
	return LockResult{Name: name, Acquired: acquired, Lock: res.Lock, Deduplicated: res.Deduplicated, Receipt: res.Receipt}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

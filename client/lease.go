package client

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Lease is a granted lock. One goroutine renews it every ttl/3 (each renew
// timed from the send time of the one before) until Release, the client's
// Close, the end of its validity, or a renew that answers that the lock is
// lost. Context is cancelled at the first of these; context.Cause says
// which: ErrLockLost, ErrLeaseExpired, or context.Canceled (Release or
// Close).
type Lease struct {
	c        *Client
	name     string
	token    uint64
	ttl      time.Duration
	validFor time.Duration
	clock    MonoClock

	ctx    context.Context
	cancel context.CancelCauseFunc
	done   chan struct{} // closed when the renewal goroutine has returned

	mu         sync.Mutex
	validUntil time.Time   // on clock
	gen        int         // the current expiry timer's generation
	stopExpiry func() bool // cancels the current expiry timer

	releaseMu  sync.Mutex
	released   bool
	releaseErr error
}

// startLease starts the lease of a grant sent at sentAt, and registers it
// with the client so Close stops it.
func (c *Client) startLease(name string, token uint64, ttl time.Duration, sentAt time.Time) (*Lease, error) {
	cfg := c.opts.lease
	l := &Lease{c: c, name: name, token: token, ttl: ttl, validFor: cfg.validFor(ttl), clock: cfg.clock(),
		done: make(chan struct{})}
	l.ctx, l.cancel = context.WithCancelCause(context.Background())
	l.validUntil = sentAt.Add(l.validFor)
	if !l.clock.Now().Before(l.validUntil) {
		// Granted, but the answer came after its validity: nothing to renew.
		l.cancel(ErrLeaseExpired)
		close(l.done)
		return l, nil
	}
	if !c.leases.add(l) {
		l.cancel(context.Canceled)
		close(l.done)
		return nil, errClientClosed
	}
	l.mu.Lock()
	l.armLocked()
	l.mu.Unlock()
	go l.renewLoop(sentAt)
	return l, nil
}

// errClientClosed: the client was closed while a lease was being granted.
var errClientClosed = errors.New("client is closed")

// Name is the lock's name.
func (l *Lease) Name() string { return l.name }

// Token is the lock's fencing token for this grant.
func (l *Lease) Token() uint64 { return l.token }

// TTL is the ttl the lock was granted with.
func (l *Lease) TTL() time.Duration { return l.ttl }

// Context is cancelled when the lease is no longer valid (see Lease).
func (l *Lease) Context() context.Context { return l.ctx }

// Release stops renewing and releases the lock. Once the store has
// answered (released, or ErrLockLost when the token no longer held it),
// later calls return the same answer without asking again; after any
// other failure (the lock may still be held until its ttl) a later call
// tries again.
func (l *Lease) Release(ctx context.Context) error {
	l.stop(context.Canceled)
	l.releaseMu.Lock()
	defer l.releaseMu.Unlock()
	if l.released {
		return l.releaseErr
	}
	_, err := l.c.ReleaseLock(ctx, l.name, l.token)
	if err == nil || errors.Is(err, ErrLockLost) {
		l.released, l.releaseErr = true, err
	}
	return err
}

// stop ends the lease (cause, unless it has ended already), waits for the
// renewal goroutine and unregisters the lease from its client.
func (l *Lease) stop(cause error) {
	l.end(cause)
	<-l.done
	l.c.leases.remove(l)
}

// end cancels the lease's context with cause (the first cause stays) and
// its expiry timer.
func (l *Lease) end(cause error) {
	l.cancel(cause)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gen++
	if l.stopExpiry != nil {
		l.stopExpiry()
		l.stopExpiry = nil
	}
}

// armLocked starts the expiry timer for validUntil (replacing any other).
func (l *Lease) armLocked() {
	if l.stopExpiry != nil {
		l.stopExpiry()
	}
	l.gen++
	gen := l.gen
	l.stopExpiry = l.clock.AfterFunc(l.validUntil.Sub(l.clock.Now()), func() { l.expire(gen) })
}

// expire ends the lease when its timer of generation gen is still the
// current one (a renewal replaces the timer).
func (l *Lease) expire(gen int) {
	l.mu.Lock()
	current := gen == l.gen
	l.mu.Unlock()
	if current {
		l.cancel(ErrLeaseExpired)
	}
}

// extend moves the validity to a renewal sent at sentAt, unless the lease
// has already ended.
func (l *Lease) extend(sentAt time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	until := sentAt.Add(l.validFor)
	if l.ctx.Err() != nil || !until.After(l.validUntil) {
		return
	}
	l.validUntil = until
	l.armLocked()
}

// renewLoop renews the lease renewEvery(ttl) after the send time of the
// previous grant or renewal (at once when that has passed), until the
// lease ends. Each renewal is bounded by renewEvery(ttl) of real time. A
// renewal that fails without saying the lock is lost (unknown outcome, no
// quorum, no answer in time) leaves the validity as it was, and the next
// one follows on schedule.
func (l *Lease) renewLoop(sentAt time.Time) {
	defer close(l.done)
	due := make(chan struct{}, 1)
	for {
		stopTimer := l.clock.AfterFunc(sentAt.Add(renewEvery(l.ttl)).Sub(l.clock.Now()), func() { due <- struct{}{} })
		select {
		case <-l.ctx.Done():
			stopTimer()
			return
		case <-due:
		}
		if l.ctx.Err() != nil {
			return
		}
		sentAt = l.clock.Now()
		// A renewal that has not answered by the time the next is due gives
		// up (the next one starts at once): one stuck node does not hold the
		// lease until its validity runs out.
		rctx, cancel := context.WithTimeout(l.ctx, renewEvery(l.ttl))
		_, err := l.c.RenewLock(rctx, l.name, l.token)
		cancel()
		switch {
		case err == nil:
			l.extend(sentAt)
		case errors.Is(err, ErrLockLost):
			l.end(ErrLockLost)
			return
		}
	}
}

// validUntilNow is the end of the lease's validity on its clock.
func (l *Lease) validUntilNow() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.validUntil
}

// leaseSet is a client's running leases, stopped by Close.
type leaseSet struct {
	mu     sync.Mutex
	leases map[*Lease]struct{}
	closed bool
}

// add registers l; false once the client is closed.
func (s *leaseSet) add(l *Lease) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.leases == nil {
		s.leases = map[*Lease]struct{}{}
	}
	s.leases[l] = struct{}{}
	return true
}

func (s *leaseSet) remove(l *Lease) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.leases, l)
}

// close stops every lease (without releasing its lock) and refuses new
// ones.
func (s *leaseSet) close() {
	s.mu.Lock()
	s.closed = true
	ls := make([]*Lease, 0, len(s.leases))
	for l := range s.leases {
		ls = append(ls, l)
	}
	s.mu.Unlock()
	for _, l := range ls {
		l.stop(context.Canceled)
	}
}

package bench

import (
	"context"
	"errors"
	"time"

	"github.com/quorumkv/quorumkv/client"
)

// The quorumkv driver runs the register workloads with the client's
// linearizable registers (CASPaxos) and the lock workload with its locks.

func (d *quorumkvDriver) ReadVersion(ctx context.Context, key []byte) (SerialOutcome, error) {
	res, err := d.c.SerialGet(ctx, key)
	if err != nil {
		return SerialOutcome{}, qkvError(err)
	}
	return serialOutcome(res), nil
}

func (d *quorumkvDriver) CompareAndSet(ctx context.Context, key, value []byte, expect uint64) (SerialOutcome, error) {
	res, err := d.c.CompareAndSet(ctx, key, value, client.ExpectVersion(expect))
	if errors.Is(err, client.ErrConditionFailed) && res != nil {
		o := serialOutcome(res) // the register's current state
		o.Conflict = true
		return o, nil
	}
	if err != nil {
		return SerialOutcome{}, qkvError(err)
	}
	return serialOutcome(res), nil
}

func (d *quorumkvDriver) Increment(ctx context.Context, key []byte) (SerialOutcome, error) {
	res, err := d.c.Increment(ctx, key, 1)
	if err != nil {
		return SerialOutcome{}, qkvError(err)
	}
	return serialOutcome(res), nil
}

func serialOutcome(res *client.SerialResult) SerialOutcome {
	return SerialOutcome{Version: res.Version, Receipt: &Receipt{FastPath: res.FastPath, Rounds: res.Rounds}}
}

// NewLocker: quorumkv locks need no session; each acquire names the holder.
func (d *quorumkvDriver) NewLocker(_ context.Context, holder string, ttl time.Duration) (Locker, error) {
	return &quorumkvLocker{c: d.c, holder: holder, ttl: ttl}, nil
}

type quorumkvLocker struct {
	c      *client.Client
	holder string
	ttl    time.Duration
}

// AcquireRelease acquires name (its lease starts renewing itself) and
// releases it at once.
func (l *quorumkvLocker) AcquireRelease(ctx context.Context, name string) (SerialOutcome, error) {
	lease, err := l.c.Acquire(ctx, name, l.holder, l.ttl)
	if err != nil {
		return SerialOutcome{}, qkvError(err)
	}
	if err := lease.Release(ctx); err != nil {
		return SerialOutcome{}, qkvError(err)
	}
	return SerialOutcome{}, nil
}

func (l *quorumkvLocker) Close() error { return nil }

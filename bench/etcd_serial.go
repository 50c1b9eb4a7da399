package bench

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// The etcd driver runs the register workloads as an etcd user would: a
// compare-and-set is a Txn comparing the key's mod_revision, an increment a
// Get and a Txn retried until the revision it read is still current, and
// the lock workload uses etcd's own lock recipe (package concurrency).
// Register reads are linearizable whatever the driver's read option.

func (d *etcdDriver) ReadVersion(ctx context.Context, key []byte) (SerialOutcome, error) {
	resp, err := d.cli.Get(ctx, string(key))
	if err != nil {
		return SerialOutcome{}, etcdError(err)
	}
	return SerialOutcome{Version: modRevision(resp.Kvs)}, nil
}

// CompareAndSet: Txn If(ModRevision(key) == expect) Then(Put) Else(Get).
// etcd compares an absent key's mod_revision as 0.
func (d *etcdDriver) CompareAndSet(ctx context.Context, key, value []byte, expect uint64) (SerialOutcome, error) {
	k := string(key)
	resp, err := d.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(k), "=", revision(expect))).
		Then(clientv3.OpPut(k, string(value))).
		Else(clientv3.OpGet(k)).
		Commit()
	if err != nil {
		return SerialOutcome{}, etcdError(err)
	}
	if resp.Succeeded {
		return SerialOutcome{Version: uint64(resp.Header.GetRevision())}, nil
	}
	var current uint64
	if len(resp.Responses) > 0 {
		current = modRevision(resp.Responses[0].GetResponseRange().GetKvs())
	}
	return SerialOutcome{Version: current, Conflict: true}, nil
}

// Increment: Get, then Txn If(ModRevision(key) == seen) Then(Put(n+1)),
// from the Get again until a Txn succeeds.
func (d *etcdDriver) Increment(ctx context.Context, key []byte) (SerialOutcome, error) {
	k := string(key)
	for attempt := 0; ; attempt++ {
		get, err := d.cli.Get(ctx, k)
		if err != nil {
			return SerialOutcome{Retries: attempt}, etcdError(err)
		}
		var n int64
		if len(get.Kvs) > 0 {
			if n, err = strconv.ParseInt(string(get.Kvs[0].Value), 10, 64); err != nil {
				return SerialOutcome{Retries: attempt}, fmt.Errorf("etcd: increment %q: value is not a decimal integer: %w", k, err)
			}
		}
		txn, err := d.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(k), "=", revision(modRevision(get.Kvs)))).
			Then(clientv3.OpPut(k, strconv.FormatInt(n+1, 10))).
			Commit()
		if err != nil {
			return SerialOutcome{Retries: attempt}, etcdError(err)
		}
		if txn.Succeeded {
			return SerialOutcome{Version: uint64(txn.Header.GetRevision()), Retries: attempt}, nil
		}
	}
}

// modRevision is the mod_revision of the first of kvs (0: none).
func modRevision(kvs []*mvccpb.KeyValue) uint64 {
	if len(kvs) == 0 {
		return 0
	}
	return uint64(kvs[0].ModRevision)
}

// revision is a version as etcd's int64 revision.
func revision(v uint64) int64 { return int64(min(v, math.MaxInt64)) }

// NewLocker opens an etcd session: a lease of ttl (whole seconds, at least
// 1) kept alive in the background, reused by every lock the client takes.
func (d *etcdDriver) NewLocker(ctx context.Context, _ string, ttl time.Duration) (Locker, error) {
	secs := max(int((ttl+time.Second-1)/time.Second), 1)
	s, err := concurrency.NewSession(d.cli, concurrency.WithTTL(secs), concurrency.WithContext(ctx))
	if err != nil {
		return nil, etcdError(err)
	}
	return &etcdLocker{s: s}, nil
}

type etcdLocker struct{ s *concurrency.Session }

// AcquireRelease locks a Mutex on name and unlocks it.
func (l *etcdLocker) AcquireRelease(ctx context.Context, name string) (SerialOutcome, error) {
	m := concurrency.NewMutex(l.s, name)
	if err := m.Lock(ctx); err != nil {
		return SerialOutcome{}, etcdError(err)
	}
	if err := m.Unlock(ctx); err != nil {
		return SerialOutcome{}, etcdError(err)
	}
	return SerialOutcome{}, nil
}

// Close revokes the session's lease.
func (l *etcdLocker) Close() error { return l.s.Close() }

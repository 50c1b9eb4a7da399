package bench

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// RegisterDriver runs the register workloads (cas, hot-incr). A register's
// version is what the store counts it by: quorumkv's number of applied
// changes, etcd's mod_revision; 0 for a key never written.
type RegisterDriver interface {
	// ReadVersion reads key's current version, linearizably.
	ReadVersion(ctx context.Context, key []byte) (SerialOutcome, error)
	// CompareAndSet writes value if key's version is still expect. A
	// failed condition is no error: it returns Conflict and the key's
	// current version.
	CompareAndSet(ctx context.Context, key, value []byte, expect uint64) (SerialOutcome, error)
	// Increment adds 1 to key's decimal value (absent counts as 0), however
	// many attempts that takes; Retries counts the attempts after the first.
	Increment(ctx context.Context, key []byte) (SerialOutcome, error)
}

// LockDriver runs the lock workload.
type LockDriver interface {
	// NewLocker opens one client's locking session: holder names the
	// client, ttl is every lock's time to live (etcd: the session lease's).
	NewLocker(ctx context.Context, holder string, ttl time.Duration) (Locker, error)
}

// Locker is one client's locking session.
type Locker interface {
	// AcquireRelease acquires the lock name and releases it.
	AcquireRelease(ctx context.Context, name string) (SerialOutcome, error)
	Close() error
}

// LeaseDriver runs the keepalive workload.
type LeaseDriver interface {
	// GrantLeases grants n leases of ttl (replacing those granted
	// before); the run does it before its clock starts.
	GrantLeases(ctx context.Context, n int64, ttl time.Duration) error
	// KeepAlive renews lease i (0 <= i < n) once.
	KeepAlive(ctx context.Context, i int64) error
	// RevokeLeases revokes the leases granted (after the run).
	RevokeLeases(ctx context.Context) error
}

// SerialOutcome is what a register or lock operation saw.
type SerialOutcome struct {
	// Version is the key's version after the operation.
	Version uint64
	// Conflict: a compare-and-set found another version (Version).
	Conflict bool
	// Retries counts the attempts a driver repeated to complete the
	// operation (etcd's optimistic increment loop).
	Retries int
	// Receipt is how the store decided the operation, when it says
	// (quorumkv); nil otherwise.
	Receipt *Receipt
}

// Receipt is how a quorumkv proposer decided a register operation.
type Receipt struct {
	// FastPath: the round skipped the prepare phase (one round trip).
	FastPath bool
	// Rounds is the number of Paxos rounds the proposer ran.
	Rounds int
}

// checkDrivers tells whether every driver can run workload w.
func checkDrivers(w Workload, drivers []Driver) error {
	for _, d := range drivers {
		if _, ok := d.(RegisterDriver); w.Registers() && !ok {
			return fmt.Errorf("bench: the %T driver cannot run workload %s (no registers)", d, w.Name)
		}
		if _, ok := d.(LockDriver); w.Locks() && !ok {
			return fmt.Errorf("bench: the %T driver cannot run workload %s (no locks)", d, w.Name)
		}
		if _, ok := d.(LeaseDriver); w.Leases() && !ok {
			return fmt.Errorf("bench: the %T driver cannot run workload %s (no leases)", d, w.Name)
		}
	}
	return nil
}

// openLockers opens a locking session for each client when the workload
// takes locks (nil otherwise): client i's on its driver, drivers[i%len].
func openLockers(ctx context.Context, cfg Config, drivers []Driver) ([]Locker, error) {
	if !cfg.Workload.Locks() {
		return nil, nil
	}
	lockers := make([]Locker, 0, cfg.Clients)
	for i := range cfg.Clients {
		l, err := drivers[i%len(drivers)].(LockDriver).NewLocker(ctx, holderName(i), cfg.LockTTL)
		if err != nil {
			_ = closeLockers(lockers)
			return nil, fmt.Errorf("bench: lock session for client %d: %w", i, err)
		}
		lockers = append(lockers, l)
	}
	return lockers, nil
}

// closeLockers closes locking sessions.
func closeLockers(lockers []Locker) error {
	var errs []error
	for _, l := range lockers {
		errs = append(errs, l.Close())
	}
	return errors.Join(errs...)
}

// holderName names client i as a lock holder.
func holderName(i int) string { return fmt.Sprintf("bench-c%d", i) }

// lockName is the name of lock number n of the worker's own key space.
func (w *worker) lockName(n int64) string {
	return string(keyName(fmt.Sprintf("%sw%d/", w.r.cfg.KeyPrefix, w.id), n))
}

// cas runs one compare-and-set of key number n: it reads the key's version
// first when this worker has not seen it (a step of its own, recorded as a
// read), then sets a fresh value expecting the version it last saw. A
// conflict records the current version for the next try.
func (w *worker) cas(ctx context.Context, op *opRun, n int64) (outcome, error) {
	drv := w.drv.(RegisterDriver)
	key := keyName(w.r.cfg.KeyPrefix, n)
	version, seen := w.versions[n]
	if !seen {
		res, err := drv.ReadVersion(ctx, key)
		op.step(OpRead, outcome{receipt: res.Receipt}, err)
		if err != nil {
			return outcome{}, errStepFailed
		}
		version = res.Version
	}
	res, err := drv.CompareAndSet(ctx, key, w.vals.next(w.rng), version)
	if err != nil {
		// The write may have applied: read the key again next time.
		delete(w.versions, n)
		return outcome{}, err
	}
	w.versions[n] = res.Version
	return outcome{conflict: res.Conflict, receipt: res.Receipt}, nil
}

// incr increments key number n.
func (w *worker) incr(ctx context.Context, n int64) (outcome, error) {
	res, err := w.drv.(RegisterDriver).Increment(ctx, keyName(w.r.cfg.KeyPrefix, n))
	return outcome{retries: res.Retries, receipt: res.Receipt}, err
}

// lock acquires and releases lock number n of the worker's own names.
func (w *worker) lock(ctx context.Context, n int64) (outcome, error) {
	res, err := w.locker.AcquireRelease(ctx, w.lockName(n))
	return outcome{retries: res.Retries, receipt: res.Receipt}, err
}

// grantLeases grants every driver its leases when the workload renews
// leases.
func grantLeases(ctx context.Context, cfg Config, drivers []Driver) error {
	if !cfg.Workload.Leases() {
		return nil
	}
	for _, d := range drivers {
		if err := d.(LeaseDriver).GrantLeases(ctx, cfg.Records, cfg.LockTTL); err != nil {
			return fmt.Errorf("bench: granting %d leases: %w", cfg.Records, err)
		}
	}
	return nil
}

// revokeLeases revokes every driver's leases when the workload renewed
// leases, so they do not expire during later runs.
func revokeLeases(ctx context.Context, cfg Config, drivers []Driver) error {
	if !cfg.Workload.Leases() {
		return nil
	}
	var errs []error
	for _, d := range drivers {
		errs = append(errs, d.(LeaseDriver).RevokeLeases(ctx))
	}
	return errors.Join(errs...)
}

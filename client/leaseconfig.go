package client

import (
	"fmt"
	"math"
	"time"
)

// MonoClock is the monotonic clock a lease measures its validity on. Only
// differences between its readings matter.
type MonoClock interface {
	// Now reads the clock.
	Now() time.Time
	// AfterFunc calls f (in a goroutine of its own, or the clock's) once d
	// has passed on the clock. stop cancels it and reports whether it did
	// (false when f already ran or was cancelled).
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// systemClock is the host's monotonic clock (time.Now's monotonic reading).
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// LeaseConfig says how a lease holder counts its lease's validity: a grant
// or renewal sent at t (read on Clock before the request left) is valid
// until t + ttl·(1−Rho) − Margin. Rho bounds how much faster or slower than
// real time any node's monotonic clock runs (the store's contenders wait
// ttl·(1+Rho) on theirs), and Margin covers what the bound does not (the
// scheduling delay of cancelling the lease's context, for one).
type LeaseConfig struct {
	Rho    float64
	Margin time.Duration
	// Clock is the monotonic clock leases are measured on (nil: the
	// host's).
	Clock MonoClock
}

// DefaultLeaseConfig: ρ = 1 %, a 10 ms margin, the host's monotonic clock.
func DefaultLeaseConfig() LeaseConfig {
	return LeaseConfig{Rho: 0.01, Margin: 10 * time.Millisecond, Clock: systemClock{}}
}

// Validate reports a configuration the client cannot use.
func (cfg LeaseConfig) Validate() error {
	switch {
	case math.IsNaN(cfg.Rho) || cfg.Rho < 0 || cfg.Rho >= 1:
		return fmt.Errorf("%w: lease Rho %v is not in [0, 1)", ErrInvalidConfig, cfg.Rho)
	case cfg.Margin < 0:
		return fmt.Errorf("%w: lease Margin %v is negative", ErrInvalidConfig, cfg.Margin)
	}
	return nil
}

// WithLeaseConfig replaces how leases count their validity
// (DefaultLeaseConfig otherwise). New refuses a configuration that fails
// Validate.
func WithLeaseConfig(cfg LeaseConfig) Option { return func(o *options) { o.lease = cfg } }

// clock is the configured clock, or the host's.
func (cfg LeaseConfig) clock() MonoClock {
	if cfg.Clock == nil {
		return systemClock{}
	}
	return cfg.Clock
}

// validFor is how long after its send time a grant or renewal of ttl stays
// valid for its holder: ttl·(1−Rho) − Margin.
func (cfg LeaseConfig) validFor(ttl time.Duration) time.Duration {
	return time.Duration(float64(ttl)*(1-cfg.Rho)) - cfg.Margin
}

// renewEvery is the gap between the send times of a lease's renewals.
func renewEvery(ttl time.Duration) time.Duration { return ttl / 3 }

// ttlMillis is ttl as the wire's whole milliseconds, refused when it is
// not positive, does not fit, or leaves the holder no validity past the
// first renewal.
func (cfg LeaseConfig) ttlMillis(ttl time.Duration) (uint32, error) {
	ms := ttl / time.Millisecond
	switch {
	case ms <= 0:
		return 0, fmt.Errorf("%w: lock ttl %v is under a millisecond", ErrInvalidArgument, ttl)
	case ms > math.MaxUint32:
		return 0, fmt.Errorf("%w: lock ttl %v is too long (at most %v)", ErrInvalidArgument, ttl, time.Duration(math.MaxUint32)*time.Millisecond)
	case cfg.validFor(ms*time.Millisecond) <= renewEvery(ms*time.Millisecond):
		return 0, fmt.Errorf("%w: lock ttl %v is too short for the lease margin %v (validity %v would end before the first renewal)",
			ErrInvalidArgument, ttl, cfg.Margin, cfg.validFor(ms*time.Millisecond))
	}
	return uint32(ms), nil
}

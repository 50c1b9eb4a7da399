package client

import (
	"errors"
	"fmt"
	"time"
)

// ErrInvalidConfig: an Option carried a configuration that fails Validate.
var ErrInvalidConfig = errors.New("invalid client configuration")

// Responsiveness configures how the client notices an endpoint that has
// gone quiet (requests outstanding, no answer) and how it hedges reads.
// The zero value is not usable; start from DefaultResponsiveness.
type Responsiveness struct {
	// QuietAfter: an endpoint that has had requests outstanding and
	// answered none of them for this long, or for QuietFactor times its
	// recent p99 latency when that is longer (at most QuietMax), is quiet:
	// new requests go to the next replica or endpoint first, until it
	// answers again (any answer, or a health probe).
	QuietAfter  time.Duration
	QuietFactor float64
	QuietMax    time.Duration
	// LagAfter: an endpoint that has had requests outstanding and answered
	// none of them for this long, or for LagFactor times its recent p90
	// latency when that is longer (never past the quiet threshold), is
	// lagging: new requests go to the replicas that are not first (any node
	// coordinates any key, so this only reorders). Nothing is given up on;
	// the endpoint is preferred again with its next answer. This keeps the
	// writes sent in the time it takes to call an endpoint quiet from
	// piling onto a node that froze (a write on its way to it cannot be
	// sent again).
	LagAfter  time.Duration
	LagFactor float64
	// GiveUpAfter: a try that has waited this long on an endpoint that is
	// quiet ends with ErrNodeQuiet. A read then goes to the next endpoint;
	// a write is not sent again (it may still be applied when the node
	// resumes). Zero: tries wait for their attempt timeout.
	GiveUpAfter time.Duration
	// ProbeEvery: a quiet endpoint is health-checked this often (each
	// check bounded by the same time); the first SERVING answer takes it back.
	ProbeEvery time.Duration
	// Hedge: a get that has had no answer after HedgePercentile of the
	// endpoint's recent read latencies (within HedgeMin..HedgeMax) is also
	// sent to the next endpoint; the first answer wins and the other try is
	// cancelled.
	Hedge           bool
	HedgePercentile float64
	HedgeMin        time.Duration
	HedgeMax        time.Duration
}

// DefaultResponsiveness: lagging after max(50 ms, 3 × p90), quiet after
// max(300 ms, 4 × p99) (at most 2 s), give up on a quiet endpoint after 1 s, probe every 500 ms, hedge gets at
// their p99 within 50–500 ms.
func DefaultResponsiveness() Responsiveness {
	return Responsiveness{
		QuietAfter: 300 * time.Millisecond, QuietFactor: 4, QuietMax: 2 * time.Second,
		LagAfter: 50 * time.Millisecond, LagFactor: 3,
		GiveUpAfter: time.Second, ProbeEvery: 500 * time.Millisecond,
		Hedge: true, HedgePercentile: 0.99, HedgeMin: 50 * time.Millisecond, HedgeMax: 500 * time.Millisecond,
	}
}

// Validate reports a configuration the client cannot use.
func (r Responsiveness) Validate() error {
	switch {
	case r.QuietAfter <= 0 || r.QuietMax < r.QuietAfter:
		return fmt.Errorf("%w: need 0 < QuietAfter (%v) <= QuietMax (%v)", ErrInvalidConfig, r.QuietAfter, r.QuietMax)
	case r.LagAfter <= 0 || r.LagFactor < 0:
		return fmt.Errorf("%w: need LagAfter (%v) > 0 and LagFactor (%v) >= 0", ErrInvalidConfig, r.LagAfter, r.LagFactor)
	case r.QuietFactor < 0:
		return fmt.Errorf("%w: QuietFactor %v is negative", ErrInvalidConfig, r.QuietFactor)
	case r.GiveUpAfter < 0:
		return fmt.Errorf("%w: GiveUpAfter %v is negative", ErrInvalidConfig, r.GiveUpAfter)
	case r.ProbeEvery <= 0:
		return fmt.Errorf("%w: ProbeEvery %v must be positive", ErrInvalidConfig, r.ProbeEvery)
	case r.Hedge && (r.HedgePercentile <= 0 || r.HedgePercentile > 1):
		return fmt.Errorf("%w: HedgePercentile %v is not in (0, 1]", ErrInvalidConfig, r.HedgePercentile)
	case r.Hedge && (r.HedgeMin <= 0 || r.HedgeMax < r.HedgeMin):
		return fmt.Errorf("%w: need 0 < HedgeMin (%v) <= HedgeMax (%v)", ErrInvalidConfig, r.HedgeMin, r.HedgeMax)
	}
	return nil
}

// WithResponsiveness replaces how the client detects quiet endpoints and
// hedges reads (DefaultResponsiveness otherwise). New refuses a
// configuration that fails Validate.
func WithResponsiveness(r Responsiveness) Option { return func(o *options) { o.resp = r } }

// WithoutHedging turns hedged reads off: a get waits for its endpoint (up
// to the attempt timeout, or GiveUpAfter once the endpoint is quiet).
func WithoutHedging() Option { return func(o *options) { o.noHedge = true } }

package bench

import (
	"context"
	"math"
	"time"
)

// Clock is the runner's time source; tests substitute a fake one.
type Clock interface {
	Now() time.Time
	// SleepUntil returns at t (at once if t has passed) or when ctx ends.
	SleepUntil(ctx context.Context, t time.Time) error
}

// RealClock is the wall clock.
type RealClock struct{}

// Now is time.Now.
func (RealClock) Now() time.Time { return time.Now() }

// SleepUntil sleeps until t.
func (RealClock) SleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Schedule is an open loop's plan: operation i is meant to start i/Rate
// seconds after Start, whatever happened to the operations before it.
type Schedule struct {
	Start time.Time
	Rate  float64 // operations per second, > 0
}

// At is operation i's intended start time, computed from i directly (not by
// adding up intervals), so rounding never accumulates.
func (s Schedule) At(i int64) time.Time {
	return s.Start.Add(time.Duration(math.Round(float64(i) * float64(time.Second) / s.Rate)))
}

// Before counts the operations meant to start before t.
func (s Schedule) Before(t time.Time) int64 {
	d := t.Sub(s.Start)
	if d <= 0 {
		return 0
	}
	n := int64(math.Ceil(d.Seconds() * s.Rate))
	for n > 0 && !s.At(n-1).Before(t) {
		n--
	}
	for s.At(n).Before(t) {
		n++
	}
	return n
}

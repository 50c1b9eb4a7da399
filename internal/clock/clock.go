package clock

import "time"

// Clock is a source of wall time.
type Clock interface {
	Now() time.Time
}

// Real is the host's wall clock.
type Real struct{}

// Now is time.Now.
func (Real) Now() time.Time { return time.Now() }

// Or is c, or Real when c is nil (a Config's default).
func Or(c Clock) Clock {
	if c == nil {
		return Real{}
	}
	return c
}

// Func is a function as a Clock (a fake in tests).
type Func func() time.Time

// Now is f().
func (f Func) Now() time.Time { return f() }

// Package backoff is the one back-off policy for reconnecting to a node,
// used by the client's framed streams and by a node's peer pipes.
package backoff

import "time"

// Policy is an exponential back-off: the first gap is Min, each next gap
// Factor times the one before, never more than Max.
type Policy struct {
	Min, Max time.Duration
	Factor   float64
}

// Redial is the policy for dialling a node again after a failed dial or a
// connection it closed: 100 ms (a restart is quick) doubling to 1 s (a
// node back from a crash is used within a second).
func Redial() Policy { return Policy{Min: 100 * time.Millisecond, Max: time.Second, Factor: 2} }

// Next is the gap after last (0 when there was none yet).
func (p Policy) Next(last time.Duration) time.Duration {
	return min(max(p.Min, time.Duration(float64(last)*p.Factor)), p.Max)
}

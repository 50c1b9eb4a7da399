// Package backoff holds the back-off policies for reconnecting to a node:
// Redial for the client's framed streams and a node's peer pipes, and
// GRPCConnect for gRPC connections.
package backoff

import (
	"time"

	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"
)

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

// GRPCConnect is the reconnect policy of every gRPC connection to a node
// (the client's and a peer's): back within about a second after the node
// restarts, where gRPC's default backoff grows to two minutes (a peer that
// came back would be skipped, failing writes at W=2 when another node
// dies meanwhile).
func GRPCConnect() grpc.DialOption {
	return grpc.WithConnectParams(grpc.ConnectParams{
		Backoff:           grpcbackoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
		MinConnectTimeout: 2 * time.Second,
	})
}

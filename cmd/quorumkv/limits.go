package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/pflag"

	"github.com/quorumkv/quorumkv/node"
	"github.com/quorumkv/quorumkv/ring"
)

// replicaCount is an explicit R or W flag: unset, or a count from 1 to
// ring.MaxReplicas (the node refuses one above the cluster's N). Anything
// else, 0 and values that would not fit the wire's 32 bits included, is a
// usage error: a count never wraps nor silently means another level.
type replicaCount struct{ n int }

func (c *replicaCount) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 || n > ring.MaxReplicas {
		return fmt.Errorf("want a replica count from 1 to N, the cluster's replicas per key (at most %d)", ring.MaxReplicas)
	}
	c.n = int(n)
	return nil
}

func (c *replicaCount) String() string {
	if c.n == 0 {
		return ""
	}
	return strconv.Itoa(c.n)
}

func (c *replicaCount) Type() string { return "count" }

// registerLimitFlags adds the flags of the node's input limits
// (node.Limits), with its defaults.
func registerLimitFlags(fl *pflag.FlagSet, l *node.Limits) {
	*l = node.DefaultLimits()
	fl.IntVar(&l.MaxContextBytes, "max-context-size", l.MaxContextBytes, "largest causal context token accepted, in bytes")
	fl.IntVar(&l.MaxContextActors, "max-context-actors", l.MaxContextActors, "most actors a causal context may name")
	fl.IntVar(&l.MaxObjectBytes, "max-object-size", l.MaxObjectBytes, "largest stored sibling set of a key a client write may leave, in bytes; also the most a read returns")
	fl.IntVar(&l.MaxConns, "max-conns", l.MaxConns, "open TCP connections to the node's port (clients and peers); more are closed at once")
	fl.IntVar(&l.MaxOps, "max-ops", l.MaxOps, "client operations in progress on the node; more are refused RESOURCE_EXHAUSTED")
	fl.IntVar(&l.MaxStreams, "max-streams", l.MaxStreams, "concurrent gRPC streams on one connection")
	fl.DurationVar(&l.FrameIdleTimeout, "frame-idle-timeout", l.FrameIdleTimeout, "close a framed connection (client stream, peer pipe) that sends nothing for this long")
	fl.DurationVar(&l.FrameReadTimeout, "frame-read-timeout", l.FrameReadTimeout, "close a framed connection that announces a frame and does not send it within this long")
	fl.Int64Var(&l.WireBytes, "wire-bytes", l.WireBytes, "bytes of frames the node reads at once across its framed connections")
}

// checkLimitFlags refuses limits of zero or less (zero would mean "the
// default" to the node, not "nothing").
func checkLimitFlags(l node.Limits) error {
	for name, v := range map[string]int64{
		"max-context-size": int64(l.MaxContextBytes), "max-context-actors": int64(l.MaxContextActors),
		"max-object-size": int64(l.MaxObjectBytes), "max-conns": int64(l.MaxConns), "max-ops": int64(l.MaxOps),
		"max-streams": int64(l.MaxStreams), "frame-idle-timeout": int64(l.FrameIdleTimeout),
		"frame-read-timeout": int64(l.FrameReadTimeout), "wire-bytes": l.WireBytes,
	} {
		if v <= 0 {
			return usagef("--%s must be positive", name)
		}
	}
	return nil
}

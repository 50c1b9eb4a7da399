package coordinator

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. The server edge maps them to gRPC codes.
var (
	// ErrInvalidArgument wraps every rejected input.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrNotReplica is returned by a forwarded write that reached a node that
	// is not a replica of the key.
	ErrNotReplica = errors.New("this node is not a replica of the key")
	// ErrUnreachable wraps transport failures to reach a node (refused,
	// timed out before sending): the request did not run there.
	ErrUnreachable = errors.New("node unreachable")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("coordinator closed")
	// ErrDiskFull marks a replica's refusal to store a write because its
	// disk is full: the write did not run there.
	ErrDiskFull = errors.New("disk full")
)

// UnavailableError says a request could not reach its consistency level.
type UnavailableError struct {
	Op           string // "read" or "write"
	Required     int
	Acknowledged int
	// Joining lists the members still joining when the ring is forming
	// (the node answering adds them; the coordinator does not know).
	Joining []string
	// DiskFull lists the replicas that refused the write because their
	// disk is full (writes only).
	DiskFull []string
}

func (e *UnavailableError) Error() string {
	verb := "acknowledged"
	if e.Op == "read" {
		verb = "answered"
	}
	msg := fmt.Sprintf("%s unavailable: %d replicas required, %d %s", e.Op, e.Required, e.Acknowledged, verb)
	if len(e.Joining) > 0 {
		msg += fmt.Sprintf(" (ring forming: %s joining)", strings.Join(e.Joining, ", "))
	}
	if len(e.DiskFull) > 0 {
		msg += fmt.Sprintf("; disk full on %s", strings.Join(e.DiskFull, ", "))
	}
	return msg
}

// OverloadedError refuses a client operation because the node already has
// Max in progress; the operation did not run.
type OverloadedError struct{ Max int }

func (e *OverloadedError) Error() string {
	return fmt.Sprintf("node overloaded: %d client operations in progress (limit %d, --max-ops); retry later or on another node", e.Max, e.Max)
}

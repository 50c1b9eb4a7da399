package client

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/internal/sent"
)

var (
	// ErrNotFound: the key has no live value. A GetResult still carries the
	// context (a delete's tombstone is covered by it).
	ErrNotFound = errors.New("key not found")
	// ErrInvalidArgument wraps every request the server rejected as malformed.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrNoEndpoints: New was given no endpoints.
	ErrNoEndpoints = errors.New("no endpoints given")
)

// UnavailableError: too few replicas answered for the requested consistency.
// A write that fails this way may still have been stored on some replicas.
type UnavailableError struct {
	Op           string // "read" or "write"
	Required     int
	Acknowledged int
	// Joining lists the members still joining when the ring is forming
	// (`quorumkv ring wait` waits for them).
	Joining []string
	Message string
}

func (e *UnavailableError) Error() string { return e.Message }

// TooManySiblingsError: the write would leave more siblings than the server
// allows. Read the key, resolve the siblings and write back with its context.
type TooManySiblingsError struct {
	Siblings, Max int
	Message       string
}

func (e *TooManySiblingsError) Error() string { return e.Message }

// ObjectTooLargeError: the write would make the key's stored sibling set
// larger than the server allows (Bytes of Max). Read the key, resolve the
// siblings and write back with its context.
type ObjectTooLargeError struct {
	Bytes, Max int
	Message    string
}

func (e *ObjectTooLargeError) Error() string { return e.Message }

// NodeError: a node could not be reached or failed; the client tried every
// endpoint it had.
type NodeError struct {
	Endpoint string
	Err      error
}

func (e *NodeError) Error() string { return fmt.Sprintf("endpoint %s: %v", e.Endpoint, e.Err) }
func (e *NodeError) Unwrap() error { return e.Err }

// fromStatus maps a gRPC error to the client's typed errors.
func fromStatus(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	info := api.ErrorInfo(st)
	md := info.GetMetadata()
	switch info.GetReason() {
	case api.ReasonQuorumUnavailable:
		req, _ := strconv.Atoi(md["required"])
		ack, _ := strconv.Atoi(md["acknowledged"])
		ue := &UnavailableError{Op: md["op"], Required: req, Acknowledged: ack, Message: st.Message()}
		if j := md["joining"]; j != "" {
			ue.Joining = strings.Split(j, ",")
		}
		return ue
	case api.ReasonTooManySiblings:
		n, _ := strconv.Atoi(md["siblings"])
		max, _ := strconv.Atoi(md["max"])
		return &TooManySiblingsError{Siblings: n, Max: max, Message: st.Message()}
	case api.ReasonObjectTooLarge:
		n, _ := strconv.Atoi(md["bytes"])
		max, _ := strconv.Atoi(md["max"])
		return &ObjectTooLargeError{Bytes: n, Max: max, Message: st.Message()}
	}
	switch st.Code() {
	case codes.InvalidArgument:
		return fmt.Errorf("%w: %s", ErrInvalidArgument, strings.TrimPrefix(st.Message(), ErrInvalidArgument.Error()+": "))
	case codes.DeadlineExceeded:
		return fmt.Errorf("%w: %s", context.DeadlineExceeded, st.Message())
	case codes.Canceled:
		return fmt.Errorf("%w: %s", context.Canceled, st.Message())
	case codes.OK:
		return nil
	}
	return &ServerError{Code: st.Code(), Message: st.Message()}
}

// ServerError is any other failure a node answered with (its gRPC code and
// message), e.g. a refused membership change.
type ServerError struct {
	Code    codes.Code
	Message string
}

func (e *ServerError) Error() string { return e.Message }

// nodeFailure reports an error that says the node itself (not the cluster)
// failed, so another endpoint may succeed. retryAmbiguous (reads) allows a
// retry when the request may have run there; a write is retried only when
// it cannot have run: the connection was never made, or the node refused it
// while shutting down, overloaded or for a full disk. (A write that may have run and is sent again would
// be applied twice: a duplicate sibling, or a value a delete cannot cover.)
func nodeFailure(err error, retryAmbiguous bool) bool {
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	reason := api.ErrorInfo(st).GetReason()
	switch st.Code() {
	case codes.Unavailable:
		switch {
		case reason == api.ReasonShuttingDown:
			return true
		case reason != "":
			return false
		}
		return retryAmbiguous || sent.Is(err)
	case codes.ResourceExhausted:
		// Overloaded: refused before it ran. Disk full: no other replica
		// took the write from the full node, so it ran nowhere.
		return reason == api.ReasonOverloaded || reason == api.ReasonDiskFull
	case codes.DeadlineExceeded:
		return retryAmbiguous
	}
	return false
}

package client

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

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
	// ErrUnauthenticated: the node requires a client certificate and none
	// was presented (WithTLS).
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrPermissionDenied: the client's certificate does not allow the call
	// (an admin call with a client certificate, an internal service).
	ErrPermissionDenied = errors.New("permission denied")
)

// Register and lock outcomes (see Client.CompareAndSet and Client.Acquire).
var (
	// ErrConditionFailed: a register change's condition did not hold, or a
	// lock is held by another or no longer by the caller. Definite: nothing
	// changed.
	ErrConditionFailed = errors.New("condition not met")
	// ErrOutcomeUnknown: a register change was sent and no definite answer
	// came back; it may apply now, later or never. Retrying it with the same
	// op id (WithOpID, WithLockOpID) applies it at most once (within the
	// register's window of recent op ids).
	ErrOutcomeUnknown = errors.New("outcome unknown")
	// ErrFenced: a fenced write carried a lock token older than one the
	// register has seen (*FencedError says which). Definite: nothing changed.
	ErrFenced = errors.New("fenced: a newer lock token exists")
	// ErrLockHeld: Acquire found the lock held by another holder
	// (*LockHeldError). errors.Is(err, ErrConditionFailed) is true too.
	ErrLockHeld = errors.New("lock held by another holder")
	// ErrLockLost: a renew or release with a token that no longer holds the
	// lock. errors.Is(err, ErrConditionFailed) is true too.
	ErrLockLost = errors.New("lock lost")
	// ErrNotANumber: Increment of a register whose value is not a decimal
	// integer, or whose sum would overflow. Definite: nothing changed.
	ErrNotANumber = errors.New("register value is not a decimal integer")
	// ErrLeaseNotFound: the lease a request named expired, was revoked or
	// never existed. A holder grants a new lease and writes its keys again.
	ErrLeaseNotFound = errors.New("lease not found")
	// ErrLeaseExpired is the cause (context.Cause) of a lease's Context
	// ending because its validity ran out before a renewal extended it; the
	// lock may still be held in the store until its ttl passes there.
	ErrLeaseExpired = errors.New("lease validity ended without a renewal")
)

// FencedError: a fenced register write was refused because the register
// has seen token Seen of lock Lock, newer than Token.
type FencedError struct {
	Lock        string
	Token, Seen uint64
}

func (e *FencedError) Error() string {
	return fmt.Sprintf("fenced: lock %q token %d is older than token %d the register has seen", e.Lock, e.Token, e.Seen)
}

// Is makes errors.Is(err, ErrFenced) true.
func (e *FencedError) Is(target error) bool { return target == ErrFenced }

// LockHeldError: Acquire found lock Name held by HeldBy with Token; try
// again after RetryAfter (0: the node gave no hint).
type LockHeldError struct {
	Name, HeldBy string
	Token        uint64
	RetryAfter   time.Duration
}

func (e *LockHeldError) Error() string {
	return fmt.Sprintf("lock %q held by %q (token %d)", e.Name, e.HeldBy, e.Token)
}

// Is makes errors.Is(err, ErrLockHeld) and errors.Is(err,
// ErrConditionFailed) true.
func (e *LockHeldError) Is(target error) bool {
	return target == ErrLockHeld || target == ErrConditionFailed
}

// conditionError is a definite refusal of a more specific kind (err, such
// as ErrLockLost) that is also ErrConditionFailed.
type conditionError struct{ err error }

func (e conditionError) Error() string   { return e.err.Error() }
func (e conditionError) Unwrap() []error { return []error{e.err, ErrConditionFailed} }

// UnavailableError: too few replicas answered for the requested consistency.
// A write that fails this way may still have been stored on some replicas.
//
// For a register or lock request it is definite: nothing was applied (no
// accept left the proposer), either because too few replicas answered or,
// with Contended, because competing rounds kept it from running until its
// deadline. Retrying is safe.
type UnavailableError struct {
	Op           string // "read" or "write"
	Required     int
	Acknowledged int
	// Joining lists the members still joining when the ring is forming
	// (`quorumkv ring wait` waits for them).
	Joining []string
	// Contended: a register request met competing rounds (reason
	// CONTENDED) rather than too few replicas.
	Contended bool
	Message   string
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
// endpoint it had. For a register or lock change it is definite — nothing
// was applied: a change that may have run on a node that failed is reported
// as ErrOutcomeUnknown instead.
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
	case api.ReasonContended:
		return &UnavailableError{Op: "write", Contended: true, Message: st.Message()}
	case api.ReasonOutcomeUnknown:
		return fmt.Errorf("%w: %s", ErrOutcomeUnknown, st.Message())
	case api.ReasonFenced:
		token, _ := strconv.ParseUint(md["token"], 10, 64)
		seen, _ := strconv.ParseUint(md["seen"], 10, 64)
		return &FencedError{Lock: md["lock"], Token: token, Seen: seen}
	case api.ReasonNotANumber:
		return fmt.Errorf("%w: %s", ErrNotANumber, st.Message())
	case api.ReasonLeaseNotFound:
		return fmt.Errorf("%w: %s", ErrLeaseNotFound, st.Message())
	}
	switch st.Code() {
	case codes.InvalidArgument:
		return fmt.Errorf("%w: %s", ErrInvalidArgument, strings.TrimPrefix(st.Message(), ErrInvalidArgument.Error()+": "))
	case codes.Unauthenticated:
		return fmt.Errorf("%w: %s", ErrUnauthenticated, st.Message())
	case codes.PermissionDenied:
		return fmt.Errorf("%w: %s", ErrPermissionDenied, st.Message())
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

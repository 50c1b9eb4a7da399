package peer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/coordinator"
	"github.com/quorumkv/quorumkv/internal/sent"
	"github.com/quorumkv/quorumkv/replica"
	"github.com/quorumkv/quorumkv/vclock"
)

// ToStatus maps an error to the gRPC status a client sees. This is the only
// place errors become codes.
func ToStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err // already a status (e.g. from a forwarded request)
	}
	var unavail *coordinator.UnavailableError
	var sibs *replica.TooManySiblingsError
	var notRep *replica.NotReplicaError
	var tooLarge *replica.ObjectTooLargeError
	var overloaded *coordinator.OverloadedError
	switch {
	case errors.As(err, &unavail):
		md := map[string]string{
			"op":           unavail.Op,
			"required":     strconv.Itoa(unavail.Required),
			"acknowledged": strconv.Itoa(unavail.Acknowledged),
		}
		if len(unavail.Joining) > 0 {
			md["joining"] = strings.Join(unavail.Joining, ",")
		}
		code := codes.Unavailable
		if len(unavail.DiskFull) > 0 {
			// Replicas refused for a full disk: a resource is exhausted,
			// waiting for them to come back does not help.
			code = codes.ResourceExhausted
			md["disk_full"] = strings.Join(unavail.DiskFull, ",")
		}
		return withInfo(code, err.Error(), api.ReasonQuorumUnavailable, md)
	case isDiskFull(err):
		return withInfo(codes.ResourceExhausted, err.Error(), api.ReasonDiskFull, nil)
	case errors.As(err, &sibs):
		return withInfo(codes.FailedPrecondition, err.Error(), api.ReasonTooManySiblings, map[string]string{
			"siblings": strconv.Itoa(sibs.Siblings),
			"max":      strconv.Itoa(sibs.Max),
		})
	case errors.As(err, &tooLarge):
		return withInfo(codes.FailedPrecondition, err.Error(), api.ReasonObjectTooLarge, map[string]string{
			"bytes": strconv.Itoa(tooLarge.Bytes),
			"max":   strconv.Itoa(tooLarge.Max),
		})
	case errors.As(err, &overloaded):
		return withInfo(codes.ResourceExhausted, err.Error(), api.ReasonOverloaded, map[string]string{
			"max": strconv.Itoa(overloaded.Max),
		})
	case errors.Is(err, coordinator.ErrInvalidArgument), errors.Is(err, vclock.ErrMalformedContext),
		errors.Is(err, replica.ErrBadWrite):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.As(err, &notRep):
		return withInfo(codes.FailedPrecondition, err.Error(), api.ReasonNotReplica, map[string]string{
			"epoch": strconv.FormatUint(notRep.Epoch, 10),
		})
	case errors.Is(err, coordinator.ErrNotReplica), errors.Is(err, replica.ErrNotReplica):
		return withInfo(codes.FailedPrecondition, err.Error(), api.ReasonNotReplica, nil)
	case errors.Is(err, replica.ErrNotReady):
		return withInfo(codes.FailedPrecondition, err.Error(), api.ReasonNotReady, nil)
	case errors.Is(err, coordinator.ErrClosed), errors.Is(err, replica.ErrClosed):
		return withInfo(codes.Unavailable, "node is shutting down", api.ReasonShuttingDown, nil)
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

func withInfo(code codes.Code, msg, reason string, md map[string]string) error {
	st := status.New(code, msg)
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: api.Domain, Metadata: md}); err == nil {
		st = d
	}
	return st.Err()
}

// fromStatus turns a peer's error back into coordinator errors, so the
// coordinator can tell "could not reach it" from "it answered no".
func fromStatus(node string, err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	info := api.ErrorInfo(st)
	reason := ""
	if info != nil {
		reason = info.GetReason()
	}
	switch {
	case reason == api.ReasonNotReplica:
		epoch, _ := strconv.ParseUint(info.GetMetadata()["epoch"], 10, 64)
		return &peerNotReplica{replica.NotReplicaError{Node: node, Epoch: epoch}}
	case reason == api.ReasonNotReady:
		return fmt.Errorf("node %s: %w", node, replica.ErrNotReady)
	case reason == api.ReasonQuorumUnavailable:
		md := info.GetMetadata()
		req, _ := strconv.Atoi(md["required"])
		acked, _ := strconv.Atoi(md["acknowledged"])
		ue := &coordinator.UnavailableError{Op: md["op"], Required: req, Acknowledged: acked}
		if j := md["joining"]; j != "" {
			ue.Joining = strings.Split(j, ",")
		}
		if d := md["disk_full"]; d != "" {
			ue.DiskFull = strings.Split(d, ",")
		}
		return ue
	case reason == api.ReasonDiskFull:
		return &peerDiskFull{node: node}
	case st.Code() == codes.Unavailable:
		return &unreachableError{node: node, cause: err}
	}
	return err // other statuses pass through to the client unchanged
}

// fromStatus is fromStatus for a peer's answer: a refusal from a newer
// ring epoch than this node's makes it catch up with that peer.
func (t *Transport) fromStatus(node string, err error) error {
	t.learnFrom(node, err)
	return fromStatus(node, err)
}

// learnFrom notes the ring epoch a peer's refusal carries.
func (t *Transport) learnFrom(node string, err error) {
	if st, ok := status.FromError(err); ok {
		if info := api.ErrorInfo(st); info != nil && info.GetReason() == api.ReasonNotReplica {
			if epoch, perr := strconv.ParseUint(info.GetMetadata()["epoch"], 10, 64); perr == nil {
				t.Learn(node, epoch)
			}
		}
	}
}

// fromForwardStatus is fromStatus for a forwarded write: a broken
// connection counts as unreachable (try the next replica) only if the
// request never left — otherwise it may have run there, and running it on
// another replica too would apply it twice.
func fromForwardStatus(node string, err error) error {
	st, ok := status.FromError(err)
	if ok && st.Code() == codes.Unavailable && api.ErrorInfo(st) == nil && !sent.Is(err) {
		return status.Errorf(codes.Unavailable, "forwarded write to %s failed and may have been applied: %s", node, st.Message())
	}
	return fromStatus(node, err)
}

type unreachableError struct {
	node  string
	cause error
}

func (e *unreachableError) Error() string {
	return "node " + e.node + " unreachable: " + e.cause.Error()
}
func (e *unreachableError) Unwrap() []error { return []error{coordinator.ErrUnreachable, e.cause} }

package node

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/coordinator"
	"github.com/quorumkv/quorumkv/paxos"
	"github.com/quorumkv/quorumkv/peer"
	"github.com/quorumkv/quorumkv/serial"
)

// serialStatus turns a register request's error into its gRPC status:
// the code and the typed reason clients decide on.
func serialStatus(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err // a forwarded request's answer, or already mapped
	}
	var ue *serial.UnavailableError
	var overloaded *coordinator.OverloadedError
	switch {
	case errors.Is(err, serial.ErrOutcomeUnknown):
		code := codes.Unavailable
		if ctx.Err() != nil {
			code = codes.DeadlineExceeded
		}
		return withReason(code, err.Error(), api.ReasonOutcomeUnknown, nil)
	case errors.As(err, &ue):
		md := map[string]string{"op": "serial", "required": strconv.Itoa(ue.Required), "acknowledged": strconv.Itoa(ue.Acknowledged)}
		code := codes.Unavailable
		if len(ue.DiskFull) > 0 {
			code = codes.ResourceExhausted
			md["disk_full"] = strings.Join(ue.DiskFull, ",")
		}
		if len(ue.NotReady) > 0 {
			md["not_ready"] = strings.Join(ue.NotReady, ",")
		}
		return withReason(code, err.Error(), api.ReasonQuorumUnavailable, md)
	case errors.Is(err, serial.ErrContended):
		return withReason(codes.Aborted, err.Error(), api.ReasonContended, nil)
	case errors.Is(err, serial.ErrInvalid), errors.Is(err, serial.ErrValueTooLarge):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, serial.ErrClosed):
		return withReason(codes.Unavailable, "node is shutting down", api.ReasonShuttingDown, nil)
	case errors.As(err, &overloaded):
		return peer.ToStatus(err)
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

// outcomeStatus is the error a decided change's outcome answers with
// (nil: a response carries it).
func outcomeStatus(res paxos.Result, fence paxos.Fence) error {
	switch res.Outcome {
	case paxos.Fenced:
		return withReason(codes.FailedPrecondition, "fenced: the register has seen a newer token of lock "+strconv.Quote(fence.Lock),
			api.ReasonFenced, map[string]string{
				"lock": fence.Lock, "token": strconv.FormatUint(fence.Token, 10), "seen": strconv.FormatUint(res.FenceSeen, 10),
			})
	case paxos.NotANumber:
		return withReason(codes.FailedPrecondition, "the register's value is not a decimal integer, or the increment would overflow",
			api.ReasonNotANumber, nil)
	}
	return nil
}

func withReason(code codes.Code, msg, reason string, md map[string]string) error {
	st := status.New(code, msg)
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: api.Domain, Metadata: md}); err == nil {
		st = d
	}
	return st.Err()
}

// reasonOf is a status error's quorumkv reason ("" without one).
func reasonOf(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		return ""
	}
	if info := api.ErrorInfo(st); info != nil {
		return info.GetReason()
	}
	return ""
}

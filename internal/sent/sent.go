package sent

import (
	"context"
	"errors"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
)

// NotSentError is a call that failed before its request left: the node
// never saw it. It keeps the failure's gRPC status.
type NotSentError struct{ Err error }

func (e *NotSentError) Error() string { return "not sent: " + status.Convert(e.Err).Message() }

func (e *NotSentError) Unwrap() error { return e.Err }

// GRPCStatus is the wrapped failure's status (UNAVAILABLE for a failed
// connection).
func (e *NotSentError) GRPCStatus() *status.Status {
	st := status.Convert(e.Err)
	if st.Code() == codes.Unknown {
		return status.New(codes.Unavailable, st.Message())
	}
	return st
}

// Wrap returns err as a NotSentError (nil stays nil).
func Wrap(err error) error {
	if err == nil || Is(err) {
		return err
	}
	return &NotSentError{Err: err}
}

// Is reports a failure before the request left.
func Is(err error) bool {
	var ns *NotSentError
	return errors.As(err, &ns)
}

// DialOptions make every unary call on a connection fail with a
// NotSentError when its request never left.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithStatsHandler(handler{}), grpc.WithChainUnaryInterceptor(unary)}
}

func unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	ctx, f := track(ctx)
	err := invoker(ctx, method, req, reply, cc, opts...)
	if err != nil && !f.Load() {
		return Wrap(err)
	}
	return err
}

type flagKey struct{}

// track returns ctx carrying a flag the handler sets once the call's
// headers are on a live connection.
func track(ctx context.Context) (context.Context, *atomic.Bool) {
	f := new(atomic.Bool)
	return context.WithValue(ctx, flagKey{}, f), f
}

// handler is a stats.Handler that marks tracked calls as sent.
type handler struct{}

func (handler) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

func (handler) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if _, ok := s.(*stats.OutHeader); !ok {
		return
	}
	if f, ok := ctx.Value(flagKey{}).(*atomic.Bool); ok {
		f.Store(true)
	}
}

func (handler) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (handler) HandleConn(context.Context, stats.ConnStats) {}

package client

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/internal/sent"
)

// singleFake answers unary calls with err (a result when nil) and counts
// them.
type singleFake struct {
	calls atomic.Int32
	err   error
}

func (f *singleFake) call(_ context.Context, _ *api.StreamOp) (*api.StreamResult, error) {
	f.calls.Add(1)
	if f.err != nil {
		return nil, f.err
	}
	return &api.StreamResult{Result: &api.StreamResult_Put{Put: &api.PutResponse{Context: "alone"}}}, nil
}

// TestLargeOperationGoesAlone: an operation larger than api.BatchBytes
// leaves as a unary call, never on the stream; one of api.BatchBytes and
// smaller ones take the stream. A refusal comes back as the client's typed
// error.
func TestLargeOperationGoesAlone(t *testing.T) {
	n := &fakeNode{name: "n1"}
	c := fakeClient(t, fastResponsiveness(), never, n)
	f := &singleFake{}
	c.endpoints[0].mux.single = f.call
	ctx := testCtx(t)
	value := func(size int) []byte { return make([]byte, size-len("k")) } // key and value make size
	if res, err := c.Put(ctx, []byte("k"), value(api.BatchBytes+1)); err != nil || res.Context != "alone" {
		t.Fatalf("large put: %v, %+v", err, res)
	}
	if f.calls.Load() != 1 || n.ops.Load() != 0 {
		t.Fatalf("large put: %d unary calls, %d streamed ops; want 1, 0", f.calls.Load(), n.ops.Load())
	}
	if _, err := c.Put(ctx, []byte("k"), value(api.BatchBytes)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, []byte("k")); err != nil {
		t.Fatal(err)
	}
	if f.calls.Load() != 1 || n.ops.Load() != 2 {
		t.Fatalf("small ops: %d unary calls, %d streamed ops; want 1, 2", f.calls.Load(), n.ops.Load())
	}
	f.err = status.Error(codes.InvalidArgument, "request too large")
	_, err := c.Put(ctx, []byte("k"), value(api.BatchBytes+1))
	if !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("refused large put: %v, want an invalid argument", err)
	}
}

// TestLargeWriteRetryRules: a large write goes to the next endpoint only
// when it cannot have run (never sent), as on the stream.
func TestLargeWriteRetryRules(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      error
		retried  bool
		wantCode codes.Code
	}{
		{"sent and lost", status.Error(codes.Unavailable, "connection reset"), false, codes.Unavailable},
		{"never sent", sent.Wrap(status.Error(codes.Unavailable, "dial failed")), true, codes.OK},
		{"too large for gRPC", status.Error(codes.ResourceExhausted, "message larger than max"), false, codes.InvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeClient(t, fastResponsiveness(), never, &fakeNode{name: "n1"}, &fakeNode{name: "n2"})
			first, second := &singleFake{err: singleError(tc.err, 1)}, &singleFake{}
			c.endpoints[0].mux.single, c.endpoints[1].mux.single = first.call, second.call
			_, err := c.Put(testCtx(t), []byte("k"), make([]byte, api.BatchBytes+1))
			if got := second.calls.Load() == 1; got != tc.retried {
				t.Fatalf("retried on n2: %v, want %v (err %v)", got, tc.retried, err)
			}
			switch {
			case tc.wantCode == codes.OK && err != nil:
				t.Fatalf("put: %v", err)
			case tc.wantCode == codes.InvalidArgument && !errors.Is(err, ErrInvalidArgument):
				t.Fatalf("put: %v, want an invalid argument", err)
			case tc.wantCode == codes.Unavailable:
				var se *ServerError
				if !errors.As(err, &se) || se.Code != codes.Unavailable {
					t.Fatalf("put: %v, want UNAVAILABLE", err)
				}
			}
		})
	}
}

// TestCloseEndsLargeCall: closing the client ends a unary call in
// progress (goleak checks nothing outlives it).
func TestCloseEndsLargeCall(t *testing.T) {
	m := newMux((&fakeNode{name: "n1", out: make(chan *api.StreamResponse, 1)}).open, true, nil)
	started := make(chan struct{})
	m.single = func(ctx context.Context, _ *api.StreamOp) (*api.StreamResult, error) {
		close(started)
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	o, err := m.start(context.Background(), &api.StreamOp{Op: &api.StreamOp_Put{Put: &api.PutRequest{Key: []byte("k"), Value: make([]byte, api.BatchBytes)}}})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	m.close()
	if r := <-o.done; status.Code(r.err) != codes.Canceled {
		t.Fatalf("call after close: %v, want CANCELED", r.err)
	}
	if _, err := m.start(context.Background(), o.op); status.Code(err) != codes.Canceled {
		t.Fatalf("start after close: %v, want CANCELED", err)
	}
}

// TestSingleError: only a reason-less RESOURCE_EXHAUSTED (gRPC's message
// size limit) becomes INVALID_ARGUMENT; a refusal with a reason keeps it.
func TestSingleError(t *testing.T) {
	overloaded, err := status.New(codes.ResourceExhausted, "overloaded").WithDetails(&errdetails.ErrorInfo{Domain: api.Domain, Reason: api.ReasonOverloaded})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in   error
		want codes.Code
	}{
		{status.Error(codes.ResourceExhausted, "too large"), codes.InvalidArgument},
		{sent.Wrap(status.Error(codes.ResourceExhausted, "too large to send")), codes.InvalidArgument},
		{overloaded.Err(), codes.ResourceExhausted},
		{status.Error(codes.Unavailable, "gone"), codes.Unavailable},
		{status.Error(codes.InvalidArgument, "value too large"), codes.InvalidArgument},
	} {
		if got := status.Code(singleError(tc.in, 10)); got != tc.want {
			t.Errorf("singleError(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if st := status.Convert(singleError(overloaded.Err(), 10)); api.ErrorInfo(st).GetReason() != api.ReasonOverloaded {
		t.Error("the overloaded reason was lost")
	}
}

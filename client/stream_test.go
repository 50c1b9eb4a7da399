package client

import (
	"io"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/api"
)

func putOp(size int) *muxOp {
	return &muxOp{op: &api.StreamOp{Op: &api.StreamOp_Put{Put: &api.PutRequest{Value: make([]byte, size)}}}}
}

func getOp() *muxOp {
	return &muxOp{op: &api.StreamOp{Op: &api.StreamOp_Get{Get: &api.GetRequest{}}}}
}

// TestBatchLen: a batch closes at muxBatchMax operations or before the
// operation that would take its values past api.BatchBytes, and always
// takes at least one.
func TestBatchLen(t *testing.T) {
	many := func(n int, op func() *muxOp) []*muxOp {
		q := make([]*muxOp, n)
		for i := range q {
			q[i] = op()
		}
		return q
	}
	mib := func() *muxOp { return putOp(1 << 20) }
	for _, tc := range []struct {
		name  string
		queue []*muxOp
		want  int
	}{
		{"empty", nil, 0},
		{"few small", many(3, getOp), 3},
		{"count bound", many(muxBatchMax+5, getOp), muxBatchMax},
		{"byte bound", many(10, mib), 4},
		{"one huge alone", []*muxOp{putOp(api.BatchBytes * 2), getOp()}, 1},
		{"huge after small", []*muxOp{getOp(), putOp(api.BatchBytes * 2), getOp()}, 1},
		{"never past the byte bound", []*muxOp{putOp(api.BatchBytes - 1000), putOp(3 << 20)}, 1},
		{"up to the byte bound", []*muxOp{putOp(api.BatchBytes - 1000), putOp(1000)}, 2},
	} {
		if got := batchLen(tc.queue); got != tc.want {
			t.Errorf("%s: batchLen = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestStreamError: a stream that ended (io.EOF from Send or Recv) reads as
// UNAVAILABLE; real statuses pass through.
func TestStreamError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want codes.Code
	}{
		{io.EOF, codes.Unavailable},
		{io.ErrUnexpectedEOF, codes.Unavailable},
		{status.Error(codes.Unavailable, "x"), codes.Unavailable},
		{status.Error(codes.DeadlineExceeded, "x"), codes.DeadlineExceeded},
		{status.Error(codes.InvalidArgument, "x"), codes.InvalidArgument},
	} {
		if got := status.Code(streamError(tc.err)); got != tc.want {
			t.Errorf("streamError(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

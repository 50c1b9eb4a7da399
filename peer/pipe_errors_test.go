package peer

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/coordinator"
	"github.com/quorumkv/quorumkv/replica"
)

// TestPipeErrorsKeepTheirSentinels: a replica's failure crosses the pipe
// as an item status and is the same sentinel on the sender's side.
func TestPipeErrorsKeepTheirSentinels(t *testing.T) {
	for _, want := range []error{replica.ErrClosed, replica.ErrBadWrite, replica.ErrNotReady, replica.ErrDiskFull, coordinator.ErrDiskFull} {
		var got pipeResult
		op := &pipeOp{done: func(r pipeResult) { got = r }}
		remote := fmt.Errorf("apply: %w", want)
		deliver("n2", []*pipeOp{op}, &api.PipeResponse{Errors: []string{remote.Error()}, Status: []api.ItemStatus{ItemStatus(remote)}})
		if !errors.Is(got.err, want) {
			t.Errorf("%v crossed the pipe as %v", want, got.err)
		}
	}
	var got pipeResult
	op := &pipeOp{done: func(r pipeResult) { got = r }}
	deliver("n2", []*pipeOp{op}, &api.PipeResponse{Errors: []string{"disk on fire"}, Status: []api.ItemStatus{api.ItemStatus_ITEM_FAILED}})
	if got.err == nil || errors.Is(got.err, replica.ErrClosed) {
		t.Errorf("other failure: %v", got.err)
	}
}

// TestDiskFullStatus: a full disk is RESOURCE_EXHAUSTED with the DISK_FULL
// reason and a message saying so, and comes back on the sender as both
// sentinels (a forwarded write then tries another replica); a quorum
// missed for full disks is RESOURCE_EXHAUSTED too and keeps the names.
func TestDiskFullStatus(t *testing.T) {
	full := &replica.DiskFullError{Node: "n2", Free: 1 << 20, Reserve: 64 << 20, Known: true}
	err := ToStatus(fmt.Errorf("coordinate: %w", full))
	st, _ := status.FromError(err)
	if st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "disk full") || api.ErrorInfo(st).GetReason() != api.ReasonDiskFull {
		t.Fatalf("status %v", st)
	}
	back := fromForwardStatus("n2", err)
	if !errors.Is(back, replica.ErrDiskFull) || !errors.Is(back, coordinator.ErrDiskFull) {
		t.Fatalf("came back as %v", back)
	}

	ue := &coordinator.UnavailableError{Op: "write", Required: 3, Acknowledged: 2, DiskFull: []string{"n2"}}
	st, _ = status.FromError(ToStatus(ue))
	if st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "disk full on n2") {
		t.Fatalf("quorum status %v", st)
	}
	var got *coordinator.UnavailableError
	if !errors.As(fromStatus("n1", st.Err()), &got) || got.Acknowledged != 2 || len(got.DiskFull) != 1 || errors.Is(got, coordinator.ErrDiskFull) {
		t.Fatalf("quorum came back as %+v", got)
	}
}

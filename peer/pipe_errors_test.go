package peer

import (
	"errors"
	"fmt"
	"testing"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/replica"
)

// TestPipeErrorsKeepTheirSentinels: a replica's failure crosses the pipe
// as an item status and is the same sentinel on the sender's side.
func TestPipeErrorsKeepTheirSentinels(t *testing.T) {
	for _, want := range []error{replica.ErrClosed, replica.ErrBadWrite, replica.ErrNotReady} {
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

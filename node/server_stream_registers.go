package node

import (
	"context"

	"github.com/quorumkv/quorumkv/api"
)

// runRegisterOp runs a register or lock request of a client stream through
// the Serial and Locks services' own handlers, as the unary call would
// (ok false: op is neither).
func (s *kvServer) runRegisterOp(ctx context.Context, op *api.StreamOp) (*api.StreamResult, bool) {
	return api.RunRegisterOp(ctx, op, &serialServer{n: s.n}, &locksServer{n: s.n})
}

package peer

import (
	"context"

	"github.com/quorumkv/quorumkv/api"
)

// Leases asks node about leases it replicates (Replica.Leases): with
// req.Renew it records a keep-alive of each first.
func (t *Transport) Leases(ctx context.Context, node string, req *api.LeasePeerRequest) (*api.LeasePeerResponse, error) {
	c, err := t.client(node)
	if err != nil {
		return nil, err
	}
	resp, err := c.Leases(ctx, req)
	if err != nil {
		return nil, t.fromStatus(node, err)
	}
	return resp, nil
}

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

// ReadLog reads node's change log of a partition (Replica.ReadLog).
func (t *Transport) ReadLog(ctx context.Context, node string, req *api.ReadLogRequest) (*api.ReadLogResponse, error) {
	c, err := t.client(node)
	if err != nil {
		return nil, err
	}
	resp, err := c.ReadLog(ctx, req)
	if err != nil {
		return nil, t.fromStatus(node, err)
	}
	return resp, nil
}

// GroupKeys lists the keys node holds of a key group (Replica.GroupKeys).
func (t *Transport) GroupKeys(ctx context.Context, node string, req *api.GroupKeysRequest) (*api.GroupKeysResponse, error) {
	c, err := t.client(node)
	if err != nil {
		return nil, err
	}
	resp, err := c.GroupKeys(ctx, req)
	if err != nil {
		return nil, t.fromStatus(node, err)
	}
	return resp, nil
}

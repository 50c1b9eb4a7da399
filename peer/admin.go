package peer

import (
	"context"

	"github.com/quorumkv/quorumkv/api"
)

// NodeStatus asks node for its own state (Admin.NodeStatus): hints held,
// anti-entropy progress, repairs, a full disk, as `quorumkv ring status`
// asks every member.
func (t *Transport) NodeStatus(ctx context.Context, node string) (*api.NodeStatusResponse, error) {
	cc, err := t.conn(node)
	if err != nil {
		return nil, err
	}
	resp, err := api.NewAdminClient(cc).NodeStatus(ctx, &api.NodeStatusRequest{})
	if err != nil {
		return nil, t.fromStatus(node, err)
	}
	return resp, nil
}

// Transfers asks node for the partitions it is pulling now
// (Admin.Transfers).
func (t *Transport) Transfers(ctx context.Context, node string) (*api.TransfersResponse, error) {
	cc, err := t.conn(node)
	if err != nil {
		return nil, err
	}
	resp, err := api.NewAdminClient(cc).Transfers(ctx, &api.TransfersRequest{})
	if err != nil {
		return nil, t.fromStatus(node, err)
	}
	return resp, nil
}

package bench

import (
	"context"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The etcd driver renews a lease as etcd's own client does: a message on a
// LeaseKeepAlive stream, answered on it. The driver keeps a pool of such
// streams (one per client at most), each used by one renewal at a time.

// GrantLeases grants n leases (Lease.Grant, whole seconds).
func (d *etcdDriver) GrantLeases(ctx context.Context, n int64, ttl time.Duration) error {
	secs := max(1, int64(ttl.Round(time.Second)/time.Second))
	ids, err := grantAll(ctx, n, func(ctx context.Context) (clientv3.LeaseID, error) {
		resp, err := d.cli.Grant(ctx, secs)
		if err != nil {
			return 0, etcdError(err)
		}
		return resp.ID, nil
	})
	if err != nil {
		return err
	}
	d.leases.set(ids)
	return nil
}

// KeepAlive renews lease i on a pooled keep-alive stream.
func (d *etcdDriver) KeepAlive(ctx context.Context, i int64) error {
	id, err := d.leases.get(i)
	if err != nil {
		return err
	}
	var s pb.Lease_LeaseKeepAliveClient
	select {
	case s = <-d.streams:
	default:
		if s, err = pb.NewLeaseClient(d.cli.ActiveConnection()).LeaseKeepAlive(context.Background()); err != nil {
			return etcdError(err)
		}
	}
	if err := s.Send(&pb.LeaseKeepAliveRequest{ID: int64(id)}); err != nil {
		return etcdError(err)
	}
	if _, err := s.Recv(); err != nil {
		return etcdError(err) // the stream is dropped
	}
	select {
	case d.streams <- s:
	default:
		_ = s.CloseSend()
	}
	return nil
}

// RevokeLeases revokes the leases granted.
func (d *etcdDriver) RevokeLeases(ctx context.Context) error {
	d.leases.mu.Lock()
	ids := d.leases.ids
	d.leases.ids = nil
	d.leases.mu.Unlock()
	return eachAll(ctx, ids, func(ctx context.Context, id clientv3.LeaseID) error {
		_, err := d.cli.Revoke(ctx, id)
		return etcdError(err)
	})
}

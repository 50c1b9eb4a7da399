package bench

import (
	"context"
	"strconv"
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

// WatchGroup watches the prefix group/ from now (created notify marks it
// ready).
func (d *etcdDriver) WatchGroup(ctx context.Context, group string, ready func(), fn func([]byte)) error {
	ch := d.cli.Watch(clientv3.WithRequireLeader(ctx), group+"/", clientv3.WithPrefix(), clientv3.WithCreatedNotify())
	for resp := range ch {
		if resp.Created {
			ready()
		}
		if err := resp.Err(); err != nil {
			return etcdError(err)
		}
		for _, ev := range resp.Events {
			if ev.Type == clientv3.EventTypePut {
				fn(ev.Kv.Value)
			}
		}
	}
	return ctx.Err()
}

// PutInGroup writes group/i.
func (d *etcdDriver) PutInGroup(ctx context.Context, group string, i int64, value []byte) error {
	_, err := d.cli.Put(ctx, group+"/"+strconv.FormatInt(i, 10), string(value))
	return etcdError(err)
}

package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/quorumkv/quorumkv/client"
)

// leaseSet is the leases a driver granted for the keepalive workload.
type leaseSet[T any] struct {
	mu  sync.RWMutex
	ids []T
}

func (s *leaseSet[T]) set(ids []T) {
	s.mu.Lock()
	s.ids = ids
	s.mu.Unlock()
}

func (s *leaseSet[T]) get(i int64) (T, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var zero T
	if i < 0 || i >= int64(len(s.ids)) {
		return zero, fmt.Errorf("bench: lease %d of %d", i, len(s.ids))
	}
	return s.ids[i], nil
}

// grantAll grants n leases with grant, 32 at a time.
func grantAll[T any](ctx context.Context, n int64, grant func(context.Context) (T, error)) ([]T, error) {
	ids := make([]T, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	for i := range n {
		g.Go(func() (err error) {
			ids[i], err = grant(gctx)
			return err
		})
	}
	return ids, g.Wait()
}

// GrantLeases grants n leases (Leases.Grant).
func (d *quorumkvDriver) GrantLeases(ctx context.Context, n int64, ttl time.Duration) error {
	ids, err := grantAll(ctx, n, func(ctx context.Context) (client.LeaseID, error) {
		info, err := d.c.GrantLease(ctx, ttl)
		if err != nil {
			return 0, err
		}
		return info.ID, nil
	})
	if err != nil {
		return err
	}
	d.leases.set(ids)
	return nil
}

// KeepAlive renews lease i (Leases.KeepAlive).
func (d *quorumkvDriver) KeepAlive(ctx context.Context, i int64) error {
	id, err := d.leases.get(i)
	if err != nil {
		return err
	}
	_, err = d.c.KeepAliveLease(ctx, id)
	return err
}

// eachAll runs fn on every id, 32 at a time.
func eachAll[T any](ctx context.Context, ids []T, fn func(context.Context, T) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	for _, id := range ids {
		g.Go(func() error { return fn(gctx, id) })
	}
	return g.Wait()
}

// RevokeLeases revokes the leases granted.
func (d *quorumkvDriver) RevokeLeases(ctx context.Context) error {
	d.leases.mu.Lock()
	ids := d.leases.ids
	d.leases.ids = nil
	d.leases.mu.Unlock()
	return eachAll(ctx, ids, func(ctx context.Context, id client.LeaseID) error {
		_, err := d.c.RevokeLease(ctx, id)
		if errors.Is(err, client.ErrLeaseNotFound) {
			return nil
		}
		return err
	})
}

// WatchGroup watches group (Watch) and passes on each put's first value.
func (d *quorumkvDriver) WatchGroup(ctx context.Context, group string, ready func(), fn func([]byte)) error {
	return d.c.Watch(ctx, client.WatchSpec{Group: group}, func(ev client.WatchEvent) error {
		switch {
		case ev.Type == "progress":
			ready()
		case ev.Type == "put" && len(ev.Values) > 0:
			fn(ev.Values[0])
		}
		return nil
	})
}

// PutInGroup writes w/{group}/i, blind (a fresh key).
func (d *quorumkvDriver) PutInGroup(ctx context.Context, group string, i int64, value []byte) error {
	_, err := d.c.Put(ctx, []byte(fmt.Sprintf("w/{%s}/%d", group, i)), value)
	return err
}

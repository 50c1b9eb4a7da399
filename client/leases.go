package client

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/quorumkv/quorumkv/api"
)

// LeaseID names a lease (Leases.Grant); its text form is 16 hexadecimal
// digits.
type LeaseID uint64

func (id LeaseID) String() string { return fmt.Sprintf("%016x", uint64(id)) }

// ParseLeaseID reads a lease id as LeaseID.String writes it.
func ParseLeaseID(s string) (LeaseID, error) {
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil || v == 0 || len(s) > 16 {
		return 0, fmt.Errorf("%w: lease id %q: want 1 to 16 hexadecimal digits, not all zero", ErrInvalidArgument, s)
	}
	return LeaseID(v), nil
}

// LeaseInfo is a lease as Grant, KeepAlive and Show return it.
type LeaseInfo struct {
	ID  LeaseID
	TTL time.Duration
	// Remaining (Show): the ttl less the time since the latest renewal a
	// replica saw.
	Remaining time.Duration
	// Acks (KeepAlive): the replicas that recorded the renewal.
	Acks int
	// Keys (Show): the keys attached to the lease.
	Keys [][]byte
}

// WithLease attaches a put's key to a lease: the key is deleted when the
// lease expires or is revoked. A put naming a lease that does not exist
// fails with ErrLeaseNotFound.
func WithLease(id LeaseID) CallOption { return func(c *call) { c.lease = id } }

// GrantLease creates a lease of the given ttl (500 ms to 24 h).
func (c *Client) GrantLease(ctx context.Context, ttl time.Duration) (*LeaseInfo, error) {
	var resp *api.LeaseGrantResponse
	err := c.leaseDo(ctx, false, func(ctx context.Context, l api.LeasesClient) (err error) {
		resp, err = l.Grant(ctx, &api.LeaseGrantRequest{TtlMs: uint64(ttl.Milliseconds())})
		return err
	})
	if err != nil {
		return nil, err
	}
	return &LeaseInfo{ID: LeaseID(resp.GetLease()), TTL: time.Duration(resp.GetTtlMs()) * time.Millisecond}, nil
}

// KeepAliveLease renews a lease once. Renew every ttl/3 or so (Lease does).
func (c *Client) KeepAliveLease(ctx context.Context, id LeaseID) (*LeaseInfo, error) {
	var resp *api.LeaseKeepAliveResponse
	err := c.leaseDo(ctx, true, func(ctx context.Context, l api.LeasesClient) (err error) {
		resp, err = l.KeepAlive(ctx, &api.LeaseKeepAliveRequest{Lease: uint64(id)})
		return err
	})
	if err != nil {
		return nil, err
	}
	return &LeaseInfo{ID: id, TTL: time.Duration(resp.GetTtlMs()) * time.Millisecond, Acks: int(resp.GetAcks())}, nil
}

// RevokeLease deletes a lease and every key attached to it, and returns
// how many keys it deleted.
func (c *Client) RevokeLease(ctx context.Context, id LeaseID) (int, error) {
	var resp *api.LeaseRevokeResponse
	err := c.leaseDo(ctx, true, func(ctx context.Context, l api.LeasesClient) (err error) {
		resp, err = l.Revoke(ctx, &api.LeaseRevokeRequest{Lease: uint64(id)})
		return err
	})
	if err != nil {
		return 0, err
	}
	return int(resp.GetKeys()), nil
}

// ShowLease describes a lease: its ttl, the time left and its keys.
func (c *Client) ShowLease(ctx context.Context, id LeaseID) (*LeaseInfo, error) {
	var resp *api.LeaseShowResponse
	err := c.leaseDo(ctx, true, func(ctx context.Context, l api.LeasesClient) (err error) {
		resp, err = l.Show(ctx, &api.LeaseShowRequest{Lease: uint64(id)})
		return err
	})
	if err != nil {
		return nil, err
	}
	return &LeaseInfo{ID: id, TTL: time.Duration(resp.GetTtlMs()) * time.Millisecond,
		Remaining: time.Duration(resp.GetRemainingMs()) * time.Millisecond, Keys: resp.GetKeys()}, nil
}

// leaseDo runs a Leases call with failover; idempotent calls (keep-alive,
// revoke, show) are retried on another node after an ambiguous failure.
func (c *Client) leaseDo(ctx context.Context, idempotent bool, fn func(context.Context, api.LeasesClient) error) error {
	err := c.do(ctx, idempotent, func(ctx context.Context, e endpoint) error {
		return fn(ctx, e.leases)
	})
	return err
}

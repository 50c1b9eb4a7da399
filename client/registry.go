package client

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/quorumkv/quorumkv/api"
)

// Instance is one registered endpoint of a service.
type Instance struct {
	ID       string
	Address  string
	Metadata map[string]string
	Lease    LeaseID
}

func instanceOf(p *api.Instance) Instance {
	return Instance{ID: p.GetId(), Address: p.GetAddress(), Metadata: p.GetMetadata(), Lease: LeaseID(p.GetLease())}
}

func instancesOf(ps []*api.Instance) []Instance {
	out := make([]Instance, len(ps))
	for i, p := range ps {
		out[i] = instanceOf(p)
	}
	return out
}

// RegisterOnce registers in under service once: on in.Lease, or on a new
// lease of ttl when in.Lease is 0. It returns the lease; nothing renews it
// (Register does).
func (c *Client) RegisterOnce(ctx context.Context, service string, in Instance, ttl time.Duration) (*LeaseInfo, error) {
	var resp *api.RegisterResponse
	req := &api.RegisterRequest{Service: service, TtlMs: uint64(ttl.Milliseconds()),
		Instance: &api.Instance{Id: in.ID, Address: in.Address, Metadata: in.Metadata, Lease: uint64(in.Lease)}}
	err := c.do(ctx, false, func(ctx context.Context, e endpoint) (err error) {
		resp, err = api.NewRegistryClient(e.cc).Register(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &LeaseInfo{ID: LeaseID(resp.GetLease()), TTL: time.Duration(resp.GetTtlMs()) * time.Millisecond}, nil
}

// Deregister removes instance id of service; found reports it was there.
func (c *Client) Deregister(ctx context.Context, service, id string) (found bool, err error) {
	var resp *api.DeregisterResponse
	err = c.do(ctx, true, func(ctx context.Context, e endpoint) (err error) {
		resp, err = api.NewRegistryClient(e.cc).Deregister(ctx, &api.DeregisterRequest{Service: service, Id: id})
		return err
	})
	return resp.GetFound(), err
}

// ListService returns service's live instances, by id.
func (c *Client) ListService(ctx context.Context, service string) ([]Instance, error) {
	var resp *api.ListResponse
	err := c.do(ctx, true, func(ctx context.Context, e endpoint) (err error) {
		resp, err = api.NewRegistryClient(e.cc).List(ctx, &api.ListRequest{Service: service})
		return err
	})
	if err != nil {
		return nil, err
	}
	return instancesOf(resp.GetInstances()), nil
}

// WatchService calls fn with service's full instance set, first as it is
// and then after every change, until ctx ends (nil) or fn fails (its
// error). It goes on through another node after a failure and lists again
// by itself after COMPACTED: fn may see the same set twice, never an
// error of the watch.
func (c *Client) WatchService(ctx context.Context, service string, fn func([]Instance) error) error {
	var from string
	pause := 100 * time.Millisecond
	for i := c.streamStart(); ; i++ {
		e := c.endpoints[i%len(c.endpoints)]
		err := c.watchServiceOn(ctx, e, service, &from, fn)
		var fe fnError
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.As(err, &fe):
			return fe.err
		case errors.Is(err, ErrInvalidArgument):
			return err
		case errors.Is(err, ErrCompacted):
			from = "" // list again: the first event is the full set
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(pause):
		}
		pause = min(2*pause, time.Second)
	}
}

func (c *Client) watchServiceOn(ctx context.Context, e endpoint, service string, from *string, fn func([]Instance) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := api.NewRegistryClient(e.cc).Watch(ctx, &api.RegistryWatchRequest{Service: service, From: *from})
	if err != nil {
		return watchErr(err)
	}
	for {
		ev, err := stream.Recv()
		if err != nil {
			return watchErr(err)
		}
		*from = ev.GetToken()
		if err := fn(instancesOf(ev.GetInstances())); err != nil {
			return fnError{err}
		}
	}
}

// Registration is an instance Register keeps alive; Close deregisters it.
type Registration struct {
	c       *Client
	service string
	in      Instance
	ttl     time.Duration
	cancel  context.CancelFunc
	done    chan struct{}

	mu    sync.Mutex
	lease LeaseID
	err   error
}

// Register registers in under service on a new lease of ttl and keeps it
// alive (a keep-alive every ttl/3) until Close. When the lease is found
// gone (it expired while this process could not reach the cluster), it
// registers again on a new lease.
func (c *Client) Register(ctx context.Context, service string, in Instance, ttl time.Duration) (*Registration, error) {
	in.Lease = 0
	info, err := c.RegisterOnce(ctx, service, in, ttl)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.Background())
	r := &Registration{c: c, service: service, in: in, ttl: info.TTL, cancel: cancel, done: make(chan struct{}), lease: info.ID}
	go r.keepAlive(rctx)
	return r, nil
}

// Lease is the lease the instance is registered on now.
func (r *Registration) Lease() LeaseID {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lease
}

func (r *Registration) keepAlive(ctx context.Context) {
	defer close(r.done)
	t := time.NewTicker(max(100*time.Millisecond, r.ttl/3))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, r.ttl/3+time.Second)
		_, err := r.c.KeepAliveLease(cctx, r.Lease())
		if errors.Is(err, ErrLeaseNotFound) {
			var info *LeaseInfo
			if info, err = r.c.RegisterOnce(cctx, r.service, r.in, r.ttl); err == nil {
				r.mu.Lock()
				r.lease = info.ID
				r.mu.Unlock()
			}
		}
		cancel()
		r.mu.Lock()
		r.err = err
		r.mu.Unlock()
	}
}

// Close stops the keep-alives and revokes the lease, which deregisters
// the instance (and any other key written with it) at once.
func (r *Registration) Close(ctx context.Context) error {
	r.cancel()
	<-r.done
	_, err := r.c.RevokeLease(ctx, r.Lease())
	if errors.Is(err, ErrLeaseNotFound) {
		return nil
	}
	return err
}

package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
)

// The etcd driver is etcd's own Go client (clientv3), as an etcd user would
// run it: it spreads requests over the endpoints (a member forwards writes
// and linearizable reads to the leader itself).

// EtcdOptions configure the etcd driver.
type EtcdOptions struct {
	Endpoints []string
	// Serializable reads answer from the member's local state (no quorum
	// round); the default is linearizable.
	Serializable bool
	// DialTimeout bounds connecting (default 5s).
	DialTimeout time.Duration
}

type etcdDriver struct {
	cli     *clientv3.Client
	getOpts []clientv3.OpOption
	// leases and streams serve the keepalive workload (etcd_lease.go).
	leases  leaseSet[clientv3.LeaseID]
	streams chan pb.Lease_LeaseKeepAliveClient
}

// NewEtcd connects an etcd driver.
func NewEtcd(o EtcdOptions) (Driver, error) {
	if len(o.Endpoints) == 0 {
		return nil, errors.New("etcd: no endpoints")
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = 5 * time.Second
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   o.Endpoints,
		DialTimeout: o.DialTimeout,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return nil, err
	}
	d := &etcdDriver{cli: cli, streams: make(chan pb.Lease_LeaseKeepAliveClient, 256)}
	if o.Serializable {
		d.getOpts = append(d.getOpts, clientv3.WithSerializable())
	}
	return d, nil
}

func (d *etcdDriver) Get(ctx context.Context, key []byte) (Result, error) {
	resp, err := d.cli.Get(ctx, string(key), d.getOpts...)
	if err != nil {
		return Result{}, etcdError(err)
	}
	if len(resp.Kvs) == 0 {
		return Result{}, nil
	}
	return Result{Found: true, Values: 1, Token: Token(strconv.FormatInt(resp.Kvs[0].ModRevision, 10))}, nil
}

// Put overwrites (last writer wins): the token is not checked.
func (d *etcdDriver) Put(ctx context.Context, key, value []byte, _ Token) (Result, error) {
	resp, err := d.cli.Put(ctx, string(key), string(value))
	if err != nil {
		return Result{}, etcdError(err)
	}
	return Result{Found: true, Values: 1, Token: Token(strconv.FormatInt(resp.Header.GetRevision(), 10))}, nil
}

func (d *etcdDriver) Close() error { return d.cli.Close() }

// etcdError marks etcd's unavailable errors (no leader, leader changed) as
// ErrUnavailable; clientv3 turns gRPC statuses into its own error type.
func etcdError(err error) error {
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) && ee.Code() == codes.Unavailable {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return err
}

package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protowire"
)

// The etcd driver speaks etcd's v3 gRPC API (etcdserverpb.KV Range and Put,
// the calls clientv3's Get and Put make) with its few messages encoded by
// hand. It does not link go.etcd.io/etcd/client/v3: etcd's generated code
// registers its mvccpb file as "kv.proto", the path quorumkv's api package
// registers too, and the protobuf runtime refuses a binary with both.
//
// Like clientv3 it spreads requests over the endpoints round-robin (a member
// forwards writes and linearizable reads to the leader itself).

// EtcdOptions configure the etcd driver.
type EtcdOptions struct {
	Endpoints []string
	// Serializable reads answer from the member's local state (no quorum
	// round); the default is linearizable.
	Serializable bool
	// DialTimeout bounds connecting (default 5s).
	DialTimeout time.Duration
}

const (
	etcdRange = "/etcdserverpb.KV/Range"
	etcdPut   = "/etcdserverpb.KV/Put"
)

type etcdDriver struct {
	conns        []*grpc.ClientConn
	next         atomic.Uint64
	serializable bool
}

// NewEtcd connects an etcd driver.
func NewEtcd(o EtcdOptions) (Driver, error) {
	if len(o.Endpoints) == 0 {
		return nil, errors.New("etcd: no endpoints")
	}
	d := &etcdDriver{serializable: o.Serializable}
	for _, ep := range o.Endpoints {
		ep = strings.TrimPrefix(strings.TrimPrefix(ep, "http://"), "https://")
		cc, err := grpc.NewClient(ep,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
		if err != nil {
			_ = d.Close()
			return nil, err
		}
		d.conns = append(d.conns, cc)
	}
	return d, nil
}

func (d *etcdDriver) conn() *grpc.ClientConn {
	return d.conns[(d.next.Add(1)-1)%uint64(len(d.conns))]
}

func (d *etcdDriver) Get(ctx context.Context, key []byte) (Result, error) {
	req := protowire.AppendTag(nil, 1, protowire.BytesType) // RangeRequest.key
	req = protowire.AppendBytes(req, key)
	if d.serializable {
		req = protowire.AppendTag(req, 7, protowire.VarintType) // RangeRequest.serializable
		req = protowire.AppendVarint(req, 1)
	}
	var resp rawMessage
	if err := d.conn().Invoke(ctx, etcdRange, rawMessage(req), &resp); err != nil {
		return Result{}, err
	}
	kv, found, err := firstField(resp, 2) // RangeResponse.kvs
	if err != nil || !found {
		return Result{}, err
	}
	rev, _, err := varintField(kv, 3) // KeyValue.mod_revision
	if err != nil {
		return Result{}, err
	}
	return Result{Found: true, Values: 1, Token: Token(strconv.FormatUint(rev, 10))}, nil
}

// Put overwrites (last writer wins): the token is not checked.
func (d *etcdDriver) Put(ctx context.Context, key, value []byte, _ Token) (Result, error) {
	req := protowire.AppendTag(nil, 1, protowire.BytesType) // PutRequest.key
	req = protowire.AppendBytes(req, key)
	req = protowire.AppendTag(req, 2, protowire.BytesType) // PutRequest.value
	req = protowire.AppendBytes(req, value)
	var resp rawMessage
	if err := d.conn().Invoke(ctx, etcdPut, rawMessage(req), &resp); err != nil {
		return Result{}, err
	}
	var rev uint64
	if hdr, ok, err := firstField(resp, 1); err != nil { // PutResponse.header
		return Result{}, err
	} else if ok {
		if rev, _, err = varintField(hdr, 3); err != nil { // ResponseHeader.revision
			return Result{}, err
		}
	}
	return Result{Found: true, Values: 1, Token: Token(strconv.FormatUint(rev, 10))}, nil
}

func (d *etcdDriver) Close() error {
	var errs []error
	for _, cc := range d.conns {
		errs = append(errs, cc.Close())
	}
	return errors.Join(errs...)
}

// rawMessage is an encoded protobuf message.
type rawMessage []byte

// rawCodec passes rawMessages through untouched.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) ([]byte, error) {
	m, ok := v.(rawMessage)
	if !ok {
		return nil, fmt.Errorf("rawCodec: cannot marshal %T", v)
	}
	return m, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	m, ok := v.(*rawMessage)
	if !ok {
		return fmt.Errorf("rawCodec: cannot unmarshal into %T", v)
	}
	*m = append((*m)[:0], data...)
	return nil
}

// firstField finds the first length-delimited field num of msg.
func firstField(msg []byte, num protowire.Number) ([]byte, bool, error) {
	for len(msg) > 0 {
		n, typ, l := protowire.ConsumeTag(msg)
		if l < 0 {
			return nil, false, protowire.ParseError(l)
		}
		msg = msg[l:]
		if n == num && typ == protowire.BytesType {
			v, l := protowire.ConsumeBytes(msg)
			if l < 0 {
				return nil, false, protowire.ParseError(l)
			}
			return v, true, nil
		}
		l = protowire.ConsumeFieldValue(n, typ, msg)
		if l < 0 {
			return nil, false, protowire.ParseError(l)
		}
		msg = msg[l:]
	}
	return nil, false, nil
}

// varintField finds varint field num of msg.
func varintField(msg []byte, num protowire.Number) (uint64, bool, error) {
	for len(msg) > 0 {
		n, typ, l := protowire.ConsumeTag(msg)
		if l < 0 {
			return 0, false, protowire.ParseError(l)
		}
		msg = msg[l:]
		if n == num && typ == protowire.VarintType {
			v, l := protowire.ConsumeVarint(msg)
			if l < 0 {
				return 0, false, protowire.ParseError(l)
			}
			return v, true, nil
		}
		l = protowire.ConsumeFieldValue(n, typ, msg)
		if l < 0 {
			return 0, false, protowire.ParseError(l)
		}
		msg = msg[l:]
	}
	return 0, false, nil
}

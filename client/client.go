package client

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/internal/backoff"
	"github.com/quorumkv/quorumkv/internal/deadline"
	"github.com/quorumkv/quorumkv/internal/sent"
	"github.com/quorumkv/quorumkv/security"
)

// Client talks to a quorumkv cluster. It is safe for concurrent use.
type Client struct {
	opts      options
	dialOpts  []grpc.DialOption
	endpoints []endpoint
	preferred atomic.Int64 // index of the endpoint tried first
	// streams spreads long-lived streams (watches) over the endpoints:
	// each starts at the next one (from a random first), so one node does
	// not serve every watch of a client.
	streams atomic.Int64
	router  router
	closed  bool // guarded by router.mu
	// hedgeTimers times hedged gets (shared timers: a hedge a few
	// milliseconds late costs nothing).
	hedgeTimers *deadline.Shared
	leases      leaseSet // running leases, stopped by Close
}

type endpoint struct {
	addr   string
	cc     *grpc.ClientConn
	admin  api.AdminClient
	serial api.SerialClient // register requests, over mux
	locks  api.LocksClient  // lock requests, over mux
	leases api.LeasesClient // keep-alives over mux, the rest unary
	mux    *mux             // gets, puts, deletes, register and lock requests
	h      *health          // its responsiveness
}

func newEndpoint(addr string, cc *grpc.ClientConn, o options) endpoint {
	h := newHealth(o.resp, serving(cc))
	var m *mux
	if o.grpcStream || !plainHostPort(addr) {
		m = newMux(grpcOpener(cc), false, h)
	} else {
		d := &wireDialer{addr: addr, now: time.Now}
		if o.tls != nil {
			d.secure = o.tls
		}
		m = newMux(d.open, true, h)
	}
	m.single = grpcSingle(cc)
	regs := streamRegisters{m: m, serial: api.NewSerialClient(cc), locks: api.NewLocksClient(cc)}
	return endpoint{addr: addr, cc: cc, admin: api.NewAdminClient(cc), serial: regs, locks: regs,
		leases: streamLeases{LeasesClient: api.NewLeasesClient(cc), m: m}, mux: m, h: h}
}

// serving is the probe of a quiet endpoint: a health check answered
// SERVING.
func serving(cc *grpc.ClientConn) func(context.Context) bool {
	hc := healthpb.NewHealthClient(cc)
	return func(ctx context.Context) bool {
		r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		return err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING
	}
}

// plainHostPort reports an endpoint the framed stream can dial itself; any
// other gRPC target (dns:///, unix:, ...) keeps operations on gRPC.
func plainHostPort(addr string) bool {
	_, _, err := net.SplitHostPort(addr)
	return err == nil && !strings.Contains(addr, "/")
}

func (e endpoint) close() error {
	e.h.close()
	e.mux.close()
	return e.cc.Close()
}

// New connects (lazily) to the given endpoints.
func New(endpoints []string, opts ...Option) (*Client, error) {
	if len(endpoints) == 0 {
		return nil, ErrNoEndpoints
	}
	c := &Client{opts: options{attemptTimeout: 5 * time.Second, resp: DefaultResponsiveness(), lease: DefaultLeaseConfig()}}
	for _, o := range opts {
		o(&c.opts)
	}
	if err := c.opts.resp.Validate(); err != nil {
		return nil, err
	}
	if err := c.opts.lease.Validate(); err != nil {
		return nil, err
	}
	tlsc, err := security.NewClient(c.opts.tlsFiles, false)
	if err != nil {
		return nil, err
	}
	c.opts.tls = tlsc
	creds := insecure.NewCredentials()
	if tlsc != nil {
		creds = tlsc.Credentials()
	}
	c.hedgeTimers = deadline.NewShared(context.Background(), hedgeSlice, c.opts.resp.HedgeMax)
	c.dialOpts = append([]grpc.DialOption{
		grpc.WithTransportCredentials(creds), backoff.GRPCConnect(),
		grpc.WithInitialWindowSize(streamWindow), grpc.WithInitialConnWindowSize(connWindow),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(api.MaxMessageSize), grpc.MaxCallSendMsgSize(api.MaxMessageSize)),
	}, append(sent.DialOptions(), c.opts.dial...)...)
	for _, addr := range endpoints {
		cc, err := grpc.NewClient(addr, c.dialOpts...)
		if err != nil {
			c.Close()
			return nil, err
		}
		c.endpoints = append(c.endpoints, newEndpoint(addr, cc, c.opts))
	}
	c.streams.Store(rand.Int64N(int64(len(c.endpoints))))
	return c, nil
}

// streamStart is the endpoint a new long-lived stream tries first: the
// next in turn that is not quiet (the preferred one when all are).
func (c *Client) streamStart() int {
	n := len(c.endpoints)
	first := int(c.streams.Add(1) % int64(n))
	for k := range n {
		if i := (first + k) % n; !c.endpoints[i].h.quiet() {
			return i
		}
	}
	return int(c.preferred.Load())
}

// Close stops every lease's renewals (without releasing the locks: they
// stay held until their ttl passes) and closes every connection.
func (c *Client) Close() error {
	c.leases.close()
	var errs []error
	for _, e := range c.endpoints {
		errs = append(errs, e.close())
	}
	c.router.mu.Lock()
	c.closed = true
	for _, e := range c.router.conns {
		errs = append(errs, e.close())
	}
	c.router.conns = nil
	c.router.mu.Unlock()
	return errors.Join(errs...)
}

// do runs fn on the preferred endpoint and fails over to the others, in
// order, while the failure is the node's own. A failed endpoint stops being
// preferred, so later requests do not wait on it.
func (c *Client) do(ctx context.Context, retryAmbiguous bool, fn func(context.Context, endpoint) error) error {
	start := int(c.preferred.Load())
	var err error
	for i := range c.endpoints {
		idx := (start + i) % len(c.endpoints)
		actx, cancel := context.WithTimeout(ctx, c.opts.attemptTimeout)
		err = fn(actx, c.endpoints[idx])
		cancel()
		if err == nil || !nodeFailure(err, retryAmbiguous) || ctx.Err() != nil {
			if err == nil && i > 0 {
				c.preferred.CompareAndSwap(int64(start), int64(idx))
			}
			break
		}
		c.preferred.CompareAndSwap(int64(start), int64((idx+1)%len(c.endpoints)))
		err = &NodeError{Endpoint: c.endpoints[idx].addr, Err: err}
	}
	return c.finishErr(err)
}

// finishErr turns the last attempt's error into the client's typed errors.
func (c *Client) finishErr(err error) error {
	var ne *NodeError
	if errors.As(err, &ne) {
		if errors.Is(ne.Err, ErrNodeQuiet) {
			return ne
		}
		return &NodeError{Endpoint: ne.Endpoint, Err: fromStatus(ne.Err)}
	}
	return fromStatus(err)
}

func newCall(opts []CallOption) *call {
	c := &call{}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Info says who served a request.
type Info struct {
	Coordinator  string
	Partition    int
	Replicas     []string
	Required     int
	Acks         int
	FallbackAcks int
}

func infoFrom(p *api.ResponseInfo) Info {
	return Info{
		Coordinator: p.GetCoordinator(), Partition: int(p.GetPartition()), Replicas: p.GetReplicas(),
		Required: int(p.GetRequired()), Acks: int(p.GetAcks()), FallbackAcks: int(p.GetFallbackAcks()),
	}
}

// GetResult is a read's outcome: every live sibling and the context that
// covers them.
type GetResult struct {
	Found   bool
	Values  [][]byte
	Context string
	Info    Info
}

// Get reads key. A key with no live value returns the result (its context
// still covers any tombstone) and ErrNotFound.
func (c *Client) Get(ctx context.Context, key []byte, opts ...CallOption) (*GetResult, error) {
	o := newCall(opts)
	r, err := c.doKey(ctx, key, true, func() *api.StreamOp {
		return &api.StreamOp{Op: &api.StreamOp_Get{Get: &api.GetRequest{Key: key, Consistency: o.consistency()}}}
	})
	if err != nil {
		return nil, err
	}
	resp := r.GetGet()
	res := &GetResult{Found: resp.GetFound(), Values: resp.GetValues(), Context: resp.GetContext(), Info: infoFrom(resp.GetInfo())}
	if !res.Found {
		return res, ErrNotFound
	}
	return res, nil
}

// PutResult is a write's outcome: the key's siblings after the write (the new
// value and any concurrent ones the context did not cover) and their context.
type PutResult struct {
	Values  [][]byte
	Context string
	Info    Info
}

// Put writes value. Without WithContext the write is blind: it never
// overwrites anything and becomes a sibling of what is stored.
func (c *Client) Put(ctx context.Context, key, value []byte, opts ...CallOption) (*PutResult, error) {
	o := newCall(opts)
	return c.write(ctx, key, func() *api.StreamOp {
		return &api.StreamOp{Op: &api.StreamOp_Put{Put: &api.PutRequest{Key: key, Value: value, Context: o.context, Consistency: o.consistency(), Lease: uint64(o.lease)}}}
	})
}

// Delete writes a tombstone replacing the values the context covers. Without
// WithContext it deletes nothing (the tombstone becomes a sibling).
func (c *Client) Delete(ctx context.Context, key []byte, opts ...CallOption) (*PutResult, error) {
	o := newCall(opts)
	return c.write(ctx, key, func() *api.StreamOp {
		return &api.StreamOp{Op: &api.StreamOp_Delete{Delete: &api.DeleteRequest{Key: key, Context: o.context, Consistency: o.consistency()}}}
	})
}

func (c *Client) write(ctx context.Context, key []byte, mk func() *api.StreamOp) (*PutResult, error) {
	r, err := c.doKey(ctx, key, false, mk)
	if err != nil {
		return nil, err
	}
	resp := r.GetPut()
	return &PutResult{Values: resp.GetValues(), Context: resp.GetContext(), Info: infoFrom(resp.GetInfo())}, nil
}

// RingStatus asks a node for its view of the ring.
func (c *Client) RingStatus(ctx context.Context) (*api.RingStatusResponse, error) {
	var resp *api.RingStatusResponse
	err := c.do(ctx, true, func(ctx context.Context, e endpoint) (err error) {
		resp, err = e.admin.RingStatus(ctx, &api.RingStatusRequest{})
		return err
	})
	return resp, err
}

// Endpoints asks where key lives: its partition and ordered replicas.
func (c *Client) Endpoints(ctx context.Context, key []byte) (*api.EndpointsResponse, error) {
	var resp *api.EndpointsResponse
	err := c.do(ctx, true, func(ctx context.Context, e endpoint) (err error) {
		resp, err = e.admin.Endpoints(ctx, &api.EndpointsRequest{Key: key})
		return err
	})
	return resp, err
}

// Hints asks a node which hints it holds (the first endpoint that answers).
func (c *Client) Hints(ctx context.Context) (*api.HintsResponse, error) {
	var resp *api.HintsResponse
	err := c.do(ctx, true, func(ctx context.Context, e endpoint) (err error) {
		resp, err = e.admin.Hints(ctx, &api.HintsRequest{})
		return err
	})
	return resp, err
}

// GossipKey changes the gossip keys of the node it reaches (op install,
// use or remove) or lists them (op list); rotating a key runs each step on
// every member. Needs an admin certificate on a TLS cluster.
func (c *Client) GossipKey(ctx context.Context, op string, key []byte) (*api.GossipKeyResponse, error) {
	var resp *api.GossipKeyResponse
	err := c.do(ctx, true, func(ctx context.Context, e endpoint) (err error) {
		resp, err = e.admin.GossipKey(ctx, &api.GossipKeyRequest{Op: op, Key: key})
		return err
	})
	return resp, err
}

// NodeStatus asks a node for its hint backlog and anti-entropy progress.
func (c *Client) NodeStatus(ctx context.Context) (*api.NodeStatusResponse, error) {
	var resp *api.NodeStatusResponse
	err := c.do(ctx, true, func(ctx context.Context, e endpoint) (err error) {
		resp, err = e.admin.NodeStatus(ctx, &api.NodeStatusRequest{})
		return err
	})
	return resp, err
}

// Repair runs an anti-entropy round now on the node that answers (every
// partition it replicates, or only partition when partition >= 0).
func (c *Client) Repair(ctx context.Context, partition int) (*api.RepairResponse, error) {
	req := &api.RepairRequest{}
	if partition >= 0 {
		req.Partition, req.HasPartition = uint32(partition), true
	}
	var resp *api.RepairResponse
	// Not retried on another node: the round may have run.
	err := c.do(ctx, false, func(ctx context.Context, e endpoint) (err error) {
		resp, err = e.admin.Repair(ctx, req)
		return err
	})
	return resp, err
}

// Plan shows what admitting the nodes waiting to join would move.
func (c *Client) Plan(ctx context.Context) (*api.PlanResponse, error) {
	var resp *api.PlanResponse
	err := c.do(ctx, true, func(ctx context.Context, e endpoint) (err error) {
		resp, err = e.admin.Plan(ctx, &api.PlanRequest{})
		return err
	})
	return resp, err
}

// Commit admits the nodes waiting to join.
func (c *Client) Commit(ctx context.Context) (*api.PlanResponse, error) {
	var resp *api.PlanResponse
	err := c.do(ctx, false, func(ctx context.Context, e endpoint) (err error) {
		resp, err = e.admin.Commit(ctx, &api.PlanRequest{})
		return err
	})
	return resp, err
}

// MemberChange is a leave or remove request.
type MemberChange struct {
	Node   string
	Force  bool
	DryRun bool
}

// Leave decommissions a member: its partitions are transferred to the members that gain them, then it leaves.
func (c *Client) Leave(ctx context.Context, ch MemberChange) (*api.PlanResponse, error) {
	return c.memberChange(ctx, ch, api.AdminClient.Leave)
}

// Remove drops a dead member; the remaining replicas restore its data.
func (c *Client) Remove(ctx context.Context, ch MemberChange) (*api.PlanResponse, error) {
	return c.memberChange(ctx, ch, api.AdminClient.Remove)
}

func (c *Client) memberChange(ctx context.Context, ch MemberChange,
	rpc func(api.AdminClient, context.Context, *api.MemberChangeRequest, ...grpc.CallOption) (*api.PlanResponse, error)) (*api.PlanResponse, error) {
	var resp *api.PlanResponse
	req := &api.MemberChangeRequest{Node: ch.Node, Force: ch.Force, DryRun: ch.DryRun}
	err := c.do(ctx, false, func(ctx context.Context, e endpoint) (err error) {
		resp, err = rpc(e.admin, ctx, req)
		return err
	})
	return resp, err
}

// Transfers lists the partitions the answering node is pulling.
func (c *Client) Transfers(ctx context.Context) (*api.TransfersResponse, error) {
	var resp *api.TransfersResponse
	err := c.do(ctx, true, func(ctx context.Context, e endpoint) (err error) {
		resp, err = e.admin.Transfers(ctx, &api.TransfersRequest{})
		return err
	})
	return resp, err
}

// HTTP/2 flow-control windows: large and fixed, so the one stream that
// carries a client's operations to a node is not interrupted by a
// WINDOW_UPDATE or a BDP ping every few messages (see package peer).
const (
	streamWindow = 8 << 20
	connWindow   = 16 << 20
)

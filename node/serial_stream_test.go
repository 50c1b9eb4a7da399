package node_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/api/wire"
	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/node/nodetest"
	"github.com/quorumkv/quorumkv/paxos"
	"github.com/quorumkv/quorumkv/serial"
)

// callCounter counts what a client's gRPC connections carry: unary Serial
// and Locks calls, and the register and lock operations of KV.Stream
// requests, by kind.
type callCounter struct {
	unary atomic.Int64
	mu    sync.Mutex
	ops   map[string]int
}

func (cc *callCounter) options() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any,
			conn *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			if strings.HasPrefix(method, "/quorumkv.v1.Serial/") || strings.HasPrefix(method, "/quorumkv.v1.Locks/") {
				cc.unary.Add(1)
			}
			return invoker(ctx, method, req, reply, conn, opts...)
		}),
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, conn *grpc.ClientConn,
			method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			s, err := streamer(ctx, desc, conn, method, opts...)
			if err != nil || method != api.KV_Stream_FullMethodName {
				return s, err
			}
			return countingStream{ClientStream: s, c: cc}, nil
		}),
	}
}

func (cc *callCounter) streamed(kind string) int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.ops[kind]
}

type countingStream struct {
	grpc.ClientStream
	c *callCounter
}

func (s countingStream) SendMsg(m any) error {
	if req, ok := m.(*api.StreamRequest); ok {
		s.c.mu.Lock()
		if s.c.ops == nil {
			s.c.ops = map[string]int{}
		}
		for _, op := range req.GetOps() {
			s.c.ops[string(op.ProtoReflect().WhichOneof(op.ProtoReflect().Descriptor().Oneofs().ByName("op")).Name())]++
		}
		s.c.mu.Unlock()
	}
	return s.ClientStream.SendMsg(m)
}

// TestRegisterRequestsTravelTheClientStream: against real nodes, the
// client's register and lock requests (reads, changes, a failed
// condition, acquires, renewals, releases) make no unary Serial or Locks
// call, on the framed connection and on the gRPC stream, where they are
// seen as the stream's operations.
func TestRegisterRequestsTravelTheClientStream(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{})
	ctx := ctxT(t)
	var eps []string
	for _, id := range c.IDs() {
		eps = append(eps, c.Node(id).Addr())
	}
	for _, mode := range []string{"framed", "grpc"} {
		t.Run(mode, func(t *testing.T) {
			var count callCounter
			opts := []client.Option{client.WithDialOptions(count.options()...)}
			if mode == "grpc" {
				opts = append(opts, client.WithGRPCStream())
			}
			cl, err := client.New(eps, opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			key := []byte("travel-" + mode)
			if _, err := cl.CompareAndSet(ctx, key, []byte("a"), client.ExpectAbsent()); err != nil {
				t.Fatal(err)
			}
			if r, err := cl.CompareAndSet(ctx, key, []byte("b"), client.ExpectVersion(7)); !errors.Is(err, client.ErrConditionFailed) || string(r.Value) != "a" {
				t.Fatalf("stale compare-and-set: %+v, %v: want ErrConditionFailed with the current value", r, err)
			}
			if _, err := cl.SerialDelete(ctx, key, client.ExpectVersion(1)); err != nil {
				t.Fatal(err)
			}
			if _, err := cl.Increment(ctx, key, 2); err != nil {
				t.Fatal(err)
			}
			if r, err := cl.SerialGet(ctx, key); err != nil || string(r.Value) != "2" {
				t.Fatalf("get: %+v, %v", r, err)
			}
			lease, err := cl.Acquire(ctx, "lock-"+mode, "me", 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cl.Acquire(ctx, "lock-"+mode, "other", 5*time.Second); !errors.Is(err, client.ErrLockHeld) {
				t.Fatalf("second acquire: %v, want ErrLockHeld", err)
			}
			if _, err := cl.RenewLock(ctx, "lock-"+mode, lease.Token()); err != nil {
				t.Fatal(err)
			}
			if err := lease.Release(ctx); err != nil {
				t.Fatal(err)
			}
			if d, err := cl.DescribeLock(ctx, "lock-"+mode); err != nil || d.Held {
				t.Fatalf("describe: %+v, %v", d, err)
			}
			if n := count.unary.Load(); n != 0 {
				t.Errorf("%d unary Serial or Locks calls; want every request on the stream", n)
			}
			if mode != "grpc" {
				return
			}
			for _, kind := range []string{"compare_and_set", "serial_delete", "increment", "serial_get", "acquire", "renew", "release", "describe_lock"} {
				if count.streamed(kind) == 0 {
					t.Errorf("no %s operation on the stream", kind)
				}
			}
		})
	}
}

// TestRegisterStreamErrorsMatchUnary: a node answers a register or lock
// request on a client stream, framed or gRPC, with the status (code,
// message, details) or the response the unary call gets: refusals of bad
// input, typed reasons (fenced, not a number, quorum unavailable), and
// answers that a change was not applied.
func TestRegisterStreamErrorsMatchUnary(t *testing.T) {
	c := startMemSerial(t)
	ctx := ctxT(t)
	id := "n1"
	cc := c.Conn(id)
	ser, locks := api.NewSerialClient(cc), api.NewLocksClient(cc)
	if _, err := ser.CompareAndSet(ctx, &api.CompareAndSetRequest{Key: []byte("fenced"), Value: []byte("a"), Fence: &api.Fence{Lock: "L", Token: 5}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ser.CompareAndSet(ctx, &api.CompareAndSetRequest{Key: []byte("text"), Value: []byte("abc")}); err != nil {
		t.Fatal(err)
	}
	if _, err := locks.Acquire(ctx, &api.AcquireRequest{Name: "held", Holder: "A", TtlMs: 60000}); err != nil {
		t.Fatal(err)
	}
	// A key n1 proposes for, whose acceptors on the other nodes n1 cannot
	// reach.
	cut := ""
	for i := 0; cut == ""; i++ {
		if k := "cut-" + string(rune('a'+i)); c.Preference([]byte(k))[0] == id {
			cut = k
		}
	}

	grpcStream, err := api.NewKVClient(cc).Stream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = grpcStream.CloseSend() })
	framed, err := wire.Dial(c.Node(id).Addr(), wire.KVMagic, 2*time.Second, 5*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = framed.Close() })
	streams := map[string]func(*api.StreamRequest) (*api.StreamResponse, error){
		"grpc": func(req *api.StreamRequest) (*api.StreamResponse, error) {
			if err := grpcStream.Send(req); err != nil {
				return nil, err
			}
			return grpcStream.Recv()
		},
		"framed": func(req *api.StreamRequest) (*api.StreamResponse, error) {
			if err := framed.Write(req); err != nil {
				return nil, err
			}
			resp := &api.StreamResponse{}
			return resp, framed.Read(resp)
		},
	}

	for _, tc := range []struct {
		name string
		op   *api.StreamOp
		// fails: the unary call fails, with reason (none: "").
		fails  bool
		reason string
		setup  func()
	}{
		{name: "fenced", op: &api.StreamOp{Op: &api.StreamOp_CompareAndSet{CompareAndSet: &api.CompareAndSetRequest{
			Key: []byte("fenced"), Value: []byte("b"), Fence: &api.Fence{Lock: "L", Token: 4}}}}, fails: true, reason: api.ReasonFenced},
		{name: "not a number", op: &api.StreamOp{Op: &api.StreamOp_Increment{Increment: &api.IncrementRequest{Key: []byte("text")}}},
			fails: true, reason: api.ReasonNotANumber},
		{name: "condition failed", op: &api.StreamOp{Op: &api.StreamOp_CompareAndSet{CompareAndSet: &api.CompareAndSetRequest{
			Key: []byte("text"), Value: []byte("b"), Expect: &api.CompareAndSetRequest_ExpectVersion{ExpectVersion: 9}}}}},
		{name: "delete at a wrong version", op: &api.StreamOp{Op: &api.StreamOp_SerialDelete{SerialDelete: &api.SerialDeleteRequest{
			Key: []byte("text"), Expect: &api.SerialDeleteRequest_ExpectVersion{ExpectVersion: 9}}}}},
		{name: "empty key", op: &api.StreamOp{Op: &api.StreamOp_SerialGet{SerialGet: &api.SerialGetRequest{}}}, fails: true},
		{name: "fence without a lock", op: &api.StreamOp{Op: &api.StreamOp_Increment{Increment: &api.IncrementRequest{
			Key: []byte("k"), Fence: &api.Fence{}}}}, fails: true},
		{name: "empty holder", op: &api.StreamOp{Op: &api.StreamOp_Acquire{Acquire: &api.AcquireRequest{Name: "x", TtlMs: 100}}}, fails: true},
		{name: "lock held", op: &api.StreamOp{Op: &api.StreamOp_Acquire{Acquire: &api.AcquireRequest{Name: "held", Holder: "B", TtlMs: 100}}}},
		{name: "renew with a wrong token", op: &api.StreamOp{Op: &api.StreamOp_Renew{Renew: &api.RenewRequest{Name: "held", Token: 9}}}},
		{name: "release with a wrong token", op: &api.StreamOp{Op: &api.StreamOp_Release{Release: &api.ReleaseRequest{Name: "held", Token: 9}}}},
		{name: "long lock name", op: &api.StreamOp{Op: &api.StreamOp_DescribeLock{DescribeLock: &api.DescribeLockRequest{Name: strings.Repeat("n", 2048)}}}, fails: true},
		{name: "quorum unavailable", op: &api.StreamOp{Op: &api.StreamOp_CompareAndSet{CompareAndSet: &api.CompareAndSetRequest{
			Key: []byte(cut), Value: []byte("v")}}}, fails: true, reason: api.ReasonQuorumUnavailable, setup: func() {
			for _, other := range c.IDs()[1:] {
				c.Faults.Cut(id, other, nodetest.Refuse)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
				defer c.Faults.Heal()
			}
			want := unaryAnswer(ctx, t, ser, locks, tc.op)
			st, failed := want.(*spb.Status)
			if failed != tc.fails || (failed && api.ErrorInfo(status.FromProto(st)).GetReason() != tc.reason) {
				t.Fatalf("the unary call answered %v; want failing %v, reason %q", want, tc.fails, tc.reason)
			}
			for _, name := range []string{"grpc", "framed"} {
				op := proto.Clone(tc.op).(*api.StreamOp)
				op.Id, op.TimeoutMs = 1, 5000
				resp, err := streams[name](&api.StreamRequest{Ops: []*api.StreamOp{op}})
				if err != nil {
					t.Fatalf("%s stream: %v", name, err)
				}
				if len(resp.GetResults()) != 1 || resp.GetResults()[0].GetId() != 1 {
					t.Fatalf("%s stream answered %v", name, resp)
				}
				if got := streamAnswer(resp.GetResults()[0]); !proto.Equal(withoutRunDetails(want), withoutRunDetails(got)) {
					t.Errorf("%s stream answered %v; the unary call %v", name, got, want)
				}
			}
		})
	}
}

// unaryAnswer is the unary call's answer to op: its response, or its
// status as a proto.
func unaryAnswer(ctx context.Context, t *testing.T, ser api.SerialClient, locks api.LocksClient, op *api.StreamOp) proto.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var resp proto.Message
	var err error
	switch x := proto.Clone(op).(*api.StreamOp).GetOp().(type) {
	case *api.StreamOp_SerialGet:
		resp, err = ser.Get(ctx, x.SerialGet)
	case *api.StreamOp_CompareAndSet:
		resp, err = ser.CompareAndSet(ctx, x.CompareAndSet)
	case *api.StreamOp_SerialDelete:
		resp, err = ser.Delete(ctx, x.SerialDelete)
	case *api.StreamOp_Increment:
		resp, err = ser.Increment(ctx, x.Increment)
	case *api.StreamOp_Acquire:
		resp, err = locks.Acquire(ctx, x.Acquire)
	case *api.StreamOp_Renew:
		resp, err = locks.Renew(ctx, x.Renew)
	case *api.StreamOp_Release:
		resp, err = locks.Release(ctx, x.Release)
	case *api.StreamOp_DescribeLock:
		resp, err = locks.Describe(ctx, x.DescribeLock)
	default:
		t.Fatalf("not a register or lock request: %v", op)
	}
	if err != nil {
		return status.Convert(err).Proto()
	}
	return resp
}

// withoutRunDetails is m without what differs between two runs of the same
// request: how the proposer ran it, times counting down, and the order of
// a status detail's map entries in its bytes.
func withoutRunDetails(m proto.Message) proto.Message {
	m = proto.Clone(m)
	switch x := m.(type) {
	case *spb.Status:
		for _, d := range x.Details {
			if inner, err := d.UnmarshalNew(); err == nil {
				_ = anypb.MarshalFrom(d, inner, proto.MarshalOptions{Deterministic: true})
			}
		}
	case *api.SerialResponse:
		x.Receipt = nil
	case *api.LockResponse:
		x.Receipt, x.TtlMs, x.RetryAfterMs = nil, 0, 0
	}
	return m
}

// streamAnswer is a stream result as unaryAnswer has it.
func streamAnswer(r *api.StreamResult) proto.Message {
	switch x := r.GetResult().(type) {
	case *api.StreamResult_Serial:
		return x.Serial
	case *api.StreamResult_Lock:
		return x.Lock
	case *api.StreamResult_Error:
		return &spb.Status{Code: x.Error.GetCode(), Message: x.Error.GetMessage(), Details: x.Error.GetDetails()}
	}
	return r
}

// heldAcceptors are memAcceptors that hold every message about key until
// release is closed (or the message's context ends).
type heldAcceptors struct {
	*memAcceptors
	key     string
	release chan struct{}
	// reached receives (without blocking) each time a message of key's
	// rounds is held.
	reached chan struct{}
}

func (h heldAcceptors) hold(ctx context.Context, t serial.Target, then func()) {
	if string(t.Key) != h.key {
		then()
		return
	}
	select {
	case h.reached <- struct{}{}:
	default:
	}
	go func() {
		select {
		case <-h.release:
		case <-ctx.Done():
		}
		then()
	}()
}

func (h heldAcceptors) Prepare(ctx context.Context, node string, t serial.Target, b paxos.Ballot, done func(paxos.PrepareReply, error)) {
	h.hold(ctx, t, func() { h.memAcceptors.Prepare(ctx, node, t, b, done) })
}

func (h heldAcceptors) Accept(ctx context.Context, node string, t serial.Target, b paxos.Ballot, st paxos.State, promise paxos.Ballot, done func(paxos.AcceptReply, error)) {
	h.hold(ctx, t, func() { h.memAcceptors.Accept(ctx, node, t, b, st, promise, done) })
}

// TestRegisterRequestWaitingDoesNotHoldTheStream: while a compare-and-set
// waits for its Paxos round, the other operations of the same client
// stream — a KV put and get, another register's change, a lock — are
// answered; the waiting one finishes once its round can.
func TestRegisterRequestWaitingDoesNotHoldTheStream(t *testing.T) {
	held := heldAcceptors{memAcceptors: newMemAcceptors(), key: "slow", release: make(chan struct{}), reached: make(chan struct{}, 1)}
	c := nodetest.Start(t, 3, nodetest.Options{Acceptors: func(string) serial.Acceptors { return held }})
	ctx := ctxT(t)
	cl := c.Client("n1") // every request on n1's one stream
	slow := make(chan error, 1)
	go func() {
		_, err := cl.CompareAndSet(ctx, []byte("slow"), []byte("v"), client.ExpectAbsent())
		slow <- err
	}()
	select { // the slow change went down the stream and its round is held
	case <-held.reached:
	case <-ctx.Done():
		t.Fatal("the slow change's round never reached the acceptors")
	}
	start := time.Now()
	if _, err := cl.Put(ctx, []byte("kv"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Get(ctx, []byte("kv")); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Increment(ctx, []byte("fast"), 1); err != nil {
		t.Fatal(err)
	}
	lease, err := cl.Acquire(ctx, "lock", "me", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := lease.Release(ctx); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	select {
	case err := <-slow:
		t.Fatalf("the held change finished first (%v): it was not held", err)
	default:
	}
	if took > 2*time.Second {
		t.Errorf("the other operations took %v beside a held change", took)
	}
	close(held.release)
	select {
	case err := <-slow:
		if err != nil {
			t.Fatalf("the held change: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the held change never finished")
	}
}

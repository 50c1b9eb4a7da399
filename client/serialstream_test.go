package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/api/apitest"
)

// TestRegisterRequestsTravelTheStream: against a node serving register and
// lock requests only on the client's stream (no unary Serial or Locks
// service), reads, changes, acquires without a wait, renewals and releases
// all succeed; an acquire that waits for the lock, and a change too large
// to share a batch, go as unary calls (which this node does not serve).
func TestRegisterRequestsTravelTheStream(t *testing.T) {
	f := &serialFake{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = l.Addr().String()
	srv := grpc.NewServer()
	apitest.RegisterStream(srv, f, f)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	c, err := New([]string{f.addr}, WithAttemptTimeout(2*time.Second), WithGRPCStream())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if _, err := c.SerialGet(ctx, []byte("k")); err != nil {
		t.Fatalf("get: %v", err)
	}
	if _, err := c.CompareAndSet(ctx, []byte("k"), []byte("v"), ExpectVersion(1)); err != nil {
		t.Fatalf("compare-and-set: %v", err)
	}
	if _, err := c.Increment(ctx, []byte("n"), 2); err != nil {
		t.Fatalf("increment: %v", err)
	}
	if _, err := c.SerialDelete(ctx, []byte("k"), Condition{}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	lease, err := c.Acquire(ctx, "L", "me", 3*time.Second)
	if err != nil {
		t.Fatalf("acquire: %v", err)
	}
	if err := lease.Release(ctx); err != nil {
		t.Fatalf("release: %v", err)
	}
	if _, err := c.DescribeLock(ctx, "L"); err != nil {
		t.Fatalf("describe: %v", err)
	}
	for _, m := range []string{"Get", "CompareAndSet", "Increment", "Delete", "Acquire", "Release", "Describe"} {
		if f.count(m) == 0 {
			t.Errorf("%s never reached the node's stream", m)
		}
	}

	acquires, sets := f.count("Acquire"), f.count("CompareAndSet")
	_, err = c.Acquire(ctx, "W", "me", 3*time.Second, WaitFor(time.Second))
	if err == nil {
		t.Fatal("an acquire that waits reached the stream; want the unary call")
	}
	big := bytes.Repeat([]byte("x"), api.BatchBytes+1)
	if _, err = c.CompareAndSet(ctx, []byte("big"), big, ExpectVersion(1)); err == nil {
		t.Fatal("a change past a batch's bytes reached the stream; want the unary call")
	}
	if f.count("Acquire") != acquires || f.count("CompareAndSet") != sets {
		t.Fatal("a waiting acquire or a large change reached the stream")
	}
}

// unaryOnly makes c send its register and lock requests as the Serial and
// Locks services' unary calls, as it did before they shared the stream.
func unaryOnly(c *Client) {
	for i := range c.endpoints {
		e := &c.endpoints[i]
		e.serial, e.locks = api.NewSerialClient(e.cc), api.NewLocksClient(e.cc)
	}
}

// registerUnaryCounter counts a client's unary Serial and Locks calls.
type registerUnaryCounter struct{ n atomic.Int64 }

func (u *registerUnaryCounter) option() Option {
	return WithDialOptions(grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any,
		cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if strings.HasPrefix(method, "/quorumkv.v1.Serial/") || strings.HasPrefix(method, "/quorumkv.v1.Locks/") {
			u.n.Add(1)
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}))
}

// TestRegisterErrorsAlikeOnStreamAndUnary: every kind of answer a node
// gives a register or lock request (a refusal with the current state, a
// typed reason, a node's own failure) ends as the same typed client error,
// with the same text and result, whether the request traveled the stream
// or was a unary call.
func TestRegisterErrorsAlikeOnStreamAndUnary(t *testing.T) {
	f := startSerialFake(t, &serialFake{}, nil)
	var streamUnary, unaryUnary registerUnaryCounter
	newClient := func(u *registerUnaryCounter) *Client {
		c, err := New([]string{f.addr}, WithAttemptTimeout(2*time.Second), WithGRPCStream(), u.option())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	viaStream, viaUnary := newClient(&streamUnary), newClient(&unaryUnary)
	unaryOnly(viaUnary)

	key := []byte("k")
	cas := func(ctx context.Context, c *Client) (any, error) {
		return c.CompareAndSet(ctx, key, []byte("new"), ExpectVersion(2))
	}
	notApplied := &api.SerialResponse{Key: key, Found: true, Value: []byte("cur"), Version: 3}
	for _, tc := range []struct {
		name string
		run  func(ctx context.Context, c *Client) (any, error)
		// answer is the node's answer to the case's n-th request (from 0).
		answer func(n int) (proto.Message, error)
		want   func(error) bool
	}{
		{"condition failed with the current value", cas,
			func(int) (proto.Message, error) { return notApplied, nil },
			func(err error) bool { return errors.Is(err, ErrConditionFailed) }},
		{"fenced", func(ctx context.Context, c *Client) (any, error) {
			return c.CompareAndSet(ctx, key, []byte("new"), Condition{}, WithFence("L", 4))
		}, func(int) (proto.Message, error) {
			return nil, reasonErr(codes.FailedPrecondition, api.ReasonFenced, "lock", "L", "token", "4", "seen", "9")
		}, func(err error) bool {
			var fe *FencedError
			return errors.Is(err, ErrFenced) && errors.As(err, &fe) && *fe == FencedError{Lock: "L", Token: 4, Seen: 9}
		}},
		{"not a number", func(ctx context.Context, c *Client) (any, error) { return c.Increment(ctx, key, 1) },
			func(int) (proto.Message, error) {
				return nil, reasonErr(codes.FailedPrecondition, api.ReasonNotANumber)
			},
			func(err error) bool { return errors.Is(err, ErrNotANumber) }},
		{"quorum unavailable", func(ctx context.Context, c *Client) (any, error) {
			return c.SerialDelete(ctx, key, ExpectVersion(3))
		}, func(int) (proto.Message, error) {
			return nil, reasonErr(codes.Unavailable, api.ReasonQuorumUnavailable, "op", "write", "required", "2", "acknowledged", "1")
		}, func(err error) bool {
			var ue *UnavailableError
			return errors.As(err, &ue) && ue.Required == 2 && ue.Acknowledged == 1 && !ue.Contended
		}},
		{"contended", cas,
			func(int) (proto.Message, error) { return nil, reasonErr(codes.Aborted, api.ReasonContended) },
			func(err error) bool { var ue *UnavailableError; return errors.As(err, &ue) && ue.Contended }},
		{"outcome unknown, then not applied", cas, func(n int) (proto.Message, error) {
			if n == 0 {
				return nil, reasonErr(codes.Unavailable, api.ReasonOutcomeUnknown)
			}
			return notApplied, nil
		}, func(err error) bool { return errors.Is(err, ErrOutcomeUnknown) }},
		{"outcome unknown, then deduplicated", cas, func(n int) (proto.Message, error) {
			if n == 0 {
				return nil, reasonErr(codes.DeadlineExceeded, api.ReasonOutcomeUnknown)
			}
			return &api.SerialResponse{Key: key, Found: true, Value: []byte("new"), Version: 3, Applied: true, Deduplicated: true}, nil
		}, func(err error) bool { return err == nil }},
		{"invalid argument", func(ctx context.Context, c *Client) (any, error) { return c.SerialGet(ctx, key) },
			func(int) (proto.Message, error) { return nil, status.Error(codes.InvalidArgument, "empty key") },
			func(err error) bool { return errors.Is(err, ErrInvalidArgument) }},
		{"shutting down", func(ctx context.Context, c *Client) (any, error) { return c.Increment(ctx, key, 1) },
			func(int) (proto.Message, error) { return nil, reasonErr(codes.Unavailable, api.ReasonShuttingDown) },
			func(err error) bool {
				var ne *NodeError
				return errors.As(err, &ne) && !errors.Is(err, ErrOutcomeUnknown)
			}},
		{"overloaded", cas,
			func(int) (proto.Message, error) { return nil, reasonErr(codes.ResourceExhausted, api.ReasonOverloaded) },
			func(err error) bool {
				var ne *NodeError
				return errors.As(err, &ne) && !errors.Is(err, ErrOutcomeUnknown)
			}},
		{"a read the node timed out", func(ctx context.Context, c *Client) (any, error) { return c.SerialGet(ctx, key) },
			func(int) (proto.Message, error) {
				return nil, status.Error(codes.DeadlineExceeded, "no quorum in time")
			},
			func(err error) bool {
				var ne *NodeError
				return errors.As(err, &ne) && errors.Is(err, context.DeadlineExceeded)
			}},
		{"lock held", func(ctx context.Context, c *Client) (any, error) { return c.Acquire(ctx, "L", "me", 3*time.Second) },
			func(int) (proto.Message, error) {
				return &api.LockResponse{Name: "L", Held: true, HeldBy: "other", Token: 3, TtlMs: 3000, RetryAfterMs: 50}, nil
			}, func(err error) bool {
				var he *LockHeldError
				return errors.As(err, &he) && *he == LockHeldError{Name: "L", HeldBy: "other", Token: 3, RetryAfter: 50 * time.Millisecond}
			}},
		{"lock lost", func(ctx context.Context, c *Client) (any, error) { return c.ReleaseLock(ctx, "L", 3) },
			func(int) (proto.Message, error) {
				return &api.LockResponse{Name: "L", Held: true, HeldBy: "other", Token: 4}, nil
			},
			func(err error) bool { return errors.Is(err, ErrLockLost) && errors.Is(err, ErrConditionFailed) }},
		{"another refusal", func(ctx context.Context, c *Client) (any, error) { return c.DescribeLock(ctx, "L") },
			func(int) (proto.Message, error) { return nil, status.Error(codes.FailedPrecondition, "refused") },
			func(err error) bool {
				var se *ServerError
				return errors.As(err, &se) && se.Code == codes.FailedPrecondition
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var errs [2]error
			var results [2]any
			for i, c := range []*Client{viaStream, viaUnary} {
				var n atomic.Int64
				f.setHandle(func(string, proto.Message) (proto.Message, error) { return tc.answer(int(n.Add(1) - 1)) })
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				results[i], errs[i] = tc.run(ctx, c)
				cancel()
				if !tc.want(errs[i]) {
					t.Errorf("%s: %v (%T), not the error wanted", []string{"stream", "unary"}[i], errs[i], errs[i])
				}
			}
			if fmt.Sprint(errs[0]) != fmt.Sprint(errs[1]) {
				t.Errorf("stream: %v; unary: %v", errs[0], errs[1])
			}
			if !reflect.DeepEqual(results[0], results[1]) {
				t.Errorf("results differ: stream %+v, unary %+v", results[0], results[1])
			}
		})
	}
	f.setHandle(nil)
	if n := streamUnary.n.Load(); n != 0 {
		t.Errorf("the stream client made %d unary register or lock calls", n)
	}
	if unaryUnary.n.Load() == 0 {
		t.Error("the unary client made no unary call")
	}
}

// TestRegisterDeadlineReachesTheNode: a request on the stream carries the
// caller's deadline (timeout_ms), so the node stops working on it when the
// caller stops waiting.
func TestRegisterDeadlineReachesTheNode(t *testing.T) {
	f := startSerialFake(t, &serialFake{}, nil)
	c := serialClient(t, nil, f)
	const timeout = 1500 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	dl, _ := ctx.Deadline()
	if _, err := c.CompareAndSet(ctx, []byte("k"), []byte("v"), Condition{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DescribeLock(ctx, "L"); err != nil {
		t.Fatal(err)
	}
	for _, call := range f.received() {
		if call.deadline.IsZero() {
			t.Errorf("%s reached the node without a deadline", call.method)
		} else if off := call.deadline.Sub(dl); off > 50*time.Millisecond || off < -timeout/2 {
			t.Errorf("%s reached the node with a deadline %v off the caller's", call.method, off)
		}
	}
}

package client

import (
	"context"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/api/apitest"
)

// serialFake is a node serving quorumkv.v1.Serial and quorumkv.v1.Locks on
// loopback: each request is recorded and answered by handle (a default
// answer when nil).
type serialFake struct {
	api.UnimplementedSerialServer
	api.UnimplementedLocksServer
	addr string

	mu     sync.Mutex
	calls  []fakeCall
	handle func(method string, req proto.Message) (proto.Message, error)
}

// fakeCall is one request a serialFake received.
type fakeCall struct {
	method string
	opID   string
	req    proto.Message
	// deadline is the request's deadline at the fake (zero: none).
	deadline time.Time
}

// startSerialFake serves f on a loopback port until the test ends; admin,
// when not nil, also serves quorumkv.v1.Admin (the ring).
func startSerialFake(t *testing.T, f *serialFake, admin api.AdminServer) *serialFake {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = l.Addr().String()
	srv := grpc.NewServer()
	api.RegisterSerialServer(srv, f)
	api.RegisterLocksServer(srv, f)
	apitest.RegisterStream(srv, f, f)
	if admin != nil {
		api.RegisterAdminServer(srv, admin)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return f
}

// setHandle replaces how f answers.
func (f *serialFake) setHandle(h func(method string, req proto.Message) (proto.Message, error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handle = h
}

// received is a copy of the requests f has received.
func (f *serialFake) received() []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeCall(nil), f.calls...)
}

// count is how many requests of method f has received.
func (f *serialFake) count(method string) int {
	n := 0
	for _, c := range f.received() {
		if c.method == method {
			n++
		}
	}
	return n
}

type opIDer interface{ GetOpId() []byte }

func (f *serialFake) serve(ctx context.Context, method string, req proto.Message, def proto.Message) (proto.Message, error) {
	f.mu.Lock()
	c := fakeCall{method: method, req: req}
	c.deadline, _ = ctx.Deadline()
	if r, ok := req.(opIDer); ok {
		c.opID = string(r.GetOpId())
	}
	f.calls = append(f.calls, c)
	h := f.handle
	f.mu.Unlock()
	if h == nil {
		return def, nil
	}
	return h(method, req)
}

func (f *serialFake) serial(ctx context.Context, method string, req proto.Message, key []byte) (*api.SerialResponse, error) {
	m, err := f.serve(ctx, method, req, &api.SerialResponse{Key: key, Applied: method != "Get", Found: true, Value: []byte("v"), Version: 1,
		Receipt: &api.SerialReceipt{Proposer: f.addr, Rounds: 1}})
	if err != nil {
		return nil, err
	}
	return m.(*api.SerialResponse), nil
}

func (f *serialFake) lock(ctx context.Context, method string, req proto.Message, name string) (*api.LockResponse, error) {
	m, err := f.serve(ctx, method, req, &api.LockResponse{Name: name, Acquired: method != "Describe", Held: true, Token: 7, TtlMs: 3000, HeldBy: "me"})
	if err != nil {
		return nil, err
	}
	return m.(*api.LockResponse), nil
}

func (f *serialFake) Get(ctx context.Context, r *api.SerialGetRequest) (*api.SerialResponse, error) {
	return f.serial(ctx, "Get", r, r.GetKey())
}

func (f *serialFake) CompareAndSet(ctx context.Context, r *api.CompareAndSetRequest) (*api.SerialResponse, error) {
	return f.serial(ctx, "CompareAndSet", r, r.GetKey())
}

func (f *serialFake) Delete(ctx context.Context, r *api.SerialDeleteRequest) (*api.SerialResponse, error) {
	return f.serial(ctx, "Delete", r, r.GetKey())
}

func (f *serialFake) Increment(ctx context.Context, r *api.IncrementRequest) (*api.SerialResponse, error) {
	return f.serial(ctx, "Increment", r, r.GetKey())
}

func (f *serialFake) Acquire(ctx context.Context, r *api.AcquireRequest) (*api.LockResponse, error) {
	return f.lock(ctx, "Acquire", r, r.GetName())
}

func (f *serialFake) Renew(ctx context.Context, r *api.RenewRequest) (*api.LockResponse, error) {
	return f.lock(ctx, "Renew", r, r.GetName())
}

func (f *serialFake) Release(ctx context.Context, r *api.ReleaseRequest) (*api.LockResponse, error) {
	return f.lock(ctx, "Release", r, r.GetName())
}

func (f *serialFake) Describe(ctx context.Context, r *api.DescribeLockRequest) (*api.LockResponse, error) {
	return f.lock(ctx, "Describe", r, r.GetName())
}

// reasonErr is a failure with a quorumkv ErrorInfo reason and metadata
// (key, value pairs).
func reasonErr(code codes.Code, reason string, md ...string) error {
	info := &errdetails.ErrorInfo{Domain: api.Domain, Reason: reason, Metadata: map[string]string{}}
	for i := 0; i+1 < len(md); i += 2 {
		info.Metadata[md[i]] = md[i+1]
	}
	st, err := status.New(code, reason+" failure").WithDetails(info)
	if err != nil {
		panic(err)
	}
	return st.Err()
}

// serialClient is a client of the fakes (in that order, no ring unless
// one of them serves Admin) with short tries and lease clock clk (the
// host's when nil).
func serialClient(t *testing.T, clk MonoClock, fakes ...*serialFake) *Client {
	t.Helper()
	var addrs []string
	for _, f := range fakes {
		addrs = append(addrs, f.addr)
	}
	cfg := DefaultLeaseConfig()
	if clk != nil {
		cfg.Clock = clk
	}
	c, err := New(addrs, WithAttemptTimeout(2*time.Second), WithLeaseConfig(cfg), WithGRPCStream())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// closedAddr is a loopback address nobody listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// eventually polls cond until it holds, failing the test after 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// fakeClock is a MonoClock that moves only when told. Timers due at or
// before the new time run (in order) in Advance; a timer set for no delay
// runs at once in a goroutine of its own, as time.AfterFunc's would.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*fakeTimer]struct{}
}

type fakeTimer struct {
	at time.Time
	f  func()
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Unix(1000, 0), timers: map[*fakeTimer]struct{}{}}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	if d <= 0 {
		go f()
		return func() bool { return false }
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), f: f}
	c.timers[t] = struct{}{}
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, ok := c.timers[t]
		delete(c.timers, t)
		return ok
	}
}

// Advance moves the clock by d and runs the timers that come due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	for t := range c.timers {
		if !t.at.After(c.now) {
			due = append(due, t)
			delete(c.timers, t)
		}
	}
	c.mu.Unlock()
	for len(due) > 0 {
		first := 0
		for i, t := range due {
			if t.at.Before(due[first].at) {
				first = i
			}
		}
		due[first].f()
		due = append(due[:first], due[first+1:]...)
	}
}

// pending is how many timers wait.
func (c *fakeClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

func itoa(n int) string { return strconv.Itoa(n) }

package client

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/api/wire"
	"github.com/quorumkv/quorumkv/internal/backoff"
	"github.com/quorumkv/quorumkv/internal/sent"
)

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestPutTravelsOnTheWire: by default a put leaves on a connection opened
// with wire.KVMagic, as one framed StreamRequest, and the framed answer
// comes back to the caller.
func TestPutTravelsOnTheWire(t *testing.T) {
	l := listen(t)
	served := make(chan error, 1)
	go func() {
		served <- func() error {
			c, err := l.Accept()
			if err != nil {
				return err
			}
			defer c.Close()
			f, err := wire.Accept(c, wire.KVMagic, time.Second)
			if err != nil {
				return err
			}
			var req api.StreamRequest
			if err := f.Read(&req); err != nil {
				return err
			}
			op := req.GetOps()[0]
			if string(op.GetPut().GetKey()) != "k" {
				return errors.New("unexpected op: " + op.String())
			}
			if err := f.Write(&api.StreamResponse{Results: []*api.StreamResult{{Id: op.GetId(),
				Result: &api.StreamResult_Put{Put: &api.PutResponse{Context: "ctx"}}}}}); err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, c) // until the client closes
			return err
		}()
	}()
	cl, err := New([]string{l.Addr().String()}, WithoutRouting())
	if err != nil {
		t.Fatal(err)
	}
	res, err := cl.Put(testCtx(t), []byte("k"), []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Context != "ctx" {
		t.Fatalf("context = %q", res.Context)
	}
	_ = cl.Close()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}

// TestGRPCStreamOption: WithGRPCStream sends operations over gRPC (the
// connection opens with the HTTP/2 preface, not the magic).
func TestGRPCStreamOption(t *testing.T) {
	l := listen(t)
	first := make(chan string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			first <- err.Error()
			return
		}
		defer c.Close()
		b := make([]byte, wire.MagicLen)
		_, err = io.ReadFull(c, b)
		if err != nil {
			first <- err.Error()
			return
		}
		first <- string(b)
	}()
	cl, err := New([]string{l.Addr().String()}, WithoutRouting(), WithGRPCStream(), WithAttemptTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	go func() { _, _ = cl.Put(testCtx(t), []byte("k"), []byte("v")) }()
	if got := <-first; got != "PRI * HT" {
		t.Fatalf("connection opened with %q, want the HTTP/2 preface", got)
	}
}

// TestWireDialBackoff: a refused dial fails as UNAVAILABLE, never sent
// (a write may go elsewhere); until the back-off passes, streams fail at
// once without dialling; the back-off grows to its cap and resets
// after a dial that works.
func TestWireDialBackoff(t *testing.T) {
	l := listen(t)
	addr := l.Addr().String()
	_ = l.Close() // nothing listens there now
	now := time.Unix(1000, 0)
	d := &wireDialer{addr: addr, now: func() time.Time { return now }}
	_, _, err := d.open()
	if st := status.Convert(err); st.Code() != codes.Unavailable || !sent.Is(err) {
		t.Fatalf("refused dial: %v", err)
	}
	l2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	defer l2.Close()
	go func() {
		for {
			c, err := l2.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	if _, _, err := d.open(); !sent.Is(err) {
		t.Fatalf("open within the back-off: %v", err)
	}
	if d.backoff != backoff.Redial().Min {
		t.Fatalf("back-off %v, want %v", d.backoff, backoff.Redial().Min)
	}
	now = now.Add(backoff.Redial().Min)
	_, closeConn, err := d.open()
	if err != nil {
		t.Fatalf("open after the back-off: %v", err)
	}
	closeConn()
	if d.backoff != 0 {
		t.Fatalf("back-off %v after a dial that worked", d.backoff)
	}
	for range 10 {
		d.retryAt = time.Time{}
		d.addr = "127.0.0.1:1" // refused
		_, _, _ = d.open()
	}
	if d.backoff != backoff.Redial().Max {
		t.Fatalf("back-off grew to %v, want %v", d.backoff, backoff.Redial().Max)
	}
}

// silentConn takes requests and never answers.
type silentConn struct{ closed chan struct{} }

func (s *silentConn) Send(*api.StreamRequest) error { return nil }
func (s *silentConn) Recv() (*api.StreamResponse, error) {
	<-s.closed
	return nil, io.EOF
}

// TestSilentStreamEnds: an operation that times out on a stream that has
// answered nothing for the stale bound ends the stream, so the next
// operation opens a new one.
func TestSilentStreamEnds(t *testing.T) {
	var opened atomic.Int32
	m := newMux(func() (streamConn, func(), error) {
		opened.Add(1)
		c := &silentConn{closed: make(chan struct{})}
		var once sync.Once
		return c, func() { once.Do(func() { close(c.closed) }) }, nil
	}, true, nil)
	defer m.close()
	m.stale = 0
	for i := range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		_, err := m.do(ctx, &api.StreamOp{Op: &api.StreamOp_Get{Get: &api.GetRequest{Key: []byte("k")}}})
		cancel()
		if status.Code(err) != codes.DeadlineExceeded {
			t.Fatalf("op %d: %v", i, err)
		}
	}
	if n := opened.Load(); n != 2 {
		t.Fatalf("opened %d streams, want 2 (the silent one ended)", n)
	}
	if !strings.Contains(streamError(io.EOF).Error(), "stream ended") {
		t.Fatal("streamError lost its message")
	}
}

// TestIdleStreamIsNotStale: a stream idle for a long time is not stale the
// moment a new operation is sent on it: silence counts from the later of
// the last answer and the moment operations were again in progress.
func TestIdleStreamIsNotStale(t *testing.T) {
	s := &muxStream{pending: map[uint64]*muxOp{}}
	s.lastRecv.Store(time.Now().Add(-time.Hour).UnixNano())
	if _, busy := s.silentFor(time.Now()); busy {
		t.Fatal("an idle stream reads as busy")
	}
	op := getOp()
	op.op.Id = 1
	if !s.register([]*muxOp{op}) {
		t.Fatal("register failed")
	}
	silent, busy := s.silentFor(time.Now())
	if !busy || silent > time.Minute {
		t.Fatalf("just sent on an idle stream: silent %v, busy %v", silent, busy)
	}
	if silent, _ := s.silentFor(time.Now().Add(time.Hour)); silent < 59*time.Minute {
		t.Fatalf("an hour later: silent %v", silent)
	}
}

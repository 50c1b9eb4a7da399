package peer

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/api/wire"
	"github.com/quorumkv/quorumkv/coordinator"
	"github.com/quorumkv/quorumkv/internal/backoff"
)

// TestWirePipeRoundTrip: a request and its answer cross a real
// connection, opened with the magic; a connection opened otherwise is
// refused.
func TestWirePipeRoundTrip(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	served := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		pc, err := AcceptPipe(c, wire.ReadLimits{})
		if err != nil {
			served <- err
			return
		}
		for range 2 { // two requests: the buffers are reused in between
			req, err := pc.Recv()
			if err != nil {
				served <- err
				return
			}
			if err := pc.Send(&api.PipeResponse{Id: req.GetId(), Errors: []string{string(req.GetApplies()[0].GetKey())}}); err != nil {
				served <- err
				return
			}
		}
		served <- nil
	}()
	cc, err := dialPipe(l.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	for i, key := range []string{"first key", "k2"} {
		if err := cc.Send(&api.PipeRequest{Id: uint64(i + 1), Applies: []*api.ApplyRequest{{Key: []byte(key), Clock: []byte{1}}}}); err != nil {
			t.Fatal(err)
		}
		resp, err := cc.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetId() != uint64(i+1) || len(resp.GetErrors()) != 1 || resp.GetErrors()[0] != key {
			t.Fatalf("answer %v to request %d (%s)", resp, i+1, key)
		}
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}

	go func() {
		c, err := net.Dial("tcp", l.Addr().String())
		if err == nil {
			_, _ = c.Write([]byte("GET / HTTP/1.1\r\n\r\n")) // still readable after the close
			_ = c.Close()
		}
	}()
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := AcceptPipe(c, wire.ReadLimits{}); err == nil {
		t.Fatal("a connection without the magic was accepted as a pipe")
	}
}

// TestPipeRedialBackoff: operations for a peer that refuses connections
// fail as unreachable at once, and the pipe does not dial it again before
// its back-off ends.
func TestPipeRedialBackoff(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	var resolved atomic.Int32
	tr := newTestTransport(t, func(string) (string, bool) { resolved.Add(1); return addr, true })
	defer tr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	readsFailUnreachable(ctx, t, tr, 5)
	// (A machine that stalled past the back-off may have dialled again.)
	if n := resolved.Load(); n != 1 && time.Since(start) < backoff.Redial().Min {
		t.Fatalf("dialled %d times within the back-off, want 1", n)
	}
	// Once the back-off ends, the next operation dials again.
	for resolved.Load() < 2 {
		if _, _, err := tr.Read(ctx, "n2", []byte("k")); !errors.Is(err, coordinator.ErrUnreachable) {
			t.Fatalf("read: err = %v, want unreachable", err)
		}
		select {
		case <-ctx.Done():
			t.Fatal("no new dial after the back-off")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestPipeBacksOffAfterSilentClose: a peer that takes the connection but
// closes it without answering (a draining node, or one that does not speak
// the pipe) is not dialled again for every batch.
func TestPipeBacksOffAfterSilentClose(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			_ = c.Close()
		}
	}()
	tr := newTestTransport(t, func(string) (string, bool) { return l.Addr().String(), true })
	defer tr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	readsFailUnreachable(ctx, t, tr, 5)
	// The first read's connection is closed unanswered, the second read
	// starts the back-off; a stalled machine may have passed it.
	if n := accepted.Load(); n > 2 && time.Since(start) < backoff.Redial().Min {
		t.Fatalf("%d connections within the back-off, want at most 2", n)
	}
}

// readsFailUnreachable reads from peer n2 n times; each must fail as
// unreachable.
func readsFailUnreachable(ctx context.Context, t *testing.T, tr *Transport, n int) {
	t.Helper()
	for i := range n {
		if _, _, err := tr.Read(ctx, "n2", []byte("k")); !errors.Is(err, coordinator.ErrUnreachable) {
			t.Fatalf("read %d: err = %v, want unreachable", i, err)
		}
	}
}

// newTestTransport is a transport with the default config and no ring.
func newTestTransport(t *testing.T, resolve func(string) (string, bool)) *Transport {
	t.Helper()
	tr, err := New(DefaultConfig("n1", resolve))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

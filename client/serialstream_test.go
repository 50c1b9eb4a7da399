package client

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"

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

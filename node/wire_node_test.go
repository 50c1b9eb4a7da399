package node_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/api/wire"
	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/node/nodetest"
)

// TestOnePortServesPipesAndGRPC: a node's port tells peers' pipe
// connections from gRPC by their first bytes. The Pipe RPC still answers
// (for tools), a connection sending garbage is dropped, and the node keeps
// serving both.
func TestOnePortServesPipesAndGRPC(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{})
	ctx := ctxT(t)
	addr := c.Node("n1").Addr()

	junkIsDropped(t, addr, []byte("QKVPIPE0 is not the magic, nor an HTTP/2 preface\r\n\r\n"))

	cl := c.Client("n2", "n3", "n1")
	if _, err := cl.Put(ctx, []byte("k"), []byte("v")); err != nil { // n2 or n3 replicate to n1 on a pipe
		t.Fatal(err)
	}
	cc := grpcConn(t, addr)
	stream, err := api.NewReplicaClient(cc).Pipe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&api.PipeRequest{Id: 9, Reads: []*api.ReadRequest{{Key: []byte("k")}, {Key: []byte("absent")}}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetId() != 9 || len(resp.GetReads()) != 2 || resp.GetReads()[1].GetFound() {
		t.Fatalf("Pipe RPC answered %v", resp)
	}
	_ = stream.CloseSend()
	if _, err := cl.Get(ctx, []byte("k")); err != nil {
		t.Fatal(err)
	}
}

// TestClientStreamsOverWireAndGRPC: the Go client's default (framed
// connection) and WithGRPCStream clients, and a bare KV.Stream call (the
// public protocol), all reach the same data through one port; a framed
// connection that sends garbage after the magic is dropped.
func TestClientStreamsOverWireAndGRPC(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{})
	ctx := ctxT(t)
	addr := c.Node("n1").Addr()
	framed, err := client.New([]string{addr}, client.WithoutRouting())
	if err != nil {
		t.Fatal(err)
	}
	defer framed.Close()
	viaGRPC, err := client.New([]string{addr}, client.WithoutRouting(), client.WithGRPCStream())
	if err != nil {
		t.Fatal(err)
	}
	defer viaGRPC.Close()

	junkIsDropped(t, addr, append([]byte(wire.KVMagic), 0xff, 0xff, 0xff, 0xff, 1, 2, 3))

	if _, err := framed.Put(ctx, []byte("a"), []byte("from the wire")); err != nil {
		t.Fatal(err)
	}
	if _, err := viaGRPC.Put(ctx, []byte("b"), []byte("from gRPC")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cl       *client.Client
		key, val string
	}{{viaGRPC, "a", "from the wire"}, {framed, "b", "from gRPC"}} {
		res, err := tc.cl.Get(ctx, []byte(tc.key))
		if err != nil || len(res.Values) != 1 || string(res.Values[0]) != tc.val {
			t.Fatalf("get %s: %v %v", tc.key, res, err)
		}
	}
	cc := grpcConn(t, addr)
	stream, err := api.NewKVClient(cc).Stream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&api.StreamRequest{Ops: []*api.StreamOp{{Id: 7, Op: &api.StreamOp_Get{Get: &api.GetRequest{Key: []byte("a")}}}}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if r := resp.GetResults(); len(r) != 1 || r[0].GetId() != 7 || len(r[0].GetGet().GetValues()) != 1 {
		t.Fatalf("KV.Stream answered %v", resp)
	}
	_ = stream.CloseSend()
}

// junkIsDropped sends payload on a new connection to addr and checks that
// the node closes it (gRPC may say why first).
func junkIsDropped(t *testing.T, addr string, payload []byte) {
	t.Helper()
	junk, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer junk.Close()
	if _, err := junk.Write(payload); err != nil {
		t.Fatal(err)
	}
	_ = junk.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(junk); err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a connection sending %q was not closed: %v", payload, err)
	}
}

// grpcConn is a plain gRPC connection to addr, closed when the test ends.
func grpcConn(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// pipeOnce sends one batch on a Pipe stream to the node at cc and returns
// its answer.
func pipeOnce(ctx context.Context, cc *grpc.ClientConn, req *api.PipeRequest) (*api.PipeResponse, error) {
	stream, err := api.NewReplicaClient(cc).Pipe(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = stream.CloseSend() }()
	if err := stream.Send(req); err != nil {
		return nil, err
	}
	return stream.Recv()
}

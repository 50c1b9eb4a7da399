package node_test

import (
	"bytes"
	"fmt"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/node/nodetest"
)

// TestBadInput sends every kind of malformed request through real gRPC: each
// gets its status code and the server stays up.
func TestBadInput(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{})
	ctx := ctxT(t)
	cc, err := grpc.NewClient(c.Node("n1").Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	kv := api.NewKVClient(cc)
	quorum := &api.Consistency{Level: api.Level_LEVEL_QUORUM}
	cases := []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"empty key put", func() error {
			_, err := kv.Put(ctx, &api.PutRequest{Value: []byte("v")})
			return err
		}, codes.InvalidArgument},
		{"empty key get", func() error {
			_, err := kv.Get(ctx, &api.GetRequest{})
			return err
		}, codes.InvalidArgument},
		{"key over 1 KiB", func() error {
			_, err := kv.Put(ctx, &api.PutRequest{Key: bytes.Repeat([]byte("k"), 1025), Value: []byte("v")})
			return err
		}, codes.InvalidArgument},
		{"key of exactly 1 KiB is fine", func() error {
			_, err := kv.Put(ctx, &api.PutRequest{Key: bytes.Repeat([]byte("k"), 1024), Value: []byte("v")})
			return err
		}, codes.OK},
		{"value over 1 MiB", func() error {
			_, err := kv.Put(ctx, &api.PutRequest{Key: []byte("k"), Value: make([]byte, 1<<20+1)})
			return err
		}, codes.InvalidArgument},
		{"unknown consistency level", func() error {
			_, err := kv.Get(ctx, &api.GetRequest{Key: []byte("k"), Consistency: &api.Consistency{Level: 99}})
			return err
		}, codes.InvalidArgument},
		{"R greater than N", func() error {
			_, err := kv.Get(ctx, &api.GetRequest{Key: []byte("k"), Consistency: &api.Consistency{Count: 4}})
			return err
		}, codes.InvalidArgument},
		{"W greater than N", func() error {
			_, err := kv.Put(ctx, &api.PutRequest{Key: []byte("k"), Value: []byte("v"), Consistency: &api.Consistency{Count: 4}})
			return err
		}, codes.InvalidArgument},
		{"malformed context token", func() error {
			_, err := kv.Put(ctx, &api.PutRequest{Key: []byte("k"), Value: []byte("v"), Context: "not*a*token", Consistency: quorum})
			return err
		}, codes.InvalidArgument},
		{"malformed context bytes", func() error {
			_, err := kv.Delete(ctx, &api.DeleteRequest{Key: []byte("k"), Context: "AAAA"})
			return err
		}, codes.InvalidArgument},
		{"corrupt replica object", func() error {
			resp, err := pipeOnce(ctx, cc, &api.PipeRequest{Id: 1, Applies: []*api.ApplyRequest{{Key: []byte("k"), Clock: []byte{0xff, 0xff}}}})
			if err != nil {
				return err
			}
			if st := resp.GetStatus(); len(st) == 1 && st[0] == api.ItemStatus_ITEM_BAD_WRITE {
				return status.Error(codes.InvalidArgument, resp.GetErrors()[0])
			}
			return fmt.Errorf("corrupt object answered %v", resp)
		}, codes.InvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if got := status.Code(err); got != tc.want {
				t.Fatalf("code = %v (%v), want %v", got, err, tc.want)
			}
		})
	}
	// Still serving.
	h, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health after bad input: %v %v", h, err)
	}
	if _, err := kv.Put(ctx, &api.PutRequest{Key: []byte("ok"), Value: []byte("v")}); err != nil {
		t.Fatalf("good put after bad input: %v", err)
	}
}

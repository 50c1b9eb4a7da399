package node_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/node"
	"github.com/quorumkv/quorumkv/node/nodetest"
	"github.com/quorumkv/quorumkv/vclock"
)

// TestBadInput sends every kind of malformed request through real gRPC: each
// gets its status code and the server stays up.
func TestBadInput(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{})
	// Each case gets its own deadline (set in the loop): a slow one under
	// the race detector does not eat the next one's.
	var ctx context.Context
	setup, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctx = setup
	cc, err := grpc.NewClient(c.Node("n1").Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(api.MaxMessageSize)))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	kv := api.NewKVClient(cc)
	quorum := &api.Consistency{Level: api.Level_LEVEL_QUORUM}
	health := healthpb.NewHealthClient(cc)
	// stored fails the test when a refused write reached any replica.
	stored := func(t *testing.T, key string) {
		for _, n := range c.Nodes {
			if _, found, err := n.Store().Get([]byte(key)); found || err != nil {
				t.Fatalf("%s holds %q after a refused write (err %v)", n.ID(), key, err)
			}
		}
	}
	cases := []struct {
		name string
		call func() error
		want codes.Code
		// reason is the ErrorInfo reason the failure must carry ("" none).
		reason string
		// check runs after the call (what must not have happened).
		check func(t *testing.T)
	}{
		{"empty key put", func() error {
			_, err := kv.Put(ctx, &api.PutRequest{Value: []byte("v")})
			return err
		}, codes.InvalidArgument, "", nil},
		{"empty key get", func() error {
			_, err := kv.Get(ctx, &api.GetRequest{})
			return err
		}, codes.InvalidArgument, "", nil},
		{"key over 1 KiB", func() error {
			_, err := kv.Put(ctx, &api.PutRequest{Key: bytes.Repeat([]byte("k"), 1025), Value: []byte("v")})
			return err
		}, codes.InvalidArgument, "", nil},
		{"key of exactly 1 KiB is fine", func() error {
			_, err := kv.Put(ctx, &api.PutRequest{Key: bytes.Repeat([]byte("k"), 1024), Value: []byte("v")})
			return err
		}, codes.OK, "", nil},
		{"value over 1 MiB", func() error {
			_, err := kv.Put(ctx, &api.PutRequest{Key: []byte("k"), Value: make([]byte, 1<<20+1)})
			return err
		}, codes.InvalidArgument, "", nil},
		{"unknown consistency level", func() error {
			_, err := kv.Get(ctx, &api.GetRequest{Key: []byte("k"), Consistency: &api.Consistency{Level: 99}})
			return err
		}, codes.InvalidArgument, "", nil},
		{"R greater than N", func() error {
			_, err := kv.Get(ctx, &api.GetRequest{Key: []byte("k"), Consistency: &api.Consistency{Count: 4}})
			return err
		}, codes.InvalidArgument, "", nil},
		{"W greater than N", func() error {
			_, err := kv.Put(ctx, &api.PutRequest{Key: []byte("k"), Value: []byte("v"), Consistency: &api.Consistency{Count: 4}})
			return err
		}, codes.InvalidArgument, "", nil},
		{"malformed context token", func() error {
			_, err := kv.Put(ctx, &api.PutRequest{Key: []byte("k"), Value: []byte("v"), Context: "not*a*token", Consistency: quorum})
			return err
		}, codes.InvalidArgument, "", nil},
		{"malformed context bytes", func() error {
			_, err := kv.Delete(ctx, &api.DeleteRequest{Key: []byte("k"), Context: "AAAA"})
			return err
		}, codes.InvalidArgument, "", nil},
		{"W above N on the wire (would wrap from 2^32+1)", func() error {
			_, err := kv.Put(ctx, &api.PutRequest{Key: []byte("k"), Value: []byte("v"), Consistency: &api.Consistency{Count: math.MaxUint32}})
			return err
		}, codes.InvalidArgument, "", nil},
		{"context of 1,001 actors", func() error {
			_, err := kv.Put(ctx, &api.PutRequest{Key: []byte("ctx1001"), Value: []byte("v"), Context: forgedContext(1001, compactActor)})
			return err
		}, codes.InvalidArgument, "", func(t *testing.T) { stored(t, "ctx1001") }},
		{"context token over 64 KiB", func() error {
			_, err := kv.Put(ctx, &api.PutRequest{Key: []byte("ctx64k"), Value: []byte("v"), Context: forgedContext(3000, issueActor)})
			return err
		}, codes.InvalidArgument, "", func(t *testing.T) { stored(t, "ctx64k") }},
		{"forged context of 1,000,000 actors", func() error {
			token := forgedContext(1_000_000, compactActor)
			start := time.Now()
			_, err := kv.Put(ctx, &api.PutRequest{Key: []byte("ctx1m"), Value: []byte("v"), Context: token})
			if d := time.Since(start); d > 3*time.Second && !raceEnabled {
				return fmt.Errorf("refused after %v, want fast", d)
			}
			return err
		}, codes.InvalidArgument, "", func(t *testing.T) { stored(t, "ctx1m") }},
		{"forged context of 1,000,000 actors as the issue sent it (29 MB)", func() error {
			_, err := kv.Put(ctx, &api.PutRequest{Key: []byte("ctx29mb"), Value: []byte("v"), Context: forgedContext(1_000_000, issueActor)})
			return err
		}, codes.ResourceExhausted, "", func(t *testing.T) { stored(t, "ctx29mb") }},
		{"forged clock of 1,000,000 actors over the pipe", func() error {
			resp, err := pipeOnce(ctx, cc, &api.PipeRequest{Id: 1, Applies: []*api.ApplyRequest{{Key: []byte("clock1m"), Clock: forgedClock(1_000_000)}}})
			if err != nil {
				return err
			}
			if st := resp.GetStatus(); len(st) == 1 && st[0] == api.ItemStatus_ITEM_BAD_WRITE {
				return status.Error(codes.InvalidArgument, resp.GetErrors()[0])
			}
			return fmt.Errorf("forged clock answered %v", resp.GetStatus())
		}, codes.InvalidArgument, "", func(t *testing.T) { stored(t, "clock1m") }},
		{"1 MiB siblings past the object byte cap", func() error {
			return siblingsPastCap(ctx, kv)
		}, codes.FailedPrecondition, api.ReasonObjectTooLarge, nil},
		{"corrupt replica object", func() error {
			resp, err := pipeOnce(ctx, cc, &api.PipeRequest{Id: 1, Applies: []*api.ApplyRequest{{Key: []byte("k"), Clock: []byte{0xff, 0xff}}}})
			if err != nil {
				return err
			}
			if st := resp.GetStatus(); len(st) == 1 && st[0] == api.ItemStatus_ITEM_BAD_WRITE {
				return status.Error(codes.InvalidArgument, resp.GetErrors()[0])
			}
			return fmt.Errorf("corrupt object answered %v", resp)
		}, codes.InvalidArgument, "", nil},
	}
	// Megabytes of values outlast the replica timeouts under the race
	// detector (the plain run covers these).
	slowUnderRace := map[string]bool{"1 MiB siblings past the object byte cap": true}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if raceEnabled && slowUnderRace[tc.name] {
				t.Skip("too slow under the race detector")
			}
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			err := tc.call()
			if got := status.Code(err); got != tc.want {
				t.Fatalf("code = %v (%v), want %v", got, err, tc.want)
			}
			if tc.reason != "" {
				if info := api.ErrorInfo(status.Convert(err)); info.GetReason() != tc.reason {
					t.Fatalf("reason = %q (%v), want %q", info.GetReason(), err, tc.reason)
				}
			}
			if err != nil {
				t.Logf("%v", shortErr(err))
			}
			if tc.check != nil {
				tc.check(t)
			}
			// Still serving.
			h, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
			if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Fatalf("health after bad input: %v %v", h, err)
			}
		})
	}
	if _, err := kv.Put(setup, &api.PutRequest{Key: []byte("ok"), Value: []byte("v")}); err != nil {
		t.Fatalf("good put after bad input: %v", err)
	}
}

// compactActor names actor i in 3 bytes (the least a million distinct
// actors take); issueActor as a real actor looks (the 29 MB context of
// issue 15).
func compactActor(i int) vclock.Actor {
	return vclock.Actor([]byte{'a', byte(i >> 16), byte(i >> 8), byte(i)})
}
func issueActor(i int) vclock.Actor { return vclock.Actor(fmt.Sprintf("n1#0123456789abcdef.%07d", i)) }

// forgedContext is the token of a context naming n actors.
func forgedContext(n int, actor func(int) vclock.Actor) string {
	v := make(vclock.VV, n)
	for i := range v {
		v[i] = vclock.Dot{Actor: actor(i), N: 1}
	}
	return v.Token()
}

// forgedClock is a valid clock of n actors, one value.
func forgedClock(n int) []byte {
	es := make([]vclock.Entry, n)
	for i := range es {
		es[i] = vclock.Entry{Actor: compactActor(i), N: 1}
	}
	es[0].Values = []vclock.Sibling{{Value: []byte("v")}}
	return vclock.Clock{Entries: es}.Marshal()
}

// siblingsPastCap writes blind 1 MiB values to one key until the node
// refuses one, and returns that refusal: it must come from the object byte
// cap (8 MiB by default) before the sibling count cap or a timeout. A read
// of the key then returns no more than the cap.
func siblingsPastCap(ctx context.Context, kv api.KVClient) error {
	const max = 20
	for i := range max {
		val := bytes.Repeat([]byte{byte('a' + i)}, 1<<20)
		_, err := kv.Put(ctx, &api.PutRequest{Key: []byte("big"), Value: val})
		if err == nil {
			continue
		}
		got, gerr := kv.Get(ctx, &api.GetRequest{Key: []byte("big")})
		if gerr != nil {
			return gerr
		}
		total := 0
		for _, v := range got.GetValues() {
			total += len(v)
		}
		if total > node.DefaultLimits().MaxObjectBytes || len(got.GetValues()) != i {
			return fmt.Errorf("get returned %d values of %d bytes after %d writes", len(got.GetValues()), total, i)
		}
		if info := api.ErrorInfo(status.Convert(err)); info.GetMetadata()["max"] != strconv.Itoa(node.DefaultLimits().MaxObjectBytes) {
			return fmt.Errorf("refusal does not name the limit: %v", err)
		}
		return err
	}
	return fmt.Errorf("%d siblings of 1 MiB taken", max)
}

// shortErr is err's text cut to a line.
func shortErr(err error) string {
	s := err.Error()
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

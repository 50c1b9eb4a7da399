package node_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/node"
	"github.com/quorumkv/quorumkv/node/nodetest"
)

// heldForwarder holds forwarded register requests while holding is set, as
// a connection to a cut-off node does: the forward ends with its context,
// and the request goes out once release closes (with a fresh deadline, as
// gRPC's relative timeouts give a request that waited in a socket buffer).
type heldForwarder struct {
	inner   node.SerialForwarder
	holding *atomic.Bool
	release <-chan struct{}
	late    *sync.WaitGroup
}

func (h *heldForwarder) Forward(ctx context.Context, to string, call func(context.Context, grpc.ClientConnInterface) error) error {
	if !h.holding.Load() {
		return h.inner.Forward(ctx, to, call)
	}
	h.late.Go(func() {
		<-h.release
		lctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = h.inner.Forward(lctx, to, call)
	})
	<-ctx.Done()
	return ctx.Err()
}

func (h *heldForwarder) Close() { h.inner.Close() }

// TestSerialLateForwardIsNotSettled: a node forwards a change conditioned
// on a version the register has not reached, the forward is held up on its
// way, and the node runs the change itself: its failed condition is not a
// definite "not applied" (the copy on its way can still apply, and here it
// does once the register reaches that version), so the answer is an
// unknown outcome.
func TestSerialLateForwardIsNotSettled(t *testing.T) {
	var holding atomic.Bool
	release := make(chan struct{})
	var late sync.WaitGroup
	c := nodetest.Start(t, 3, nodetest.Options{Tune: func(cfg *node.Config) {
		wrap := cfg.WrapSerialForwarder
		cfg.WrapSerialForwarder = func(in node.SerialForwarder) node.SerialForwarder {
			return &heldForwarder{inner: wrap(in), holding: &holding, release: release, late: &late}
		}
	}})
	defer late.Wait()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	ctx := ctxT(t)
	key := []byte("late-forward")
	prefs := c.Preference(key)
	preferred, other := c.Serial(prefs[0]), c.Serial(prefs[1])
	if _, err := preferred.CompareAndSet(ctx, &api.CompareAndSetRequest{Key: key, Value: []byte("a"),
		Expect: &api.CompareAndSetRequest_ExpectAbsent{ExpectAbsent: true}}); err != nil {
		t.Fatal(err)
	}

	// Version 1 now; the change expects version 2.
	holding.Store(true)
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	res, err := other.CompareAndSet(cctx, &api.CompareAndSetRequest{Key: key, Value: []byte("x"), OpId: []byte("late-op"),
		Expect: &api.CompareAndSetRequest_ExpectVersion{ExpectVersion: 2}})
	cancel()
	holding.Store(false)
	if err == nil {
		t.Fatalf("a change whose forwarded copy is still on its way was answered %v: want an unknown outcome", res)
	}
	if reasonOf(err) != api.ReasonOutcomeUnknown {
		wantReason(t, err, codes.DeadlineExceeded, "") // the caller's deadline passed first
	}

	// The register reaches version 2; the held copy arrives and applies.
	if _, err := preferred.CompareAndSet(ctx, &api.CompareAndSetRequest{Key: key, Value: []byte("b"),
		Expect: &api.CompareAndSetRequest_ExpectVersion{ExpectVersion: 1}}); err != nil {
		t.Fatal(err)
	}
	close(release)
	late.Wait()
	g, err := preferred.Get(ctx, &api.SerialGetRequest{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	if g.GetVersion() != 3 || string(g.GetValue()) != "x" {
		t.Fatalf("register at version %d value %q: want the held change applied at 3", g.GetVersion(), g.GetValue())
	}
}

package resolver_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/client/resolver"
	"github.com/quorumkv/quorumkv/node"
	"github.com/quorumkv/quorumkv/node/nodetest"
)

// instance is a real gRPC service (the health service) registered under
// a name, kept alive by its own loop so the test can kill it the way a
// crash does: the server stops and the keep-alives stop, nothing
// deregisters it.
type instance struct {
	srv  *grpc.Server
	addr string
	stop context.CancelFunc
	done chan struct{}
}

func startInstance(t *testing.T, kv *client.Client, id string) *instance {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(lis) }()
	in := &instance{srv: srv, addr: lis.Addr().String(), done: make(chan struct{})}
	info, err := kv.RegisterOnce(context.Background(), "echo", client.Instance{ID: id, Address: in.addr}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in.stop = cancel
	go func() {
		defer close(in.done)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				_, _ = kv.KeepAliveLease(ctx, info.ID)
			}
		}
	}()
	t.Cleanup(in.kill)
	return in
}

func (in *instance) kill() {
	in.stop()
	<-in.done
	in.srv.Stop()
}

// serviceConfig balances round robin and retries the idempotent Check on
// UNAVAILABLE: a call already on its way to an instance that is killed
// fails with it, as with any resolver; the retry goes to the live one.
const serviceConfig = `{
  "loadBalancingConfig": [{"round_robin": {}}],
  "methodConfig": [{
    "name": [{"service": "grpc.health.v1.Health"}],
    "retryPolicy": {"maxAttempts": 3, "initialBackoff": "0.01s", "maxBackoff": "0.1s",
      "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}
  }]
}`

// Two instances of a gRPC service under one name, dialled as
// quorumkv:///echo with round_robin: both serve; one is killed; every call
// keeps succeeding, and once its lease ends the resolver drops it.
func TestResolverFailsOver(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{Tune: func(cfg *node.Config) {
		cfg.Leases.SweepEvery, cfg.Leases.Grace = 50*time.Millisecond, 300*time.Millisecond
	}})
	kv := c.Client()
	a, b := startInstance(t, kv, "a"), startInstance(t, kv, "b")
	conn, err := grpc.NewClient("quorumkv:///echo", grpc.WithResolvers(resolver.New(kv)),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(serviceConfig))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	var mu sync.Mutex
	served := map[string]int{}
	call := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		var p peer.Peer
		_, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&p), grpc.WaitForReady(true))
		if err == nil {
			mu.Lock()
			served[p.Addr.String()]++
			mu.Unlock()
		}
		return err
	}
	nodetest.Eventually(t, 10*time.Second, func() error {
		if err := call(); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if served[a.addr] == 0 || served[b.addr] == 0 {
			return errContext(served)
		}
		return nil
	})
	a.kill()
	killed := time.Now()
	calls := 0
	for time.Since(killed) < 5*time.Second && calls < 20000 {
		if err := call(); err != nil {
			t.Fatalf("call %d, %v after an instance died: %v", calls, time.Since(killed), err)
		}
		calls++
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d calls in the 5 s after an instance died, all served (by address: %v)", calls, served)
	if calls < 10 {
		t.Fatalf("only %d calls in 5 s", calls)
	}
}

type errContext map[string]int

func (e errContext) Error() string { return "not both instances served yet" }

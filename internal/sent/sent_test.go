package sent

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

func call(t *testing.T, addr string) error {
	t.Helper()
	cc, err := grpc.NewClient(addr, append(DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{Service: "missing"})
	return err
}

// TestNotSentOnRefusedDial: a call to a port nobody listens on fails
// UNAVAILABLE and typed as never sent.
func TestNotSentOnRefusedDial(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	err = call(t, addr)
	if !Is(err) || status.Code(err) != codes.Unavailable {
		t.Fatalf("refused dial: %v (not sent %v, code %v)", err, Is(err), status.Code(err))
	}
}

// TestSentWhenTheServerAnswers: a failure the server answered with was
// sent, whatever its code.
func TestSentWhenTheServerAnswers(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(l) }()
	defer srv.Stop()
	err = call(t, l.Addr().String())
	if err == nil || Is(err) || status.Code(err) != codes.NotFound {
		t.Fatalf("answered failure: %v (not sent %v)", err, Is(err))
	}
}

func TestWrap(t *testing.T) {
	if Wrap(nil) != nil {
		t.Fatal("Wrap(nil) != nil")
	}
	err := Wrap(status.Error(codes.Unavailable, "connection refused"))
	if !Is(err) || status.Code(err) != codes.Unavailable || Wrap(err) != err {
		t.Fatalf("Wrap: %v", err)
	}
}

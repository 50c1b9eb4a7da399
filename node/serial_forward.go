package node

import (
	"context"
	"fmt"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/coordinator"
	"github.com/quorumkv/quorumkv/internal/backoff"
	"github.com/quorumkv/quorumkv/internal/sent"
	"github.com/quorumkv/quorumkv/security"
)

// SerialForwarder sends a register or lock request on to another node.
type SerialForwarder interface {
	// Forward runs call with a connection to node. An error that is a
	// sent.NotSentError or coordinator.ErrUnreachable means the request
	// never left; any other may come after the node ran it.
	Forward(ctx context.Context, node string, call func(context.Context, grpc.ClientConnInterface) error) error
	Close()
}

// forwardedKey is the metadata that marks a forwarded register request:
// the node it reaches runs it, and never forwards it again.
const forwardedKey = "quorumkv-serial-forwarded"

// isForwarded reports a request another node forwarded here.
func isForwarded(ctx context.Context) bool {
	md, ok := metadata.FromIncomingContext(ctx)
	return ok && len(md.Get(forwardedKey)) > 0
}

// forwarder keeps one client connection per peer address for forwarded
// register requests.
type forwarder struct {
	resolve func(node string) (string, bool)
	creds   credentials.TransportCredentials
	mu      sync.Mutex
	conns   map[string]*grpc.ClientConn
}

// newForwarder forwards to the nodes resolve finds, through TLS when tlsc
// is not nil.
func newForwarder(resolve func(string) (string, bool), tlsc *security.Client) *forwarder {
	var creds credentials.TransportCredentials = insecure.NewCredentials()
	if tlsc != nil {
		creds = tlsc.Credentials()
	}
	return &forwarder{resolve: resolve, creds: creds, conns: map[string]*grpc.ClientConn{}}
}

func (f *forwarder) Forward(ctx context.Context, node string, call func(context.Context, grpc.ClientConnInterface) error) error {
	cc, err := f.conn(node)
	if err != nil {
		return err
	}
	return call(metadata.AppendToOutgoingContext(ctx, forwardedKey, "1"), cc)
}

func (f *forwarder) conn(node string) (*grpc.ClientConn, error) {
	addr, ok := f.resolve(node)
	if !ok {
		return nil, fmt.Errorf("%w: no address known for node %q", coordinator.ErrUnreachable, node)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if cc, ok := f.conns[addr]; ok {
		return cc, nil
	}
	opts := append(sent.DialOptions(), grpc.WithTransportCredentials(f.creds), backoff.GRPCConnect(),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(api.MaxMessageSize), grpc.MaxCallSendMsgSize(api.MaxMessageSize)))
	cc, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", coordinator.ErrUnreachable, err)
	}
	f.conns[addr] = cc
	return cc, nil
}

func (f *forwarder) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for addr, cc := range f.conns {
		_ = cc.Close()
		delete(f.conns, addr)
	}
}

package node

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"

	"github.com/soheilhy/cmux"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/security"
)

// roleFor is the role a gRPC method needs on a TLS node (see
// security.Role): the internal services take only node certificates, the
// Admin calls that change the ring or the cluster only admin ones,
// everything else any client.
func roleFor(method string) security.Role {
	switch {
	case strings.HasPrefix(method, "/quorumkv.v1.Replica/"), strings.HasPrefix(method, "/quorumkv.v1.Paxos/"):
		return security.RoleNode
	}
	switch method {
	case "/quorumkv.v1.Admin/Repair", "/quorumkv.v1.Admin/Commit", "/quorumkv.v1.Admin/Leave",
		"/quorumkv.v1.Admin/Remove", "/quorumkv.v1.Admin/GossipKey":
		return security.RoleAdmin
	}
	return security.RoleClient
}

// tlsConnOf finds the TLS connection under one the port's multiplexer
// handed on.
func tlsConnOf(c net.Conn) *tls.Conn {
	for range 4 {
		switch x := c.(type) {
		case *tls.Conn:
			return x
		case *cmux.MuxConn:
			c = x.Conn
		default:
			return nil
		}
	}
	return nil
}

// refusal turns a role check's error into the gRPC status: UNAUTHENTICATED
// without a certificate, PERMISSION_DENIED with one that grants too little.
func refusal(err error, method string) error {
	if errors.Is(err, security.ErrNoCertificate) {
		return status.Errorf(codes.Unauthenticated, "%s needs a client certificate", method)
	}
	return status.Errorf(codes.PermissionDenied, "%s: %v", method, err)
}

// checkCall refuses a gRPC call whose caller's certificate does not allow
// method.
func (n *Node) checkCall(ctx context.Context, method string) error {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return status.Error(codes.Unauthenticated, "no connection information")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return status.Error(codes.Unauthenticated, "not a TLS connection")
	}
	if err := n.tls.Check(info.State, roleFor(method)); err != nil {
		return refusal(err, method)
	}
	return nil
}

// tlsServerOptions are the gRPC server options of a TLS node: its
// credentials and the role checks of every call.
func (n *Node) tlsServerOptions() []grpc.ServerOption {
	if n.tls == nil {
		return nil
	}
	return []grpc.ServerOption{
		grpc.Creds(security.ServerCredentials(tlsConnOf)),
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := n.checkCall(ctx, info.FullMethod); err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := n.checkCall(ss.Context(), info.FullMethod); err != nil {
				return err
			}
			return h(srv, ss)
		}),
	}
}

// wireRefusal is the gRPC status refusing a framed connection whose
// caller's role does not allow need (nil: allowed). The peer pipe takes
// nodes only, the client stream any client.
func (n *Node) wireRefusal(c net.Conn, need security.Role, what string) error {
	if n.tls == nil {
		return nil
	}
	tc := tlsConnOf(c)
	if tc == nil {
		return status.Error(codes.Unauthenticated, "not a TLS connection")
	}
	if err := n.tls.Check(tc.ConnectionState(), need); err != nil {
		n.log.Debug("framed connection refused", "remote", c.RemoteAddr(), "need", need, "err", err)
		return refusal(err, what)
	}
	return nil
}

// loadTLS loads the port's TLS and the client TLS towards other nodes
// (both nil without TLS).
func (n *Node) loadTLS() error {
	srv, err := security.NewServer(n.cfg.TLS)
	if err != nil || srv == nil {
		return err
	}
	cl, err := security.NewClient(n.cfg.TLS.PeerFiles(), true)
	if err != nil {
		return err
	}
	n.tls, n.peerTLS = srv, cl
	return nil
}

// verifyNodeFunc is the membership's identity check of other nodes on a TLS
// node: the node at a gossiped data address must present a node
// certificate for its id (nil without TLS).
func (n *Node) verifyNodeFunc() func(ctx context.Context, id, addr string) error {
	if n.peerTLS == nil {
		return nil
	}
	return func(ctx context.Context, id, addr string) error { return n.peerTLS.VerifyNode(ctx, addr, id) }
}

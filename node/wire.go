package node

import (
	"context"
	"net"

	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/api/wire"
	"github.com/quorumkv/quorumkv/peer"
	"github.com/quorumkv/quorumkv/security"
)

// The Go client's KV stream runs on a plain TCP connection to the node's
// gRPC port, framed by package wire and told apart from gRPC (and from a
// peer's pipe, package peer) by its first bytes (wire.KVMagic).

// kvConn is the serving side of a client's wire KV stream. A failed send
// closes the connection, so its reader ends too.
type kvConn struct {
	f      *wire.Conn
	cancel context.CancelFunc
}

func (k *kvConn) Recv() (*api.StreamRequest, error) {
	req := &api.StreamRequest{}
	if err := k.f.Read(req); err != nil {
		k.cancel() // the client is gone: end its operations, as gRPC does
		return nil, err
	}
	return req, nil
}

func (k *kvConn) Send(resp *api.StreamResponse) error {
	if err := k.f.Write(resp); err != nil {
		_ = k.f.Close()
		return err
	}
	return nil
}

// serveStreamConn serves a client's wire KV stream until the client closes
// it or the node drains.
func (s *kvServer) serveStreamConn(c net.Conn) {
	f, err := wire.Accept(c, wire.KVMagic, peer.WriteTimeout)
	if err != nil {
		s.n.log.Debug("refused a KV stream connection", "from", c.RemoteAddr(), "err", err)
		return
	}
	if err := s.n.wireRefusal(c, security.RoleClient, "the KV stream"); err != nil {
		refuseStream(f, err)
		return
	}
	f.SetReadLimits(s.n.wireLimits(s.n.cfg.Limits.clientMessageMax(s.n.cfg.maxValue())))
	ctx, cancel := context.WithCancel(s.n.wireCtx)
	defer cancel()
	s.serveStream(ctx, &kvConn{f: f, cancel: cancel})
}

// refuseStreamBatches bounds the batches a refused stream is answered for.
const refuseStreamBatches = 16

// refuseStream answers every operation of the first batches a refused
// client sends with the refusal (so it learns why), then closes.
func refuseStream(f *wire.Conn, refusal error) {
	st := status.Convert(refusal)
	for range refuseStreamBatches {
		req := &api.StreamRequest{}
		if err := f.Read(req); err != nil {
			return
		}
		resp := &api.StreamResponse{}
		for _, op := range req.GetOps() {
			resp.Results = append(resp.Results, &api.StreamResult{Id: op.GetId(),
				Result: &api.StreamResult_Error{Error: &api.StreamError{Code: int32(st.Code()), Message: st.Message()}}})
		}
		if err := f.Write(resp); err != nil {
			return
		}
	}
}

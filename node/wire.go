package node

import (
	"context"
	"net"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/api/wire"
	"github.com/quorumkv/quorumkv/peer"
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
	f.SetReadLimits(s.n.wireLimits(s.n.cfg.Limits.clientMessageMax(s.n.cfg.maxValue())))
	ctx, cancel := context.WithCancel(s.n.wireCtx)
	defer cancel()
	s.serveStream(ctx, &kvConn{f: f, cancel: cancel})
}

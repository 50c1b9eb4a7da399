package node

import (
	"context"
	"net"
	"time"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/api/wire"
)

// The replica pipe between two nodes, and the Go client's KV stream, run on
// plain TCP connections to the node's gRPC port, framed by package wire and
// told apart from gRPC by their first bytes (wire.PipeMagic, wire.KVMagic).
// A wire batch costs one write and one read system call, with no hand-off
// to gRPC's goroutines.
const (
	// wireWriteTimeout bounds a write to a peer that stopped reading (a
	// partition with dropped packets): the connection is then dropped.
	wireWriteTimeout = pipeStale
	wireDialTimeout  = 2 * time.Second
)

// pipeClientConn is the sending side of a wire pipe (pipe.go).
type pipeClientConn struct{ f *wire.Conn }

// dialPipe opens a wire pipe to the node listening at addr.
func dialPipe(addr string) (*pipeClientConn, error) {
	f, err := wire.Dial(addr, wire.PipeMagic, wireDialTimeout, wireWriteTimeout)
	if err != nil {
		return nil, err
	}
	return &pipeClientConn{f: f}, nil
}

func (p *pipeClientConn) Send(req *api.PipeRequest) error { return p.f.Write(req) }

func (p *pipeClientConn) Recv() (*api.PipeResponse, error) {
	resp := &api.PipeResponse{}
	return resp, p.f.Read(resp)
}

func (p *pipeClientConn) Close() error { return p.f.Close() }

// pipeServerConn is the serving side of a wire pipe (server_pipe.go).
type pipeServerConn struct{ f *wire.Conn }

// acceptPipe checks the magic a peer opened conn with.
func acceptPipe(c net.Conn) (*pipeServerConn, error) {
	f, err := wire.Accept(c, wire.PipeMagic, wireWriteTimeout)
	if err != nil {
		return nil, err
	}
	return &pipeServerConn{f: f}, nil
}

func (p *pipeServerConn) Recv() (*api.PipeRequest, error) {
	req := &api.PipeRequest{}
	return req, p.f.Read(req)
}

func (p *pipeServerConn) Send(resp *api.PipeResponse) error { return p.f.Write(resp) }

func (p *pipeServerConn) Close() error { return p.f.Close() }

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
	f, err := wire.Accept(c, wire.KVMagic, wireWriteTimeout)
	if err != nil {
		s.n.log.Debug("refused a KV stream connection", "from", c.RemoteAddr(), "err", err)
		return
	}
	ctx, cancel := context.WithCancel(s.n.wireCtx)
	defer cancel()
	s.serveStream(ctx, &kvConn{f: f, cancel: cancel})
}

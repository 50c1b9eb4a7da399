package peer

import (
	"net"
	"time"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/api/wire"
)

// The replica pipe between two nodes runs on a plain TCP connection to the
// peer's gRPC port, framed by package wire and told apart from gRPC by its
// first bytes (wire.PipeMagic). A wire batch costs one write and one read
// system call, with no hand-off to gRPC's goroutines.
const (
	// WriteTimeout bounds a write to a peer that stopped reading (a
	// partition with dropped packets): the connection is then dropped.
	WriteTimeout = 10 * time.Second
	dialTimeout  = 2 * time.Second
)

// pipeClientConn is the sending side of a wire pipe.
type pipeClientConn struct{ f *wire.Conn }

// dialPipe opens a wire pipe to the node listening at addr (through TLS
// when secure is not nil).
func dialPipe(addr string, secure wire.Securer) (*pipeClientConn, error) {
	f, err := wire.Dial(addr, wire.PipeMagic, dialTimeout, WriteTimeout, secure)
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

// Close resets the connection (wire.Conn.Abort): the pipe closes a
// connection only when it fails the batches still on it (a broken or
// stale stream, the transport closing), and a batch reported failed must
// not reach the peer later from the kernel's retransmissions.
func (p *pipeClientConn) Close() error { return p.f.Abort() }

// PipeServerConn is the serving side of a wire pipe (a node's Replica
// server serves it).
type PipeServerConn struct{ f *wire.Conn }

// AcceptPipe checks the magic a peer opened c with; the peer's frames are
// read under l.
func AcceptPipe(c net.Conn, l wire.ReadLimits) (*PipeServerConn, error) {
	f, err := wire.Accept(c, wire.PipeMagic, WriteTimeout)
	if err != nil {
		return nil, err
	}
	f.SetReadLimits(l)
	return &PipeServerConn{f: f}, nil
}

func (p *PipeServerConn) Recv() (*api.PipeRequest, error) {
	req := &api.PipeRequest{}
	return req, p.f.Read(req)
}

func (p *PipeServerConn) Send(resp *api.PipeResponse) error { return p.f.Write(resp) }

func (p *PipeServerConn) Close() error { return p.f.Close() }

package node

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/quorumkv/quorumkv/api"
)

// The replica pipe between two nodes runs on a plain TCP connection to the
// peer's gRPC port, told apart from gRPC by its first bytes (pipeMagic).
// After the magic each direction is a sequence of frames: a 4-byte
// big-endian length and that many bytes of protobuf (api.PipeRequest one
// way, api.PipeResponse the other). The messages are those of the
// Replica.Pipe RPC; only HTTP/2 is gone: no flow-control frames and no
// hand-off to gRPC's reading and writing goroutines, which cost a thread
// wake-up per message on each side (a wire batch costs one write and one
// read system call).
const (
	pipeMagic = "QKVPIPE1"
	// maxFrame bounds one message: a batch holds at most pipeBatchBytes
	// of objects plus one object (max value size times max siblings).
	maxFrame = api.MaxMessageSize
	// wireWriteTimeout bounds a write to a peer that stopped reading (a
	// partition with dropped packets): the connection is then dropped.
	wireWriteTimeout = pipeStale
	wireDialTimeout  = 2 * time.Second
)

var errFrameTooLarge = errors.New("frame too large")

// frameConn reads and writes frames on a connection. Writes must not run
// concurrently with each other, nor reads with reads.
type frameConn struct {
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
	rbuf []byte // the last frame read
	wbuf []byte // the last frame written
}

func newFrameConn(c net.Conn) *frameConn {
	return &frameConn{conn: c, r: bufio.NewReaderSize(c, 64<<10), w: bufio.NewWriterSize(c, 64<<10)}
}

// write sends m as one frame and flushes it.
func (f *frameConn) write(m proto.Message) error {
	b, err := proto.MarshalOptions{}.MarshalAppend(append(f.wbuf[:0], 0, 0, 0, 0), m)
	if err != nil {
		return err
	}
	if len(b)-4 > maxFrame {
		return fmt.Errorf("%w: %d bytes", errFrameTooLarge, len(b)-4)
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	f.wbuf = reusable(b)
	if err := f.conn.SetWriteDeadline(time.Now().Add(wireWriteTimeout)); err != nil {
		return err
	}
	if _, err := f.w.Write(b); err != nil {
		return err
	}
	return f.w.Flush()
}

// read receives one frame into m.
func (f *frameConn) read(m proto.Message) error {
	b, err := readFrame(f.r, f.rbuf[:0])
	if err != nil {
		return err
	}
	f.rbuf = reusable(b)
	return proto.Unmarshal(b, m)
}

// reusable is b to reuse for the next frame, or nil when b is large.
func reusable(b []byte) []byte {
	if cap(b) > 1<<20 {
		return nil
	}
	return b
}

// readFrame reads one frame's payload, appended to buf. Memory grows with
// the bytes that actually arrive, not with the length a peer announces.
func readFrame(r io.Reader, buf []byte) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int64(binary.BigEndian.Uint32(hdr[:]))
	if n > maxFrame {
		return nil, fmt.Errorf("%w: %d bytes", errFrameTooLarge, n)
	}
	if n <= int64(cap(buf)) {
		b := buf[:n]
		_, err := io.ReadFull(r, b)
		return b, noEOF(err)
	}
	w := bytes.NewBuffer(buf)
	got, err := w.ReadFrom(io.LimitReader(r, n))
	if err == nil && got < n {
		err = io.ErrUnexpectedEOF
	}
	return w.Bytes(), err
}

// noEOF turns a frame cut short into ErrUnexpectedEOF.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// pipeClientConn is the sending side of a wire pipe (pipe.go).
type pipeClientConn struct{ f *frameConn }

// dialPipe opens a wire pipe to the node listening at addr.
func dialPipe(addr string) (*pipeClientConn, error) {
	c, err := net.DialTimeout("tcp", addr, wireDialTimeout)
	if err != nil {
		return nil, err
	}
	f := newFrameConn(c)
	if _, err := f.w.WriteString(pipeMagic); err != nil {
		_ = c.Close()
		return nil, err
	}
	return &pipeClientConn{f: f}, nil
}

func (p *pipeClientConn) Send(req *api.PipeRequest) error { return p.f.write(req) }

func (p *pipeClientConn) Recv() (*api.PipeResponse, error) {
	resp := &api.PipeResponse{}
	return resp, p.f.read(resp)
}

func (p *pipeClientConn) Close() error { return p.f.conn.Close() }

// pipeServerConn is the serving side of a wire pipe (server_pipe.go).
type pipeServerConn struct{ f *frameConn }

// acceptPipe checks the magic a peer opened conn with.
func acceptPipe(c net.Conn) (*pipeServerConn, error) {
	f := newFrameConn(c)
	var magic [len(pipeMagic)]byte
	if _, err := io.ReadFull(f.r, magic[:]); err != nil {
		return nil, err
	}
	if string(magic[:]) != pipeMagic {
		return nil, fmt.Errorf("not a pipe connection (opened with %q)", magic[:])
	}
	return &pipeServerConn{f: f}, nil
}

func (p *pipeServerConn) Recv() (*api.PipeRequest, error) {
	req := &api.PipeRequest{}
	return req, p.f.read(req)
}

func (p *pipeServerConn) Send(resp *api.PipeResponse) error { return p.f.write(resp) }

func (p *pipeServerConn) Close() error { return p.f.conn.Close() }

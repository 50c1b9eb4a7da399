package wire

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/quorumkv/quorumkv/api"
)

const (
	// PipeMagic opens a peer's replica pipe (api.PipeRequest frames one
	// way, api.PipeResponse the other).
	PipeMagic = "QKVPIPE1"
	// KVMagic opens a client's KV stream (api.StreamRequest frames one
	// way, api.StreamResponse the other).
	KVMagic = "QKVKVST1"
	// MagicLen is the length of every magic.
	MagicLen = 8
	// MaxFrame bounds one message on a connection without ReadLimits (a
	// client's or a peer's end: it reads what the node it dialled sends).
	MaxFrame = api.MaxMessageSize
)

// ErrFrameTooLarge is a frame longer than the connection's limit.
var ErrFrameTooLarge = errors.New("frame too large")

// ErrBudget is a frame whose bytes the node's budget could not take within
// the frame timeout.
var ErrBudget = errors.New("no budget for the frame's bytes")

// Budget is the bytes in flight a node's framed connections share
// (golang.org/x/sync/semaphore.Weighted is one): a frame's announced
// length is acquired before its body is read and released once it is
// decoded.
type Budget interface {
	TryAcquire(n int64) bool
	Acquire(ctx context.Context, n int64) error
	Release(n int64)
}

// ReadLimits bound what the other end of a connection can make this end
// hold. Zero fields are no bound (MaxFrame: the MaxFrame constant).
type ReadLimits struct {
	// MaxFrame refuses (and the reader then closes on) a longer frame. A
	// connection reads one frame at a time, so this is also its bytes in
	// flight.
	MaxFrame int
	// IdleTimeout bounds the wait for the next frame's header.
	IdleTimeout time.Duration
	// FrameTimeout bounds the wait for a frame's body once its header came
	// (a peer that announces a frame and then sends nothing), and for the
	// budget to take it.
	FrameTimeout time.Duration
	// Budget is shared by the node's connections (nil: none).
	Budget Budget
}

// Conn reads and writes frames on a connection. Writes must not run
// concurrently with each other, nor reads with reads.
type Conn struct {
	conn         net.Conn
	writeTimeout time.Duration
	r            *bufio.Reader
	w            *bufio.Writer
	rbuf         []byte // the last frame read
	wbuf         []byte // the last frame written
	limits       ReadLimits
}

// NewConn frames c. A write that takes longer than writeTimeout (a peer
// that stopped reading) fails; 0 means no bound.
func NewConn(c net.Conn, writeTimeout time.Duration) *Conn {
	return &Conn{conn: c, writeTimeout: writeTimeout,
		r: bufio.NewReaderSize(c, 64<<10), w: bufio.NewWriterSize(c, 64<<10)}
}

// SetReadLimits bounds the frames this end reads from now on.
func (f *Conn) SetReadLimits(l ReadLimits) { f.limits = l }

// Securer runs the client side of TLS on a connection to addr.
type Securer interface {
	Handshake(ctx context.Context, c net.Conn, addr string, alpn ...string) (*tls.Conn, error)
}

// Dial connects to addr (through TLS when secure is not nil, the
// handshake within timeout too) and opens the connection with magic (sent
// with the first frame).
func Dial(addr, magic string, timeout, writeTimeout time.Duration, secure Securer) (*Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if secure != nil {
		tc, err := secure.Handshake(ctx, c, addr)
		if err != nil {
			_ = c.Close()
			return nil, err
		}
		c = tc
	}
	f := NewConn(c, writeTimeout)
	if _, err := f.w.WriteString(magic); err != nil {
		_ = c.Close()
		return nil, err
	}
	return f, nil
}

// Accept checks that c was opened with magic.
func Accept(c net.Conn, magic string, writeTimeout time.Duration) (*Conn, error) {
	f := NewConn(c, writeTimeout)
	got := make([]byte, len(magic))
	if _, err := io.ReadFull(f.r, got); err != nil {
		return nil, err
	}
	if string(got) != magic {
		return nil, fmt.Errorf("not a %q connection (opened with %q)", magic, got)
	}
	return f, nil
}

// Write sends m as one frame and flushes it.
func (f *Conn) Write(m proto.Message) error {
	b, err := proto.MarshalOptions{}.MarshalAppend(append(f.wbuf[:0], 0, 0, 0, 0), m)
	if err != nil {
		return err
	}
	if len(b)-4 > MaxFrame {
		return fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, len(b)-4)
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	f.wbuf = Reusable(b)
	if f.writeTimeout > 0 {
		if err := f.conn.SetWriteDeadline(time.Now().Add(f.writeTimeout)); err != nil {
			return err
		}
	}
	if _, err := f.w.Write(b); err != nil {
		return err
	}
	return f.w.Flush()
}

// Read receives one frame into m.
func (f *Conn) Read(m proto.Message) error {
	if f.limits == (ReadLimits{}) {
		b, err := ReadFrame(f.r, f.rbuf[:0])
		if err != nil {
			return err
		}
		f.rbuf = Reusable(b)
		return proto.Unmarshal(b, m)
	}
	return f.readLimited(m)
}

// readLimited is Read under f.limits: deadlines on the header and on the
// body, the frame limit checked on the announced length, and the budget
// taken for that length before the body is read and kept until it is
// decoded. A frame that fails any of them fails the read (the caller
// closes the connection).
func (f *Conn) readLimited(m proto.Message) error {
	l := f.limits
	if err := f.deadline(4, l.IdleTimeout); err != nil {
		return err
	}
	var hdr [4]byte
	if _, err := io.ReadFull(f.r, hdr[:]); err != nil {
		return err
	}
	n := int64(binary.BigEndian.Uint32(hdr[:]))
	if max := int64(cmp.Or(l.MaxFrame, MaxFrame)); n > max {
		return fmt.Errorf("%w: %d bytes announced, the limit is %d", ErrFrameTooLarge, n, max)
	}
	if l.Budget != nil && n > 0 {
		if err := acquire(l.Budget, n, l.FrameTimeout); err != nil {
			return err
		}
		defer l.Budget.Release(n)
	}
	if err := f.deadline(int(n), l.FrameTimeout); err != nil {
		return err
	}
	b := f.rbuf[:0]
	if n > int64(cap(b)) {
		b = make([]byte, n) // taken from the budget: allocated whole
	}
	b = b[:n]
	if _, err := io.ReadFull(f.r, b); err != nil {
		return noEOF(err)
	}
	f.rbuf = Reusable(b)
	return proto.Unmarshal(b, m)
}

// deadline sets the read deadline d from now when fewer than need bytes
// are buffered (the read would wait on the connection).
func (f *Conn) deadline(need int, d time.Duration) error {
	if d <= 0 || f.r.Buffered() >= need {
		return nil
	}
	return f.conn.SetReadDeadline(time.Now().Add(d))
}

// acquire takes n bytes of b, waiting at most timeout (0: as long as it
// takes).
func acquire(b Budget, n int64, timeout time.Duration) error {
	if b.TryAcquire(n) {
		return nil
	}
	ctx, cancel := context.Background(), context.CancelFunc(func() {})
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, timeout)
	}
	defer cancel()
	if err := b.Acquire(ctx, n); err != nil {
		return fmt.Errorf("%w: %d bytes: %v", ErrBudget, n, err)
	}
	return nil
}

// Close closes the connection.
func (f *Conn) Close() error { return f.conn.Close() }

// Abort closes the connection and discards what it has not delivered: a
// TCP connection is reset instead of closed. After a plain close the
// kernel goes on retransmitting unacknowledged data with a growing
// back-off, so to a peer cut off by a partition the frames can land a
// minute later, long after this end reported them as failed; after Abort
// nothing more is sent.
func (f *Conn) Abort() error {
	c := f.conn
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn() // no close_notify: the reset below ends it
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // close sends a reset and drops the send queue
	}
	return c.Close()
}

// RemoteAddr is the other end's address.
func (f *Conn) RemoteAddr() net.Addr { return f.conn.RemoteAddr() }

// Reusable is b to reuse for the next frame, or nil when b is large.
func Reusable(b []byte) []byte {
	if cap(b) > 1<<20 {
		return nil
	}
	return b
}

// ReadFrame reads one frame's payload, appended to buf. Memory grows with
// the bytes that actually arrive, not with the length a peer announces.
func ReadFrame(r io.Reader, buf []byte) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int64(binary.BigEndian.Uint32(hdr[:]))
	if n > MaxFrame {
		return nil, fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, n)
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

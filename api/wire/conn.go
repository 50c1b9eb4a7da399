package wire

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

const (
	// PipeMagic opens a peer's replica pipe (api.PipeRequest frames one
	// way, api.PipeResponse the other).
	PipeMagic = "QKVPIPE1"
	// KVMagic opens a client's KV stream (api.StreamRequest frames one
	// way, api.StreamResponse the other).
	KVMagic = "QKVKVST1"
	// MagicLen is the length of every magic.
	MagicLen = 8
	// MaxFrame bounds one message.
	MaxFrame = api.MaxMessageSize
)

// ErrFrameTooLarge is a frame longer than MaxFrame.
var ErrFrameTooLarge = errors.New("frame too large")

// Conn reads and writes frames on a connection. Writes must not run
// concurrently with each other, nor reads with reads.
type Conn struct {
	conn         net.Conn
	writeTimeout time.Duration
	r            *bufio.Reader
	w            *bufio.Writer
	rbuf         []byte // the last frame read
	wbuf         []byte // the last frame written
}

// NewConn frames c. A write that takes longer than writeTimeout (a peer
// that stopped reading) fails; 0 means no bound.
func NewConn(c net.Conn, writeTimeout time.Duration) *Conn {
	return &Conn{conn: c, writeTimeout: writeTimeout,
		r: bufio.NewReaderSize(c, 64<<10), w: bufio.NewWriterSize(c, 64<<10)}
}

// Dial connects to addr and opens the connection with magic (sent with the
// first frame).
func Dial(addr, magic string, timeout, writeTimeout time.Duration) (*Conn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
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
	b, err := ReadFrame(f.r, f.rbuf[:0])
	if err != nil {
		return err
	}
	f.rbuf = Reusable(b)
	return proto.Unmarshal(b, m)
}

// Close closes the connection.
func (f *Conn) Close() error { return f.conn.Close() }

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

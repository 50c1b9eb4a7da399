package wire

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/semaphore"

	"google.golang.org/protobuf/proto"

	"github.com/quorumkv/quorumkv/api"
)

func frame(payload []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(payload))), payload...)
}

// TestReadFrame: whole frames decode; cut, oversized and empty input fail
// with the right error, whatever the reuse buffer.
func TestReadFrame(t *testing.T) {
	big := bytes.Repeat([]byte{7}, 3000)
	for _, tc := range []struct {
		name    string
		in      []byte
		bufCap  int
		want    []byte
		wantErr error
	}{
		{"empty input", nil, 0, nil, io.EOF},
		{"short header", []byte{0, 0}, 0, nil, io.ErrUnexpectedEOF},
		{"empty frame", frame(nil), 0, []byte{}, nil},
		{"small frame", frame([]byte("abc")), 0, []byte("abc"), nil},
		{"into buffer", frame([]byte("abc")), 16, []byte("abc"), nil},
		{"grows past buffer", frame(big), 16, big, nil},
		{"cut in buffer", frame([]byte("abcdef"))[:6], 16, nil, io.ErrUnexpectedEOF},
		{"cut past buffer", frame(big)[:100], 16, nil, io.ErrUnexpectedEOF},
		{"too large", binary.BigEndian.AppendUint32(nil, MaxFrame+1), 0, nil, ErrFrameTooLarge},
		{"huge announced, little sent", append(binary.BigEndian.AppendUint32(nil, MaxFrame), 1, 2, 3), 0, nil, io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadFrame(bytes.NewReader(tc.in), make([]byte, 0, tc.bufCap))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil && !bytes.Equal(got, tc.want) {
				t.Fatalf("got %d bytes, want %d", len(got), len(tc.want))
			}
		})
	}
}

// FuzzReadFrame: no input makes the frame decoder panic or return more
// than it was given; what decodes re-encodes to the same frame.
func FuzzReadFrame(f *testing.F) {
	req, _ := proto.Marshal(&api.PipeRequest{Id: 3, Applies: []*api.ApplyRequest{{Key: []byte("k"), Clock: []byte{1, 2}}}})
	f.Add(frame(req))
	f.Add(frame(nil))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1})
	f.Add(append(frame([]byte("x")), frame(req)...))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		var buf []byte
		for {
			b, err := ReadFrame(r, buf[:0])
			if err != nil {
				return
			}
			if len(b) > len(in) {
				t.Fatalf("decoded %d bytes from %d", len(b), len(in))
			}
			var m api.PipeRequest
			_ = proto.Unmarshal(b, &m)
			buf = Reusable(b)
		}
	})
}

// FuzzReadLimited: the limited reader never panics, never takes a frame
// past its limit, gives its budget back after every frame, and reads the
// same messages as ReadFrame from frames within the limit.
func FuzzReadLimited(f *testing.F) {
	req, _ := proto.Marshal(&api.PipeRequest{Id: 3, Applies: []*api.ApplyRequest{{Key: []byte("k"), Clock: []byte{1, 2}}}})
	f.Add(frame(req), 100)
	f.Add(frame(nil), 0)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1}, 10)
	f.Add(append(frame([]byte("x")), frame(req)...), 20)
	f.Fuzz(func(t *testing.T, in []byte, maxFrame int) {
		maxFrame = 1 + abs(maxFrame)%4096
		budget := semaphore.NewWeighted(int64(maxFrame))
		c := NewConn(readerConn{bytes.NewReader(in)}, 0)
		c.SetReadLimits(ReadLimits{MaxFrame: maxFrame, Budget: budget})
		plain := bytes.NewReader(in)
		for {
			var got api.PipeRequest
			err := c.Read(&got)
			want, werr := ReadFrame(plain, nil)
			if !budget.TryAcquire(int64(maxFrame)) {
				t.Fatal("budget not given back")
			}
			budget.Release(int64(maxFrame))
			if err != nil {
				if werr == nil && len(want) <= maxFrame && proto.Unmarshal(want, &api.PipeRequest{}) == nil {
					t.Fatalf("limited read failed (%v) on a frame ReadFrame takes", err)
				}
				return
			}
			if werr != nil || len(want) > maxFrame {
				t.Fatalf("limited read took a frame ReadFrame refused (%v) or past the limit (%d > %d)", werr, len(want), maxFrame)
			}
			var m api.PipeRequest
			if proto.Unmarshal(want, &m) != nil || !proto.Equal(&m, &got) {
				t.Fatal("limited read decoded another message")
			}
		}
	})
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// readerConn is a net.Conn reading from r (deadlines are ignored).
type readerConn struct{ r io.Reader }

func (c readerConn) Read(b []byte) (int, error)     { return c.r.Read(b) }
func (readerConn) Write(b []byte) (int, error)      { return len(b), nil }
func (readerConn) Close() error                     { return nil }
func (readerConn) LocalAddr() net.Addr              { return nil }
func (readerConn) RemoteAddr() net.Addr             { return nil }
func (readerConn) SetDeadline(time.Time) error      { return nil }
func (readerConn) SetReadDeadline(time.Time) error  { return nil }
func (readerConn) SetWriteDeadline(time.Time) error { return nil }

// limitedPair is a framed connection reading under l, and the raw other
// end to write frames with.
func limitedPair(t *testing.T, l ReadLimits) (*Conn, net.Conn) {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	f := NewConn(a, time.Second)
	f.SetReadLimits(l)
	return f, b
}

// readErr reads one frame on f in the background.
func readErr(f *Conn) <-chan error {
	done := make(chan error, 1)
	go func() { done <- f.Read(&api.PipeRequest{}) }()
	return done
}

func waitErr(t *testing.T, done <-chan error, within time.Duration) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(within):
		t.Fatalf("read still blocked after %v", within)
		return nil
	}
}

// TestReadLimits: a frame announced past the limit is refused on its
// header; a connection silent before a header or within a body fails at
// its deadline; a frame the budget cannot take within the frame timeout
// fails; the budget is given back once a frame is decoded.
func TestReadLimits(t *testing.T) {
	msg, _ := proto.Marshal(&api.PipeRequest{Id: 7})
	t.Run("frame within the limit", func(t *testing.T) {
		budget := semaphore.NewWeighted(100)
		f, raw := limitedPair(t, ReadLimits{MaxFrame: 100, IdleTimeout: time.Second, FrameTimeout: time.Second, Budget: budget})
		done := readErr(f)
		go raw.Write(frame(msg))
		if err := waitErr(t, done, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		if !budget.TryAcquire(100) {
			t.Fatal("the budget was not given back")
		}
	})
	t.Run("announced past the limit", func(t *testing.T) {
		f, raw := limitedPair(t, ReadLimits{MaxFrame: 100})
		done := readErr(f)
		go raw.Write(binary.BigEndian.AppendUint32(nil, 255<<20))
		if err := waitErr(t, done, 5*time.Second); !errors.Is(err, ErrFrameTooLarge) {
			t.Fatalf("err = %v, want ErrFrameTooLarge", err)
		}
	})
	t.Run("idle", func(t *testing.T) {
		f, _ := limitedPair(t, ReadLimits{IdleTimeout: 50 * time.Millisecond})
		if err := waitErr(t, readErr(f), 5*time.Second); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("err = %v, want a deadline error", err)
		}
	})
	t.Run("announced, then silent", func(t *testing.T) {
		budget := semaphore.NewWeighted(1000)
		f, raw := limitedPair(t, ReadLimits{MaxFrame: 1000, FrameTimeout: 50 * time.Millisecond, Budget: budget})
		done := readErr(f)
		go raw.Write(binary.BigEndian.AppendUint32(nil, 1000))
		if err := waitErr(t, done, 5*time.Second); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("err = %v, want a deadline error", err)
		}
		if !budget.TryAcquire(1000) {
			t.Fatal("the budget was not given back")
		}
	})
	t.Run("budget taken", func(t *testing.T) {
		budget := semaphore.NewWeighted(100)
		budget.Acquire(context.Background(), 90)
		f, raw := limitedPair(t, ReadLimits{MaxFrame: 100, FrameTimeout: 50 * time.Millisecond, Budget: budget})
		done := readErr(f)
		go raw.Write(frame(bytes.Repeat([]byte{1}, 20)))
		if err := waitErr(t, done, 5*time.Second); !errors.Is(err, ErrBudget) {
			t.Fatalf("err = %v, want ErrBudget", err)
		}
	})
}

// TestAbortResets: an aborted connection is reset, not closed: the other
// end reads a reset, not the end of the stream, and nothing the aborting
// end had not delivered can arrive later.
func TestAbortResets(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan *Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(accepted)
			return
		}
		f, err := Accept(c, "TESTMAG1", time.Second)
		if err != nil {
			_ = c.Close()
			close(accepted)
			return
		}
		accepted <- f
	}()
	f, err := Dial(l.Addr().String(), "TESTMAG1", time.Second, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Write(&api.PipeRequest{Id: 1}); err != nil {
		t.Fatal(err)
	}
	srv, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	defer srv.Close()
	if err := srv.Read(&api.PipeRequest{}); err != nil {
		t.Fatal(err)
	}
	if err := f.Abort(); err != nil {
		t.Fatal(err)
	}
	err = srv.Read(&api.PipeRequest{})
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after the other end aborted: %v, want a connection reset", err)
	}
}

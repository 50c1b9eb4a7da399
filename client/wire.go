package client

import (
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/api/wire"
	"github.com/quorumkv/quorumkv/internal/backoff"
	"github.com/quorumkv/quorumkv/internal/sent"
)

// By default gets, puts and deletes travel on a framed TCP connection to
// the node's gRPC port (package wire) carrying the KV.Stream messages,
// without HTTP/2: no hand-off to gRPC's reading and writing goroutines on
// either side. WithGRPCStream keeps them on the KV.Stream RPC.
const (
	wireDialTimeout  = 2 * time.Second
	wireWriteTimeout = streamStale
)

// wireDialer opens a node's framed streams.
type wireDialer struct {
	addr   string
	now    func() time.Time
	secure wire.Securer // nil: plaintext

	mu      sync.Mutex
	backoff time.Duration
	retryAt time.Time
	lastErr error
}

func (d *wireDialer) open() (streamConn, func(), error) {
	d.mu.Lock()
	if d.now().Before(d.retryAt) {
		err := d.lastErr
		d.mu.Unlock()
		return nil, nil, dialError(err)
	}
	d.mu.Unlock()
	f, err := wire.Dial(d.addr, wire.KVMagic, wireDialTimeout, wireWriteTimeout, d.secure)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		// Until the back-off passes, streams to the node fail at once (as
		// unreachable) instead of dialling for every batch.
		d.backoff = backoff.Redial().Next(d.backoff)
		d.retryAt = d.now().Add(d.backoff)
		d.lastErr = err
		return nil, nil, dialError(err)
	}
	d.backoff = 0
	return wireStream{f}, func() { _ = f.Close() }, nil
}

// dialError is a failed dial: UNAVAILABLE, typed as never sent (so a
// write may go elsewhere).
func dialError(err error) error {
	return sent.Wrap(status.Error(codes.Unavailable, "dial: "+err.Error()))
}

// wireStream is a framed KV stream.
type wireStream struct{ f *wire.Conn }

func (w wireStream) Send(req *api.StreamRequest) error { return w.f.Write(req) }

func (w wireStream) Recv() (*api.StreamResponse, error) {
	resp := &api.StreamResponse{}
	return resp, w.f.Read(resp)
}

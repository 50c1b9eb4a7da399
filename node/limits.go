package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/api/wire"
	"github.com/quorumkv/quorumkv/coordinator"
	"github.com/quorumkv/quorumkv/replica"
	"github.com/quorumkv/quorumkv/vclock"
)

// Limits bound what clients and peers can make a node hold: every input
// has a price limit, whatever a sender announces.
type Limits struct {
	// MaxContextBytes and MaxContextActors bound a client's causal context
	// token (checked before any replica sees it).
	MaxContextBytes, MaxContextActors int
	// MaxObjectBytes bounds a key's stored sibling set for client writes,
	// and what a read returns.
	MaxObjectBytes int
	// MaxConns bounds the open TCP connections to the node's port (gRPC,
	// clients' framed streams and peers' pipes together); a connection
	// past it is closed at once.
	MaxConns int
	// MaxOps bounds the client operations (gets, puts, deletes, unary or
	// on streams) in progress on the node; one past it is answered
	// RESOURCE_EXHAUSTED (OVERLOADED) without running.
	MaxOps int
	// MaxStreams bounds the concurrent gRPC streams of one connection.
	MaxStreams int
	// FrameIdleTimeout closes a framed connection (a client's stream, a
	// peer's pipe) that sends no frame for this long; FrameReadTimeout one
	// that announced a frame and does not send it within this long.
	FrameIdleTimeout, FrameReadTimeout time.Duration
	// WireBytes is the node's budget of frame bytes being read across its
	// framed connections.
	WireBytes int64
}

// Defaults for Limits.
const (
	DefaultMaxConns         = 4096
	DefaultMaxOps           = 8192
	DefaultMaxStreams       = 1024
	DefaultFrameIdleTimeout = 10 * time.Minute
	DefaultFrameReadTimeout = 30 * time.Second
	DefaultWireBytes        = 128 << 20
	// messageOverhead is what a message carries besides its keys, values
	// and contexts (ids, field tags, consistency, timeouts) at most.
	messageOverhead = 64 << 10
)

// DefaultLimits are the limits of a server on a LAN.
func DefaultLimits() Limits {
	return Limits{
		MaxContextBytes:  vclock.DefaultMaxContextBytes,  // 1,000 actors fit: ten times a real key's
		MaxContextActors: vclock.DefaultMaxContextActors, // a real key's clock has tens
		MaxObjectBytes:   replica.DefaultMaxObjectBytes,  // eight values of the largest size
		MaxConns:         DefaultMaxConns,                // thousands of idle clients; a file descriptor each
		MaxOps:           DefaultMaxOps,                  // far more than two cores keep busy; bounds their memory
		MaxStreams:       DefaultMaxStreams,              // a client's concurrent unary calls on one connection
		FrameIdleTimeout: DefaultFrameIdleTimeout,        // a client or peer quiet this long redials when it needs to
		FrameReadTimeout: DefaultFrameReadTimeout,        // a frame of the largest size arrives in this on any link
		WireBytes:        DefaultWireBytes,               // ten frames of the largest size read at once
	}
}

func (l *Limits) setDefaults() {
	d := DefaultLimits()
	setZero(&l.MaxContextBytes, d.MaxContextBytes)
	setZero(&l.MaxContextActors, d.MaxContextActors)
	setZero(&l.MaxObjectBytes, d.MaxObjectBytes)
	setZero(&l.MaxConns, d.MaxConns)
	setZero(&l.MaxOps, d.MaxOps)
	setZero(&l.MaxStreams, d.MaxStreams)
	setZero(&l.FrameIdleTimeout, d.FrameIdleTimeout)
	setZero(&l.FrameReadTimeout, d.FrameReadTimeout)
	setZero(&l.WireBytes, d.WireBytes)
}

// Validate reports limits that cannot work with values of up to maxValue
// bytes and replicas per key (zero fields take their defaults).
func (l Limits) Validate(maxValue, replicas int) error {
	l.setDefaults()
	switch {
	case l.MaxContextBytes < 0 || l.MaxContextActors < 0 || l.MaxObjectBytes < 0 || l.MaxConns < 0 ||
		l.MaxOps < 0 || l.MaxStreams < 0 || l.FrameIdleTimeout < 0 || l.FrameReadTimeout < 0 || l.WireBytes < 0:
		return errors.New("node: limits must not be negative")
	case l.MaxStreams > 1<<31:
		return fmt.Errorf("node: --max-streams %d: want at most %d", l.MaxStreams, 1<<31)
	case l.MaxObjectBytes < maxValue+l.MaxContextBytes:
		return fmt.Errorf("node: --max-object-size %d must hold a value of --max-value-size (%d) and a context of --max-context-size (%d)",
			l.MaxObjectBytes, maxValue, l.MaxContextBytes)
	case l.WireBytes < int64(l.PeerMessageMax(replicas)):
		return fmt.Errorf("node: --wire-bytes %d must hold one peer message (%d bytes: a batch and a merged object of %d times --max-object-size)",
			l.WireBytes, l.PeerMessageMax(replicas), mergedObjects(replicas))
	}
	return nil
}

func (l Limits) contextLimits() vclock.ContextLimits {
	return vclock.ContextLimits{MaxBytes: l.MaxContextBytes, MaxActors: l.MaxContextActors}
}

// clientMessageMax is the largest message a client may send: a batch of
// operations closes at api.BatchBytes, so it holds that much and one more
// operation of the largest size.
func (l Limits) clientMessageMax(maxValue int) int {
	return api.BatchBytes + maxValue + coordinator.DefaultMaxKeySize + l.MaxContextBytes + messageOverhead
}

// PeerMessageMax is the largest message a peer may send with replicas per
// key: a batch and one more object of the largest size a merge can make.
func (l Limits) PeerMessageMax(replicas int) int {
	return api.BatchBytes + mergedObjects(replicas)*l.MaxObjectBytes + coordinator.DefaultMaxKeySize + messageOverhead
}

// mergedObjects is how many times MaxObjectBytes a stored object may reach:
// client writes are held to the cap on the replica coordinating them, but
// concurrent writes coordinated by different replicas (N of them, and a
// node gaining the partition) merge into their union, which replication,
// hints and anti-entropy must still carry.
func mergedObjects(replicas int) int { return max(4, replicas+1) }

// maxValue is the value limit in effect.
func (c *Config) maxValue() int {
	if c.MaxValueSize > 0 {
		return c.MaxValueSize
	}
	return coordinator.DefaultMaxValueSize
}

// wireLimits are the read limits of a framed connection whose frames are
// at most maxFrame bytes.
func (n *Node) wireLimits(maxFrame int) wire.ReadLimits {
	l := n.cfg.Limits
	return wire.ReadLimits{MaxFrame: maxFrame, IdleTimeout: l.FrameIdleTimeout, FrameTimeout: l.FrameReadTimeout, Budget: n.wireBudget}
}

// newWireBudget is the node's budget of frame bytes in flight.
func newWireBudget(l Limits) wire.Budget { return semaphore.NewWeighted(l.WireBytes) }

// opLimiter counts the client operations in progress.
type opLimiter struct {
	max    int64
	active atomic.Int64
}

// start takes a slot for an operation (done gives it back), or refuses
// with *coordinator.OverloadedError when all are taken.
func (o *opLimiter) start() (done func(), err error) {
	if o.active.Add(1) > o.max {
		o.active.Add(-1)
		return nil, &coordinator.OverloadedError{Max: int(o.max)}
	}
	return o.done, nil
}

func (o *opLimiter) done() { o.active.Add(-1) }

// kvService is the prefix of the client KV service's method names.
const kvService = "/quorumkv.v1.KV/"

// grpcLimits are the gRPC server options that bound messages and streams:
// the receive limit fits the largest peer message (the port serves peers
// too, and one gRPC server cannot set it per service), and the KV
// service's requests are held to a client's once received.
func (n *Node) grpcLimits() []grpc.ServerOption {
	l := n.cfg.Limits
	clientMax := l.clientMessageMax(n.cfg.maxValue())
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(max(clientMax, l.PeerMessageMax(n.cfg.Replicas))),
		grpc.MaxConcurrentStreams(uint32(l.MaxStreams)),
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := checkClientMessage(info.FullMethod, req, clientMax); err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if strings.HasPrefix(info.FullMethod, kvService) {
				ss = &limitedStream{ServerStream: ss, method: info.FullMethod, max: clientMax}
			}
			return h(srv, ss)
		}),
	}
}

// checkClientMessage refuses a KV request larger than a client's message
// limit as INVALID_ARGUMENT (one of its fields is past its limit, or it
// carries bytes no field explains). A message past gRPC's receive limit
// is refused by gRPC before it is read, RESOURCE_EXHAUSTED.
func checkClientMessage(method string, m any, limit int) error {
	if !strings.HasPrefix(method, kvService) {
		return nil
	}
	if pm, ok := m.(proto.Message); ok {
		if size := proto.Size(pm); size > limit {
			return status.Errorf(codes.InvalidArgument, "request of %d bytes is larger than the client message limit (%d bytes, from --max-value-size)", size, limit)
		}
	}
	return nil
}

// limitedStream holds a KV stream's requests to the client message limit.
type limitedStream struct {
	grpc.ServerStream
	method string
	max    int
}

func (s *limitedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return checkClientMessage(s.method, m, s.max)
}

// connLimitListener closes accepted connections past max open ones.
type connLimitListener struct {
	net.Listener
	max     int64
	open    atomic.Int64
	refused func(open int64)
}

func (l *connLimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if n := l.open.Add(1); n > l.max {
			l.open.Add(-1)
			_ = c.Close()
			l.refused(n - 1)
			continue
		}
		return &countedConn{Conn: c, l: l}, nil
	}
}

// countedConn gives its slot back when closed (once).
type countedConn struct {
	net.Conn
	l    *connLimitListener
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}

// everyInterval lets an action run at most once per interval (a log line
// for a condition that may hold for every request).
type everyInterval struct {
	interval time.Duration
	last     atomic.Int64 // unix nanos of the last run
}

func (e *everyInterval) allow(now time.Time) bool {
	last := e.last.Load()
	if now.UnixNano()-last < int64(e.interval) {
		return false
	}
	return e.last.CompareAndSwap(last, now.UnixNano())
}

package peer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/api/wire"
	"github.com/quorumkv/quorumkv/coordinator"
	"github.com/quorumkv/quorumkv/internal/backoff"
	"github.com/quorumkv/quorumkv/internal/sent"
	"github.com/quorumkv/quorumkv/ring"
	"github.com/quorumkv/quorumkv/security"
	"github.com/quorumkv/quorumkv/vclock"
)

// RingViewer is what the transport needs of the membership: the view its
// messages carry (ring epoch, target signature), and a way to catch up
// when a peer answers from a newer epoch.
type RingViewer interface {
	View() *ring.View
	SyncWith(node string)
}

// Transport reaches peers' Replica services. It keeps one client
// connection per peer address.
type Transport struct {
	cfg     Config
	self    string
	resolve func(node string) (string, bool)
	ring    RingViewer // nil: messages carry epoch 0 (tests of the transport alone)
	now     func() time.Time

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
	pipes *pipes
}

// Config configures a Transport.
type Config struct {
	Self    string                           // this node's id (sent as the sender of every message)
	Resolve func(node string) (string, bool) // a peer's address
	Ring    RingViewer                       // nil: messages carry epoch 0 (tests of the transport alone)
	// Hold is the longest new applies to a peer wait while a batch of
	// applies to it is unanswered (the peer is fsyncing), so they leave
	// together: group commit across nodes. Default 20 ms: about one fsync.
	Hold time.Duration
	// Stale is how long a batch may go unanswered before the pipe is
	// presumed stuck and replaced (its callers gave up long before).
	// Default 10 s, the longest client timeout worth waiting out.
	Stale time.Duration
	// QuietAfter is how long a peer may leave work unanswered (a batch
	// sent, no answer since) before it counts as quiet: frozen, thrashing
	// or starved. The coordinator treats a quiet peer like a down one
	// (Quiet); its first answer ends it. Default DefaultQuietAfter.
	QuietAfter time.Duration
	// Now is the clock responsiveness is measured with (nil: time.Now).
	Now func() time.Time
	// TLS secures every connection to a peer (nil: plaintext).
	TLS *security.Client
}

// DefaultConfig is Config's defaults for self and resolve.
func DefaultConfig(self string, resolve func(string) (string, bool)) Config {
	return Config{Self: self, Resolve: resolve, Hold: 20 * time.Millisecond, Stale: WriteTimeout, QuietAfter: DefaultQuietAfter}
}

// Validate reports a config a transport cannot run with.
func (c Config) Validate() error {
	switch {
	case c.Self == "" || c.Resolve == nil:
		return errors.New("peer: Self and Resolve are required")
	case c.Hold <= 0 || c.Stale <= 0 || c.QuietAfter <= 0:
		return fmt.Errorf("peer: Hold (%v), Stale (%v) and QuietAfter (%v) must be positive", c.Hold, c.Stale, c.QuietAfter)
	}
	return nil
}

// New returns a transport for cfg.
func New(cfg Config) (*Transport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &Transport{cfg: cfg, self: cfg.Self, resolve: cfg.Resolve, ring: cfg.Ring, now: cfg.Now, conns: map[string]*grpc.ClientConn{}}
	if t.now == nil {
		t.now = time.Now
	}
	t.pipes = newPipes(t)
	return t, nil
}

// view is the ring view messages carry now (epoch 0, no target without a
// membership).
func (t *Transport) view() (epoch uint64, target string) {
	if t.ring == nil {
		return 0, ""
	}
	v := t.ring.View()
	return v.Epoch, v.Target.Signature()
}

// Learn notes a peer's ring epoch: a newer one than this node's means this
// node's picture of the ring is stale, and it asks that peer for its
// member document.
func (t *Transport) Learn(node string, epoch uint64) {
	if t.ring != nil && epoch > t.ring.View().Epoch {
		t.ring.SyncWith(node)
	}
}

func (t *Transport) client(node string) (api.ReplicaClient, error) {
	cc, err := t.conn(node)
	if err != nil {
		return nil, err
	}
	return api.NewReplicaClient(cc), nil
}

// credentials are the gRPC transport credentials towards peers.
func (t *Transport) credentials() credentials.TransportCredentials {
	if t.cfg.TLS != nil {
		return t.cfg.TLS.Credentials()
	}
	return insecure.NewCredentials()
}

// securer is the TLS of the peer pipe's connections (nil: plaintext).
func (t *Transport) securer() wire.Securer {
	if t.cfg.TLS != nil {
		return t.cfg.TLS
	}
	return nil
}

// conn is the client connection to node's address.
func (t *Transport) conn(node string) (*grpc.ClientConn, error) {
	addr, ok := t.resolve(node)
	if !ok {
		return nil, fmt.Errorf("%w: no address known for node %q", coordinator.ErrUnreachable, node)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	cc, ok := t.conns[addr]
	if !ok {
		var err error
		opts := append(sent.DialOptions(), grpc.WithTransportCredentials(t.credentials()), backoff.GRPCConnect(),
			grpc.WithInitialWindowSize(StreamWindow), grpc.WithInitialConnWindowSize(ConnWindow),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(api.MaxMessageSize), grpc.MaxCallSendMsgSize(api.MaxMessageSize)))
		cc, err = grpc.NewClient(addr, opts...)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", coordinator.ErrUnreachable, err)
		}
		t.conns[addr] = cc
	}
	return cc, nil
}

// Quiet reports node has left work unanswered for Config.QuietAfter (see
// Health): the coordinator sends it nothing new while it can do without
// it. Its first answer ends it.
func (t *Transport) Quiet(node string) bool {
	h := t.pipes.health(node)
	return h != nil && h.quiet()
}

// Health is what node's answers on its pipe tell of it now (false: no pipe
// to it yet).
func (t *Transport) Health(node string) (Health, bool) {
	h := t.pipes.health(node)
	if h == nil {
		return Health{}, false
	}
	return h.snapshot(), true
}

// Revive redials at once the pipes to peers that alive says are back,
// instead of waiting out their back-off.
func (t *Transport) Revive(alive func(string) bool) { t.pipes.revive(alive) }

// Apply sends c to node on its pipe, batched with other traffic to it.
func (t *Transport) Apply(ctx context.Context, node string, key []byte, c vclock.Clock) error {
	return t.pipes.do(node, &pipeOp{ctx: ctx, key: key, clock: c.Marshal()}).err
}

// ApplyAsync is Apply without waiting: done gets the outcome.
func (t *Transport) ApplyAsync(ctx context.Context, node string, key []byte, c vclock.Clock, done func(error)) {
	t.pipes.start(node, &pipeOp{ctx: ctx, key: key, clock: c.Marshal()}, func(r pipeResult) { done(r.err) })
}

func (t *Transport) Hint(ctx context.Context, node, target string, key []byte, c vclock.Clock) error {
	rc, err := t.client(node)
	if err != nil {
		return err
	}
	epoch, _ := t.view()
	req := &api.HintRequest{Key: key, Clock: c.Marshal(), Target: target, From: t.self, Epoch: epoch}
	if d, ok := ctx.Deadline(); ok {
		req.DeadlineUnixNano = d.UnixNano()
	}
	_, err = rc.Hint(ctx, req)
	return t.fromStatus(node, err)
}

// Read asks node for its copy of key on its pipe, batched with other reads.
func (t *Transport) Read(ctx context.Context, node string, key []byte) (vclock.Clock, bool, error) {
	return readResult(node, t.pipes.do(node, &pipeOp{ctx: ctx, kind: opRead, key: key}))
}

// ReadAsync is Read without waiting: done gets the outcome.
func (t *Transport) ReadAsync(ctx context.Context, node string, key []byte, done func(vclock.Clock, bool, error)) {
	t.pipes.start(node, &pipeOp{ctx: ctx, kind: opRead, key: key}, func(r pipeResult) { done(readResult(node, r)) })
}

func readResult(node string, r pipeResult) (vclock.Clock, bool, error) {
	if r.err != nil {
		return vclock.Clock{}, false, r.err
	}
	c, err := vclock.Unmarshal(r.clock)
	if err != nil {
		return vclock.Clock{}, false, fmt.Errorf("node %s sent a corrupt object: %w", node, err)
	}
	return c, r.found, nil
}

func (t *Transport) Coordinate(ctx context.Context, node string, w coordinator.Write) (coordinator.WriteResult, error) {
	rc, err := t.client(node)
	if err != nil {
		return coordinator.WriteResult{}, err
	}
	req := writeToProto(w, t.self)
	req.Epoch, _ = t.view()
	resp, err := rc.Coordinate(ctx, req)
	if err != nil {
		t.learnFrom(node, err)
		return coordinator.WriteResult{}, fromForwardStatus(node, err)
	}
	return writeResultFromProto(resp)
}

func (t *Transport) Close() {
	t.pipes.close()
	t.mu.Lock()
	defer t.mu.Unlock()
	for addr, cc := range t.conns {
		_ = cc.Close()
		delete(t.conns, addr)
	}
}

// HTTP/2 flow-control windows of every gRPC connection a node opens or
// accepts. gRPC's defaults (64 KiB, grown by BDP pings) make a long-lived
// stream of small messages trade a WINDOW_UPDATE or a ping for every few
// messages, each a write and a read on both sides; fixed large windows
// (which also turn the pings off) avoid those frames (docs/design.md).
// Memory is bounded by what the server has in progress, not by the window.
const (
	StreamWindow = 8 << 20
	ConnWindow   = 16 << 20
)

package client

import (
	"math"
	"time"

	"google.golang.org/grpc"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/security"
)

// Level is a named consistency level.
type Level int

// Consistency levels. Quorum is ⌊N/2⌋+1.
const (
	Quorum Level = iota
	One
	Two
	Three
	All
)

func (l Level) proto() api.Level {
	switch l {
	case One:
		return api.Level_LEVEL_ONE
	case Two:
		return api.Level_LEVEL_TWO
	case Three:
		return api.Level_LEVEL_THREE
	case All:
		return api.Level_LEVEL_ALL
	}
	return api.Level_LEVEL_QUORUM
}

// Option configures a Client.
type Option func(*options)

type options struct {
	attemptTimeout time.Duration
	dial           []grpc.DialOption
	noRouting      bool
	grpcStream     bool
	resp           Responsiveness
	noHedge        bool
	lease          LeaseConfig
	tlsFiles       security.Files
	tls            *security.Client // loaded from tlsFiles by New
}

// WithTLS speaks TLS to the nodes: the CA that signed their certificates
// and, where nodes require one (or for admin calls), this client's
// certificate and key. The files are read again when they change.
func WithTLS(files security.Files) Option { return func(o *options) { o.tlsFiles = files } }

// WithGRPCStream sends gets, puts and deletes as KV.Stream gRPC calls
// instead of on the framed connection to the same port (for a path that
// only passes gRPC, such as an HTTP/2 proxy).
func WithGRPCStream() Option { return func(o *options) { o.grpcStream = true } }

// WithoutRouting sends every request to the configured endpoints (the first
// that answers) instead of to a replica of its key.
func WithoutRouting() Option { return func(o *options) { o.noRouting = true } }

// WithAttemptTimeout bounds each try on one endpoint (default 5s). A read
// that times out on one node is tried on the next.
func WithAttemptTimeout(d time.Duration) Option { return func(o *options) { o.attemptTimeout = d } }

// WithDialOptions adds gRPC dial options. They apply to the gRPC
// connections (admin calls, and gets, puts and deletes under
// WithGRPCStream or to an endpoint that is not a plain host:port), not to
// the framed connection operations use by default.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.dial = append(o.dial, opts...) }
}

// CallOption configures one request.
type CallOption func(*call)

type call struct {
	level   Level
	count   int
	strict  bool
	context string
	lease   LeaseID
}

// consistency is the request's consistency on the wire. A count that does
// not fit the wire's 32 bits travels as the largest one, which every node
// refuses as more than N: a count never wraps to a smaller one.
func (c *call) consistency() *api.Consistency {
	count := uint32(math.MaxUint32)
	if c.count >= 0 && c.count <= math.MaxUint32 {
		count = uint32(c.count)
	}
	return &api.Consistency{Level: c.level.proto(), Count: count, Strict: c.strict}
}

// WithLevel sets the request's consistency level (default Quorum).
func WithLevel(l Level) CallOption { return func(c *call) { c.level = l } }

// WithCount asks for an explicit number of replicas (R for reads, W for
// writes), from 1 to N; a node refuses a count above N (ErrInvalidArgument).
// 0 is the level's count.
func WithCount(n int) CallOption { return func(c *call) { c.count = n } }

// WithStrict forbids fallback replicas from counting toward the quorum.
func WithStrict() CallOption { return func(c *call) { c.strict = true } }

// WithContext writes with the causal context token of an earlier read: the
// write replaces the values that read returned. Without it a write is blind
// and becomes a sibling of whatever is stored.
func WithContext(token string) CallOption { return func(c *call) { c.context = token } }

package bench

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/security"
)

// QuorumkvOptions configure the quorumkv driver.
type QuorumkvOptions struct {
	// Endpoints are the seed nodes (gRPC host:port).
	Endpoints []string
	// Level, R, W and Strict are each request's consistency: R for gets, W
	// for puts (0: Level decides).
	Level  client.Level
	R, W   int
	Strict bool
	// AttemptTimeout bounds one try on one endpoint (default 5s).
	AttemptTimeout time.Duration
	// Contexts remembers the last causal context seen for each key, so an
	// update with no token overwrites what this benchmark last wrote or read
	// instead of adding a sibling; an update of a key it holds no context for
	// reads the key first (as `quorumkv put` does). Share one among a run's
	// drivers. Nil makes such updates blind: no read, no context, each one a
	// new sibling until the server's sibling limit refuses the write.
	Contexts *ContextCache
	// FreshKeys says every key starts absent (the run's key prefix is one
	// no earlier run used): an update of a key the run has not touched yet
	// creates it, with no read first; later updates use the context the
	// run saw. Only with Contexts.
	FreshKeys bool
	// TLS are the client's TLS files (zero: plaintext).
	TLS security.Files
}

// quorumkvDriver drives quorumkv through the Go client.
type quorumkvDriver struct {
	c        *client.Client
	get, put []client.CallOption
	contexts *ContextCache
	fresh    bool
	// leases serves the keepalive workload (quorumkv_lease.go).
	leases leaseSet[client.LeaseID]
}

// NewQuorumkv connects a quorumkv driver.
func NewQuorumkv(o QuorumkvOptions) (Driver, error) {
	timeout := o.AttemptTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	c, err := client.New(o.Endpoints, client.WithAttemptTimeout(timeout), client.WithTLS(o.TLS))
	if err != nil {
		return nil, err
	}
	base := []client.CallOption{client.WithLevel(o.Level)}
	if o.Strict {
		base = append(base, client.WithStrict())
	}
	d := &quorumkvDriver{c: c, contexts: o.Contexts, fresh: o.FreshKeys}
	d.get = append(base[:len(base):len(base)], client.WithCount(o.R))
	d.put = append(base[:len(base):len(base)], client.WithCount(o.W))
	return d, nil
}

func (d *quorumkvDriver) Get(ctx context.Context, key []byte) (Result, error) {
	res, err := d.c.Get(ctx, key, d.get...)
	if errors.Is(err, client.ErrNotFound) {
		d.contexts.put(key, res.Context)
		return Result{Token: Token(res.Context)}, nil
	}
	if err != nil {
		return Result{}, qkvError(err)
	}
	d.contexts.put(key, res.Context)
	return Result{Found: true, Values: len(res.Values), Token: Token(res.Context)}, nil
}

func (d *quorumkvDriver) Put(ctx context.Context, key, value []byte, token Token) (Result, error) {
	if token == "" {
		var err error
		if token, err = d.context(ctx, key); err != nil {
			return Result{}, err
		}
	}
	opts := d.put
	if token != "" {
		opts = append(opts[:len(opts):len(opts)], client.WithContext(string(token)))
	}
	res, err := d.c.Put(ctx, key, value, opts...)
	if err != nil {
		return Result{}, qkvError(err)
	}
	d.contexts.put(key, res.Context)
	return Result{Found: true, Values: len(res.Values), Token: Token(res.Context)}, nil
}

// context is the causal context to update key with: the one last seen for
// it, or (when none is held) what a read of the key returns now — none for
// a key of a fresh prefix the run has not touched. Blind drivers (no
// cache) have none.
func (d *quorumkvDriver) context(ctx context.Context, key []byte) (Token, error) {
	if d.contexts == nil {
		return "", nil
	}
	if token, ok := d.contexts.get(key); ok || d.fresh {
		return Token(token), nil
	}
	res, err := d.Get(ctx, key)
	return res.Token, err
}

func (d *quorumkvDriver) Close() error { return d.c.Close() }

func qkvError(err error) error {
	var ue *client.UnavailableError
	if errors.As(err, &ue) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// ContextCache maps keys to the last causal context seen for them. It holds
// at most its limit of keys; past that, contexts of new keys are not kept
// (their updates read the key first every time).
type ContextCache struct {
	limit  int
	seed   maphash.Seed
	shards [64]contextShard
}

type contextShard struct {
	mu sync.Mutex
	m  map[string]string
}

// NewContextCache holds at most limit keys (0: 1<<20).
func NewContextCache(limit int) *ContextCache {
	if limit <= 0 {
		limit = 1 << 20
	}
	c := &ContextCache{limit: limit, seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = make(map[string]string)
	}
	return c
}

func (c *ContextCache) shard(key []byte) *contextShard {
	return &c.shards[maphash.Bytes(c.seed, key)%uint64(len(c.shards))]
}

// get returns the context last seen for key and whether one was seen (a
// read of a missing key records an empty one).
func (c *ContextCache) get(key []byte) (string, bool) {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	token, ok := s.m[string(key)]
	return token, ok
}

func (c *ContextCache) put(key []byte, token string) {
	if c == nil {
		return
	}
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[string(key)]; ok || len(s.m) < c.limit/len(c.shards)+1 {
		s.m[string(key)] = token
	}
}

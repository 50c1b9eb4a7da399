// Package resolver is a grpc-go name resolver for services in the
// quorumkv registry: dial "quorumkv:///SERVICE" and the connection's
// addresses follow the service's live instances, driven by a registry
// watch (no polling, unlike DNS, which grpc-go resolves again only after a
// connection fails). The watch goes on through another node after a
// failure and lists again by itself after COMPACTED.
//
//	b := resolver.New(kv) // kv is a *client.Client
//	conn, err := grpc.NewClient("quorumkv:///payments", grpc.WithResolvers(b),
//		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`), …)
//
// When an instance dies, a call already sent to it fails (UNAVAILABLE) as
// with any resolver; a retry policy for idempotent methods in the service
// config sends it again to a live instance, and round_robin stops picking
// the dead one at once. Its address leaves the set when its lease ends.
package resolver

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/attributes"
	grpcresolver "google.golang.org/grpc/resolver"

	"github.com/quorumkv/quorumkv/client"
)

// Scheme is the target scheme the resolver serves.
const Scheme = "quorumkv"

// IDKey is the address attribute holding the instance's id.
type IDKey struct{}

// Builder builds resolvers that watch the registry through one client.
type Builder struct {
	kv *client.Client
}

// New returns a Builder reading the registry through kv.
func New(kv *client.Client) *Builder { return &Builder{kv: kv} }

// Scheme is "quorumkv".
func (b *Builder) Scheme() string { return Scheme }

// Build starts watching the target's service ("quorumkv:///SERVICE").
func (b *Builder) Build(target grpcresolver.Target, cc grpcresolver.ClientConn, _ grpcresolver.BuildOptions) (grpcresolver.Resolver, error) {
	service := target.Endpoint()
	if service == "" {
		return nil, errors.New("quorumkv resolver: the target names no service (want quorumkv:///SERVICE)")
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &watchResolver{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		err := b.kv.WatchService(ctx, service, func(ins []client.Instance) error {
			state := grpcresolver.State{Addresses: make([]grpcresolver.Address, 0, len(ins))}
			for _, in := range ins {
				state.Addresses = append(state.Addresses, grpcresolver.Address{
					Addr: in.Address, Attributes: attributes.New(IDKey{}, in.ID),
				})
			}
			_ = cc.UpdateState(state) // an empty set is an error the balancer reports; the next set clears it
			return nil
		})
		if err != nil {
			cc.ReportError(fmt.Errorf("quorumkv resolver: watching %q: %w", service, err))
		}
	}()
	return r, nil
}

// watchResolver is one target's watch.
type watchResolver struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// ResolveNow does nothing: the watch already sends every change.
func (r *watchResolver) ResolveNow(grpcresolver.ResolveNowOptions) {}

// Close ends the watch.
func (r *watchResolver) Close() {
	r.cancel()
	<-r.done
}

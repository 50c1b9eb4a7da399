package node

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/coordinator"
	"github.com/quorumkv/quorumkv/lease"
	"github.com/quorumkv/quorumkv/peer"
	"github.com/quorumkv/quorumkv/registry"
	"github.com/quorumkv/quorumkv/ring"
	"github.com/quorumkv/quorumkv/vclock"
)

// The registry (docs/design.md, "Registry") is leases and key groups: an
// instance is the key svc/{<service>}/<id> written with a lease.

// groupKeysLimit bounds the keys one replica lists of a group.
const groupKeysLimit = 10000

// registryServer is the public Registry service.
type registryServer struct {
	api.UnimplementedRegistryServer
	n *Node
}

func instanceFromProto(p *api.Instance) registry.Instance {
	return registry.Instance{ID: p.GetId(), Address: p.GetAddress(), Metadata: p.GetMetadata(), Lease: p.GetLease()}
}

func instanceToProto(in registry.Instance) *api.Instance {
	return &api.Instance{Id: in.ID, Address: in.Address, Metadata: in.Metadata, Lease: in.Lease}
}

func (n *Node) registryStatus(err error) error {
	if errors.Is(err, registry.ErrInvalid) {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return n.leaseStatus(err)
}

func (s *registryServer) Register(ctx context.Context, req *api.RegisterRequest) (*api.RegisterResponse, error) {
	done, err := s.n.ops.start()
	if err != nil {
		return nil, peer.ToStatus(err)
	}
	defer done()
	in := instanceFromProto(req.GetInstance())
	if err := in.Check(req.GetService()); err != nil {
		return nil, s.n.registryStatus(err)
	}
	ttl := time.Duration(req.GetTtlMs()) * time.Millisecond
	if in.Lease == 0 {
		id, err := s.n.grantLease(ctx, ttl)
		if err != nil {
			return nil, s.n.registryStatus(err)
		}
		in.Lease = uint64(id)
	} else {
		rec, _, err := s.n.readLease(ctx, lease.ID(in.Lease))
		if err != nil {
			return nil, s.n.registryStatus(err)
		}
		ttl = rec.TTL
	}
	key := registry.Key(req.GetService(), in.ID)
	cur, err := s.n.coord.Get(ctx, key, quorum)
	if err != nil {
		return nil, s.n.registryStatus(err)
	}
	w := coordinator.Write{Key: key, Value: in.Encode(), Context: cur.Clock.Context(), Consistency: quorum}
	if _, err := s.n.putWithLease(ctx, lease.ID(in.Lease), w); err != nil {
		return nil, s.n.registryStatus(err)
	}
	return &api.RegisterResponse{Lease: in.Lease, TtlMs: uint64(ttl.Milliseconds())}, nil
}

func (s *registryServer) Deregister(ctx context.Context, req *api.DeregisterRequest) (*api.DeregisterResponse, error) {
	if err := registry.CheckService(req.GetService()); err != nil {
		return nil, s.n.registryStatus(err)
	}
	if req.GetId() == "" {
		return nil, status.Error(codes.InvalidArgument, "the instance id is empty")
	}
	key := registry.Key(req.GetService(), req.GetId())
	cur, err := s.n.coord.Get(ctx, key, quorum)
	if err != nil {
		return nil, s.n.registryStatus(err)
	}
	if !cur.Found {
		return &api.DeregisterResponse{}, nil
	}
	if _, err := s.n.coord.Put(ctx, coordinator.Write{Key: key, Tombstone: true, Context: cur.Clock.Context(), Consistency: quorum}); err != nil {
		return nil, s.n.registryStatus(err)
	}
	return &api.DeregisterResponse{Found: true}, nil
}

func (s *registryServer) List(ctx context.Context, req *api.ListRequest) (*api.ListResponse, error) {
	if err := registry.CheckService(req.GetService()); err != nil {
		return nil, s.n.registryStatus(err)
	}
	set, err := s.n.listService(ctx, req.GetService())
	if err != nil {
		return nil, s.n.registryStatus(err)
	}
	resp := &api.ListResponse{Service: req.GetService()}
	for _, in := range set.Sorted() {
		resp.Instances = append(resp.Instances, instanceToProto(in))
	}
	return resp, nil
}

// listService reads every instance of service: the union of the keys its
// partition's replicas hold, each read at QUORUM.
func (n *Node) listService(ctx context.Context, service string) (registry.Set, error) {
	keys, err := n.groupKeys(ctx, registry.Group(service), registry.Prefix(service))
	if err != nil {
		return nil, err
	}
	set := registry.Set{}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, k := range keys {
		g.Go(func() error {
			res, err := n.coord.Get(gctx, k, quorum)
			if err != nil {
				return err
			}
			mu.Lock()
			set.Apply(service, k, res.Clock.Live())
			mu.Unlock()
			return nil
		})
	}
	return set, g.Wait()
}

// groupKeys is the union of the keys of group (starting with prefix) the
// group partition's replicas hold. It answers once a majority of them
// answered (a key written at QUORUM is on at least one of any majority), so
// a replica cut off does not hold the listing up; with no majority it
// answers what the replicas that answered hold, and fails when none did.
func (n *Node) groupKeys(ctx context.Context, group string, prefix []byte) ([][]byte, error) {
	r := n.members.Ring()
	prefs := r.Preference(r.Partition([]byte("{" + group + "}")))
	req := &api.GroupKeysRequest{Group: group, Prefix: prefix, Limit: groupKeysLimit}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	answers := make(chan *api.GroupKeysResponse, len(prefs))
	for _, node := range prefs {
		go func() {
			resp, err := n.groupKeysOn(cctx, node, req)
			if err != nil {
				resp = nil
			}
			answers <- resp
		}()
	}
	seen, answered := map[string]bool{}, 0
	var keys [][]byte
	for range prefs {
		resp := <-answers
		if resp == nil {
			continue
		}
		answered++
		for _, k := range resp.GetKeys() {
			if !seen[string(k)] {
				seen[string(k)] = true
				keys = append(keys, k)
			}
		}
		if 2*answered > len(prefs) {
			break
		}
	}
	if answered == 0 {
		return nil, status.Errorf(codes.Unavailable, "no replica of group %q answered", group)
	}
	return keys, nil
}

func (n *Node) groupKeysOn(ctx context.Context, node string, req *api.GroupKeysRequest) (*api.GroupKeysResponse, error) {
	if node == n.cfg.ID {
		return n.localGroupKeys(req)
	}
	cctx, cancel := context.WithTimeout(ctx, leaseCallTimeout)
	defer cancel()
	return n.transport.GroupKeys(cctx, node, req)
}

// localGroupKeys lists the keys of req's group this replica holds.
func (n *Node) localGroupKeys(req *api.GroupKeysRequest) (*api.GroupKeysResponse, error) {
	group := []byte(req.GetGroup())
	p := n.members.Ring().Partition([]byte("{" + req.GetGroup() + "}"))
	limit := int(min(req.GetLimit(), groupKeysLimit))
	resp := &api.GroupKeysResponse{}
	errFull := errors.New("full")
	err := n.store.ScanPartition(p, func(k []byte, _ vclock.Clock) error {
		if !bytes.Equal(ring.GroupOf(k), group) || !bytes.HasPrefix(k, req.GetPrefix()) {
			return nil
		}
		if len(resp.Keys) == limit {
			resp.Truncated = true
			return errFull
		}
		resp.Keys = append(resp.Keys, k)
		return nil
	})
	if err != nil && !errors.Is(err, errFull) {
		return nil, peer.ToStatus(err)
	}
	return resp, nil
}

// GroupKeys serves a peer's listing of a group's keys.
func (s *replicaServer) GroupKeys(_ context.Context, req *api.GroupKeysRequest) (*api.GroupKeysResponse, error) {
	return s.n.localGroupKeys(req)
}

// Watch sends the service's instance set, then the set after each change.
func (s *registryServer) Watch(req *api.RegistryWatchRequest, stream api.Registry_WatchServer) error {
	service := req.GetService()
	if err := registry.CheckService(service); err != nil {
		return s.n.registryStatus(err)
	}
	f := watchFilter{group: []byte(registry.Group(service)), prefix: registry.Prefix(service)}
	var set registry.Set
	send := func(token string) error {
		ev := &api.RegistryWatchEvent{Service: service, Token: token}
		for _, in := range set.Sorted() {
			ev.Instances = append(ev.Instances, instanceToProto(in))
		}
		return stream.Send(ev)
	}
	ctx := stream.Context()
	return s.n.watch(ctx, f, req.GetFrom(), func(ev *api.WatchEvent) error {
		if set == nil {
			// The watch's cursors are set: list now, and every change
			// after the listing comes as an event.
			var err error
			if set, err = s.n.listService(ctx, service); err != nil {
				return s.n.registryStatus(err)
			}
			return send(ev.GetToken())
		}
		if ev.GetType() == api.WatchEvent_PROGRESS {
			return nil
		}
		if set.Apply(service, ev.GetKey(), ev.GetValues()) {
			return send(ev.GetToken())
		}
		return nil
	})
}

package node

import (
	"context"
	"errors"
	"fmt"
	"github.com/soheilhy/cmux"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/quorumkv/quorumkv/antientropy"
	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/api/wire"
	"github.com/quorumkv/quorumkv/coordinator"
	"github.com/quorumkv/quorumkv/discovery"
	"github.com/quorumkv/quorumkv/hintedhandoff"
	"github.com/quorumkv/quorumkv/httpadmin"
	"github.com/quorumkv/quorumkv/internal/workers"
	"github.com/quorumkv/quorumkv/peer"
	"github.com/quorumkv/quorumkv/replica"
	"github.com/quorumkv/quorumkv/ring"
	"github.com/quorumkv/quorumkv/security"
	"github.com/quorumkv/quorumkv/serial"
)

// Node is one running server.
type Node struct {
	cfg       Config
	log       *slog.Logger
	store     *replica.Store
	members   *ring.Membership
	coord     *coordinator.Coordinator
	transport *peer.Transport
	// peers is the transport as the coordinator and hints use it (tests
	// wrap it to inject faults).
	peers     coordinator.Transport
	hints     *hintedhandoff.Store
	ae        *antientropy.Scheduler
	own       *ownership
	stopLoops context.CancelFunc
	loops     sync.WaitGroup
	grpc      *grpc.Server
	health    *health.Server
	// writeHealthMu orders the updates of HealthLocalWrites.
	writeHealthMu sync.Mutex
	lis           net.Listener
	// tls is the port's TLS (nil: plaintext); peerTLS dials other nodes.
	tls     *security.Server
	peerTLS *security.Client
	// gossipKeys encrypt gossip (nil: plaintext).
	gossipKeys *gossipKeys
	served     chan error

	// replicaWrites and hintSink are where peers' writes and hints go: the
	// store and the hint store, or what fault tests wrap them in.
	replicaWrites ReplicaWrites
	hintSink      coordinator.Hints

	// listening runs the listener's demultiplexer and the loops accepting
	// wire connections (peers' pipes, clients' KV streams); wireConns
	// serves those connections. Cancelling wireCtx ends the KV streams'
	// operations (a drain that timed out).
	listening  sync.WaitGroup
	wireConns  sync.WaitGroup
	wireCtx    context.Context
	wireCancel context.CancelFunc
	// draining closes when Stop begins: long-lived peer streams end then,
	// so the graceful stop does not wait for them.
	draining  chan struct{}
	drainOnce sync.Once
	// work runs client operations, peers' batches of applies and Paxos
	// messages, and the proposer's rounds.
	work *workers.Pool
	// ops bounds the client operations in progress; wireBudget the frame
	// bytes being read on framed connections.
	ops        opLimiter
	wireBudget wire.Budget
	// refusedLog paces the log line for connections refused past MaxConns.
	refusedLog everyInterval

	// proposer runs register rounds and locks the locks on it; forwarder
	// sends register requests on to their preferred proposer.
	proposer  *serial.Proposer
	acceptors serial.Acceptors
	// paxosOut is the transport of this node's Paxos messages (acceptors
	// is it, or what fault tests wrap it in).
	paxosOut  *peer.Acceptors
	locks     *serial.Locks
	forwarder SerialForwarder
	// leases: renewal times and expiry counters (leases.go).
	leases *leases
	// metrics are the node's Prometheus metrics (metrics.go); http serves
	// them with the probes on Config.HTTP (http.go), nil when off.
	metrics *nodeMetrics
	httpMu  sync.Mutex
	http    *httpadmin.Server
	// dns serves Config.DNS (dns.go); nil when off.
	dns *dnsServers
	// lan finds peers on the local network (Config.DiscoverLAN,
	// discovery.go); nil when off.
	lan *discovery.LAN
	// logs shares change log readers among watches (watch_hub.go).
	logs *logHub
}

// Start opens the replica, joins the cluster and serves gRPC.
func Start(cfg Config) (*Node, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: cfg.Logger.With("node", cfg.ID), served: make(chan error, 1), draining: make(chan struct{}), work: workers.New(),
		wireBudget: newWireBudget(cfg.Limits), refusedLog: everyInterval{interval: 10 * time.Second}}
	n.leases = newLeases(cfg.Leases, n.log)
	n.metrics = newNodeMetrics(n)
	n.logs = newLogHub(n)
	n.leases.batch = newRenewBatcher(func(ctx context.Context, node string, ids []uint64) (*api.LeasePeerResponse, error) {
		return n.transport.Leases(ctx, node, &api.LeasePeerRequest{From: cfg.ID, Leases: ids, Renew: true})
	})
	n.ops.max = int64(cfg.Limits.MaxOps)
	if err := n.start(); err != nil {
		_ = n.closeAll()
		return nil, err
	}
	return n, nil
}

// start opens everything in order; on error, closeAll releases what opened.
func (n *Node) start() (err error) {
	cfg := n.cfg
	placement, err := ring.Build(cfg.cluster(), nil, nil)
	if err != nil {
		return err
	}
	if n.store, err = replica.Open(replica.Config{
		NodeID: cfg.ID, Dir: cfg.DataDir, FS: cfg.FS, NoSync: cfg.NoSync, SyncWindow: cfg.SyncWindow,
		CacheSize: cfg.CacheSize, KeyFilterSize: cfg.KeyFilterSize,
		MaxObjectBytes: cfg.Limits.MaxObjectBytes, MaxClockActors: 4 * cfg.Limits.MaxContextActors,
		Partition: placement.Partition, Logger: n.log, Clock: cfg.Clock,
		MinFreeSpace: cfg.MinFreeSpace, DiskCheckInterval: cfg.DiskCheckInterval, LogInterval: cfg.StorageLogInterval,
		OnChange: n.leases.records.changed,
	}); err != nil {
		return err
	}
	if n.replicaWrites = n.store; cfg.WrapReplicaWrites != nil {
		n.replicaWrites = cfg.WrapReplicaWrites(n.replicaWrites)
	}
	if err := n.loadTLS(); err != nil {
		return err
	}
	if n.gossipKeys, err = openGossipKeys(cfg.DataDir, cfg.GossipKey); err != nil {
		return err
	}
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("node: listen %s: %w", cfg.Listen, err)
	}
	n.lis = &connLimitListener{Listener: lis, max: int64(cfg.Limits.MaxConns), refused: n.logRefused}
	if n.tls != nil {
		n.lis = n.tls.Listener(n.lis)
	}
	seeds, sources, err := n.seedSources()
	if err != nil {
		return err
	}
	if n.members, err = ring.StartMembership(ring.MembershipConfig{
		NodeID: cfg.ID, GRPCAddr: advertised(cfg.Advertise, n.lis.Addr()), GossipAddr: cfg.Gossip, AdvertiseHost: advertisedHost(cfg.Advertise),
		Seeds: seeds, SeedSources: sources, BootstrapExpect: cfg.BootstrapExpect,
		Cluster: cfg.cluster(), Store: n.store, Gossip: cfg.GossipTimers, Logger: n.log,
		NoAutoJoin: cfg.NoAutoJoin, RejoinInterval: cfg.RejoinInterval, Empty: n.store.Empty(), Zone: cfg.Zone,
		Keyring: n.keyring(), VerifyNode: n.verifyNodeFunc(),
	}); err != nil {
		return err
	}
	if err := n.startDiscovery(); err != nil {
		return err
	}
	// A store that held nothing says so at once when it takes its first
	// key: a ring said to hold no data changes without waiting for anyone.
	n.store.OnData(func() { n.members.SetEmpty(false) })
	pc := peer.DefaultConfig(cfg.ID, n.members.Addr)
	pc.Ring = n.members
	pc.QuietAfter = cfg.QuietAfter
	pc.TLS = n.peerTLS
	if n.transport, err = peer.New(pc); err != nil {
		return err
	}
	var tr coordinator.Transport = n.transport
	if cfg.WrapTransport != nil {
		tr = cfg.WrapTransport(tr)
	}
	n.peers = tr
	var hints coordinator.Hints
	if !cfg.DisableHintedHandoff {
		if n.hints, err = hintedhandoff.Open(hintedhandoff.Config{
			KV: n.store.Hints(), Sender: tr, Reroute: n.rerouteHint, Gone: n.gone, Liveness: n.members, Clock: cfg.Clock,
			Window: cfg.HintWindow, MaxHintsPerTarget: cfg.MaxHintsPerTarget, MaxBytesPerTarget: cfg.MaxHintBytesPerTarget,
			Interval: cfg.HintInterval, MaxAge: cfg.hintMaxAge(), MaxBackoff: min(cfg.HintMaxBackoff, hintedhandoff.DefaultMaxBackoff),
			MinBackoff: min(cfg.HintMaxBackoff, hintedhandoff.DefaultMinBackoff), Logger: n.log,
		}); err != nil {
			return err
		}
		if hints = n.hints; cfg.WrapHints != nil {
			hints = cfg.WrapHints(hints)
		}
		n.hintSink = hints
	}
	if n.coord, err = coordinator.New(coordinator.Config{
		NodeID: cfg.ID, Replicas: cfg.Replicas,
		Placement: n.placement,
		Local:     localReplica{Store: n.store, n: n}, Transport: tr, Liveness: n.members, Responsiveness: n.transport, Hints: hints,
		ReplicaTimeout: cfg.ReplicaTimeout, HedgeAfter: cfg.HedgeAfter, MaxValueSize: cfg.MaxValueSize, Logger: n.log,
	}); err != nil {
		return err
	}
	if n.ae, err = antientropy.NewScheduler(antientropy.SchedulerConfig{
		NodeID: cfg.ID, Partitions: cfg.Partitions,
		Topology: func() antientropy.Topology { return placementOf(n.members.View()) },
		Local:    n.store.AntiEntropy(), Peer: n.peer, Liveness: n.members,
		Interval: cfg.AntiEntropyInterval, Logger: n.log,
		Reaper: n.store, RemoteReaper: n.remoteReaper, TombstoneGrace: cfg.TombstoneGrace, Clock: cfg.Clock,
	}); err != nil {
		return err
	}
	if n.own, err = newOwnership(n); err != nil {
		return err
	}
	n.paxosOut = n.transport.Acceptors(&paxosServer{n: n}, n.work.Run)
	if err := n.startSerial(n.paxosOut); err != nil {
		return err
	}
	if cfg.DNS != "" {
		if err := n.startDNS(cfg.DNS); err != nil {
			return fmt.Errorf("node: --dns %s: %w", cfg.DNS, err)
		}
	}
	if err := n.startHTTP(); err != nil {
		return err
	}
	n.members.OnChange(n.own.kick)
	n.members.OnChange(func() { n.transport.Revive(n.members.Alive) })
	n.serve()
	n.store.OnDiskChange(n.setWriteHealth)
	n.setWriteHealth()
	n.startLoops()
	n.log.Info("node started", "grpc", n.Addr(), "gossip", n.members.GossipAddr(), "http", n.HTTPAddr(),
		"actor", n.store.Actor(), "fresh_storage", n.store.Fresh(),
		"replicas", cfg.Replicas, "partitions", cfg.Partitions)
	return nil
}

func (n *Node) serve() {
	opts := append([]grpc.ServerOption{grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))), grpc.InitialWindowSize(peer.StreamWindow),
		grpc.InitialConnWindowSize(peer.ConnWindow)}, n.grpcLimits()...)
	opts = append(opts, n.tlsServerOptions()...)
	n.grpc = grpc.NewServer(opts...)
	api.RegisterKVServer(n.grpc, &kvServer{n: n})
	api.RegisterReplicaServer(n.grpc, &replicaServer{n: n})
	api.RegisterAdminServer(n.grpc, &adminServer{n: n})
	api.RegisterPaxosServer(n.grpc, &paxosServer{n: n})
	api.RegisterSerialServer(n.grpc, &serialServer{n: n})
	api.RegisterLocksServer(n.grpc, &locksServer{n: n})
	api.RegisterLeasesServer(n.grpc, &leasesServer{n: n})
	api.RegisterWatchServer(n.grpc, &watchServer{n: n})
	api.RegisterRegistryServer(n.grpc, &registryServer{n: n})
	n.health = health.NewServer()
	healthpb.RegisterHealthServer(n.grpc, n.health)
	reflection.Register(n.grpc)
	n.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	n.health.SetServingStatus("quorumkv.v1.KV", healthpb.HealthCheckResponse_SERVING)
	n.health.SetServingStatus(HealthLocalWrites, healthpb.HealthCheckResponse_SERVING)
	mux := cmux.New(n.lis)
	mux.SetReadTimeout(acceptTimeout)
	pipes := mux.Match(cmux.PrefixMatcher(wire.PipeMagic))
	streams := mux.Match(cmux.PrefixMatcher(wire.KVMagic))
	rest := mux.Match(cmux.Any())
	n.wireCtx, n.wireCancel = context.WithCancel(context.Background())
	go func() { n.served <- n.grpc.Serve(rest) }()
	n.listening.Go(func() { _ = mux.Serve() })
	rs, kv := &replicaServer{n: n}, &kvServer{n: n}
	n.listening.Go(func() { n.serveWire(pipes, rs.servePipeConn) })
	n.listening.Go(func() { n.serveWire(streams, kv.serveStreamConn) })
}

// HealthLocalWrites is the health service name that says whether the
// node's own store takes writes: NOT_SERVING while its disk is full (the
// node still serves reads and hands the writes it replicates to the other
// replicas), SERVING again once space is freed.
const HealthLocalWrites = "quorumkv.v1.LocalWrites"

// setWriteHealth reports the store's disk state on the health service. It
// reads the state under writeHealthMu, so of two calls racing after two
// changes the last to run sets the latest state.
func (n *Node) setWriteHealth() {
	n.writeHealthMu.Lock()
	defer n.writeHealthMu.Unlock()
	st := healthpb.HealthCheckResponse_SERVING
	if n.store.DiskFull() != nil {
		st = healthpb.HealthCheckResponse_NOT_SERVING
	}
	n.health.SetServingStatus(HealthLocalWrites, st)
}

// logRefused logs, at most once per interval, that connections are being
// refused past MaxConns.
func (n *Node) logRefused(open int64) {
	if n.refusedLog.allow(time.Now()) {
		n.log.Warn("refusing connections: the node has as many open as it takes (--max-conns)", "open", open, "max", n.cfg.Limits.MaxConns)
	}
}

// acceptTimeout bounds how long a new connection may take to send its
// first bytes (which tell a peer's pipe from gRPC).
const acceptTimeout = 10 * time.Second

// serveWire serves each wire connection l accepts with serve until l
// closes; serve owns the connection, which is closed when serve returns.
func (n *Node) serveWire(l net.Listener, serve func(net.Conn)) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		n.wireConns.Go(func() {
			defer c.Close()
			serve(c)
		})
	}
}

// startLoops runs the background loops (hint replay, anti-entropy) until
// Stop.
func (n *Node) startLoops() {
	ctx, cancel := context.WithCancel(context.Background())
	n.stopLoops = cancel
	if n.hints != nil {
		n.loops.Go(func() { n.hints.Run(ctx) })
	}
	if !n.cfg.DisableAntiEntropy {
		n.loops.Go(func() { n.ae.Run(ctx) })
	}
	n.loops.Go(func() { n.own.run(ctx) })
	if n.cfg.RegisterGCInterval > 0 {
		n.loops.Go(func() { n.runRegisterGC(ctx) })
	}
	n.loops.Go(func() { n.runLeaseSweeps(ctx) })
	n.loops.Go(func() { n.runLogTrims(ctx, n.cfg.WatchLogTrimEvery) })
}

// peer is node as an anti-entropy exchange peer.
func (n *Node) peer(node string) antientropy.Peer {
	var p antientropy.Peer = n.transport.Exchange(node)
	if n.cfg.WrapPeer != nil {
		p = n.cfg.WrapPeer(node, p)
	}
	return p
}

// remoteReaper is node as a tombstone reaper (the same faults apply as to
// exchanges).
func (n *Node) remoteReaper(node string) antientropy.RemoteReaper {
	if r, ok := n.peer(node).(antientropy.RemoteReaper); ok {
		return r
	}
	return n.transport.Exchange(node)
}

// AntiEntropy is the node's exchange scheduler.
func (n *Node) AntiEntropy() *antientropy.Scheduler { return n.ae }

// Hints is the node's hint store (nil when hinted handoff is off).
func (n *Node) Hints() *hintedhandoff.Store { return n.hints }

// ID is the node's id.
func (n *Node) ID() string { return n.cfg.ID }

// Addr is the gRPC address the node listens on.
func (n *Node) Addr() string { return n.lis.Addr().String() }

// GossipAddr is the memberlist address the node listens on.
func (n *Node) GossipAddr() string { return n.members.GossipAddr() }

// Store is the node's local replica (tests read it directly).
func (n *Node) Store() *replica.Store { return n.store }

// Membership is the node's view of the cluster.
func (n *Node) Membership() *ring.Membership { return n.members }

// Stop drains the node: it reports NOT_SERVING, stops accepting requests,
// lets in-flight ones finish (up to DrainTimeout), leaves gossip and closes
// Pebble.
func (n *Node) Stop(ctx context.Context) error {
	n.health.Shutdown()
	n.stopDNS()
	n.drainOnce.Do(func() { close(n.draining) })
	n.stopHTTP()
	done := make(chan struct{})
	go func() {
		n.grpc.GracefulStop()
		close(done)
	}()
	dctx, cancel := context.WithTimeout(ctx, n.cfg.DrainTimeout)
	defer cancel()
	select {
	case <-done:
	case <-dctx.Done():
		n.log.Warn("drain timed out; closing remaining connections")
		n.grpc.Stop()
		<-done
	}
	<-n.served
	_ = n.lis.Close() // gRPC closed it; a second close only errs
	n.listening.Wait()
	n.waitWire(dctx)
	return n.closeAll()
}

// waitWire waits for the wire connections to end (they end when the node
// drains), ending the KV streams' operations once ctx is done.
func (n *Node) waitWire(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		n.wireConns.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		n.wireCancel()
		<-done
	}
	n.wireCancel()
}

// closeAll releases everything Start opened, in reverse order.
func (n *Node) closeAll() error {
	var errs []error
	n.stopDNS()
	n.stopHTTP()
	if n.stopLoops != nil {
		n.stopLoops()
		n.loops.Wait()
	}
	if n.proposer != nil {
		n.proposer.Close() // its rounds run on n.work
	}
	n.work.Close()
	if n.forwarder != nil {
		n.forwarder.Close()
	}
	if n.coord != nil {
		n.coord.Close()
	}
	if n.transport != nil {
		n.transport.Close()
	}
	if n.members != nil {
		errs = append(errs, n.members.Shutdown())
	}
	if n.lan != nil {
		errs = append(errs, n.lan.Close())
	}
	if n.lis != nil && n.grpc == nil {
		errs = append(errs, n.lis.Close())
	}
	if n.store != nil {
		errs = append(errs, n.store.Close())
	}
	err := errors.Join(errs...)
	if err == nil {
		n.log.Info("node stopped")
	}
	return err
}

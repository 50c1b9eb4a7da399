package node

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/quorumkv/quorumkv/antientropy"
	"github.com/quorumkv/quorumkv/coordinator"
	"github.com/quorumkv/quorumkv/discovery"
	"github.com/quorumkv/quorumkv/internal/clock"
	"github.com/quorumkv/quorumkv/lease"
	"github.com/quorumkv/quorumkv/peer"
	"github.com/quorumkv/quorumkv/replica"
	"github.com/quorumkv/quorumkv/ring"
	"github.com/quorumkv/quorumkv/security"
	"github.com/quorumkv/quorumkv/serial"
	"github.com/quorumkv/quorumkv/vclock"
)

// Defaults for Config.
const (
	DefaultReplicas     = 3
	DefaultPartitions   = 1024
	DefaultDrainTimeout = 10 * time.Second
	// DefaultRegisterGCInterval: collection of deleted registers costs every
	// fast path of the partition one full round, so it runs rarely.
	DefaultRegisterGCInterval = 10 * time.Minute
)

// Config configures one server.
type Config struct {
	ID      string
	DataDir string
	// Listen is the gRPC host:port (port 0 picks a free one).
	Listen string
	// Gossip is the memberlist host:port (port 0 picks a free one).
	Gossip string
	// Join lists seeds: gossip addresses (host:port), and DNS names
	// resolved again at start and at every re-join round: dns:NAME:PORT
	// (every A and AAAA record of NAME, at PORT) and dns+srv:NAME (every
	// SRV record of NAME; package discovery).
	Join []string
	// DNSResolver is the DNS server (host:port) the DNS seeds are asked of
	// (empty: the system's resolver). Resolver, when set, replaces it
	// (tests).
	DNSResolver string
	Resolver    discovery.Resolver
	// BootstrapExpect forms a new cluster of nodes that all have seeds:
	// the nodes wait until this many of them (each counts itself) see
	// each other, then the smallest id founds the ring and the others
	// join it (ring.MembershipConfig.BootstrapExpect). 0: a node founds a
	// cluster only when it has no seeds and no seed source.
	BootstrapExpect int
	// DiscoverLAN finds peers by UDP multicast announcements on the local
	// network; LAN sets the group, the interface and the cluster name (zero
	// fields: discovery's defaults; the node fills in its id and cluster
	// hash). LANTransport, when set, replaces the multicast sockets
	// (tests).
	DiscoverLAN  bool
	LAN          discovery.LANConfig
	LANTransport discovery.Transport
	// NoAutoJoin keeps a new node out of the ring until `ring commit`.
	NoAutoJoin bool
	// Advertise is where other nodes and clients reach this node: a host
	// (its gRPC port is the --listen one) or host:port ("": the listen
	// address, with an unspecified host such as 0.0.0.0 replaced by the
	// gossip's advertised IP). Gossip is announced at its host too.
	Advertise string
	// TLS secures the node's port and its traffic to other nodes (zero:
	// plaintext).
	TLS security.ServerConfig
	// GossipKey encrypts gossip (memberlist's keyring; 16, 24 or 32
	// bytes): a node without it cannot join or read gossip. Keys rotated
	// at run time are kept in the data directory and win over it.
	GossipKey []byte
	// Zone is the node's failure zone (a rack, an availability zone): with
	// members in N or more zones, every key's N replicas are in N distinct
	// zones. It is fixed while the node is a ring member.
	Zone       string
	Replicas   int
	Partitions int
	// NoSync turns fsync off (faster, loses the last writes on a crash).
	NoSync bool
	// SyncWindow is the least time between two fsyncs of the write-ahead
	// log: writes arriving within it share the next fsync (group commit).
	// 0 means the replica default; negative syncs at once.
	SyncWindow time.Duration
	// CacheSize is the storage engine's block cache in bytes (0: the
	// replica default).
	CacheSize int64
	// KeyFilterSize bounds the in-memory filter of stored keys that lets
	// writes to new keys skip the storage read, in bytes (0: the replica
	// default).
	KeyFilterSize int64
	// MinFreeSpace is the free space, in bytes, below which the node's
	// store refuses writes at once (disk full: writes it replicates go to
	// the other replicas) instead of stalling (0: the replica default).
	MinFreeSpace int64
	// DiskCheckInterval is how often the store measures its free space (0:
	// the replica default).
	DiskCheckInterval time.Duration
	// StorageLogInterval is the least time between two log lines about one
	// kind of repeated storage trouble (0: the replica default).
	StorageLogInterval time.Duration
	// GossipTimers tune failure detection (zero: ring.LANGossip).
	// RejoinInterval is how often the node re-joins its seeds: memberlist
	// stops probing a node it declared dead, so after a partition heals two
	// sides can keep seeing each other down until one joins the other again.
	GossipTimers   ring.Gossip
	RejoinInterval time.Duration
	MaxValueSize   int
	ReplicaTimeout time.Duration
	DrainTimeout   time.Duration
	// DisableHintedHandoff turns hints and sloppy quorum off.
	DisableHintedHandoff bool
	// Hint limits and replay pacing (zero: hintedhandoff defaults).
	HintWindow            time.Duration
	MaxHintsPerTarget     int
	MaxHintBytesPerTarget int64
	HintInterval          time.Duration
	HintMaxBackoff        time.Duration
	// AntiEntropyInterval is the time between exchange rounds (zero: the
	// antientropy default); DisableAntiEntropy stops the periodic rounds
	// (a repair asked for by an operator still runs).
	AntiEntropyInterval time.Duration
	DisableAntiEntropy  bool
	// TombstoneGrace is how long a tombstone every replica holds is kept
	// before it is reaped; hints older than half of it are dropped, not
	// delivered, and a batch of applies arriving more than half of it after
	// its sender's deadline is refused (the other half is the margin for
	// clock skew between the node holding a hint or sending a batch and
	// the node reaping).
	TombstoneGrace time.Duration
	// ParkAfter is how long a joiner may be down before the membership
	// change stops waiting for it (it is parked, and joins again afresh
	// when it is back); StuckAfter how long a joiner that is up may be the
	// only member a change waits for. Zero: DefaultConfig's.
	ParkAfter, StuckAfter time.Duration
	// StreamOpsMax bounds the operations one client stream has in progress
	// here; a client that sends more waits (flow control). It is also the
	// most results one answer carries. Zero: DefaultConfig's.
	StreamOpsMax int
	// QuietAfter is how long a peer may leave work unanswered before the
	// coordinator treats it like a down node (asked last, hinted instead
	// of waited on) until it answers again. Zero: DefaultConfig's.
	QuietAfter time.Duration
	// HedgeAfter is how long a read waits for the replicas it asked before
	// it also asks the next one for each still silent (Cassandra's
	// speculative retry). Zero: DefaultConfig's; negative: never.
	HedgeAfter time.Duration
	// Limits bound what clients and peers can make the node hold (zero
	// fields: DefaultLimits').
	Limits Limits
	// Clock is the node's wall clock (nil: the host's). Causality never
	// uses wall clocks; tombstone and hint ages do.
	Clock clock.Clock
	// Mono is the monotonic clock the node's lock observations are
	// measured on (nil: the host's): a contender takes a lock over after
	// the node saw its grant unchanged for ttl·(1+ρ) on it. Only its rate
	// matters, never its reading; it is never the wall clock.
	Mono clock.Clock
	// FS overrides Pebble's file system (tests).
	FS     vfs.FS
	Logger *slog.Logger
	// WrapTransport lets tests inject faults between nodes.
	WrapTransport func(coordinator.Transport) coordinator.Transport
	// WrapPeer lets tests inject faults into anti-entropy exchanges with node.
	WrapPeer func(node string, p antientropy.Peer) antientropy.Peer
	// WrapReplicaWrites lets fault tests wrap the store peers' replica
	// writes are applied to.
	WrapReplicaWrites func(ReplicaWrites) ReplicaWrites
	// WrapHints lets fault tests wrap the sink hints are added to (by this
	// node's coordinator and by peers).
	WrapHints func(coordinator.Hints) coordinator.Hints
	// RegisterGCInterval is how often deleted registers are collected
	// (docs/design.md, Registers); negative: never. Zero: the default.
	RegisterGCInterval time.Duration
	// SerialTimeout bounds a register or lock request that comes without a
	// deadline (zero: serial.DefaultRequestTimeout).
	SerialTimeout time.Duration
	// WrapAcceptors lets fault tests wrap the transport this node's
	// proposer reaches Paxos acceptors with.
	WrapAcceptors func(serial.Acceptors) serial.Acceptors
	// WrapSerialForwarder lets fault tests wrap how this node forwards
	// register requests to their preferred proposer.
	WrapSerialForwarder func(SerialForwarder) SerialForwarder
	// Leases is how this node expires leases (zero: lease.DefaultConfig).
	Leases lease.Config
	// WatchLogRetain is how many entries of each partition's change log a
	// node keeps for watches to resume from (zero: DefaultWatchLogRetain).
	WatchLogRetain int
	// DNS, when set, is the address (host:port, UDP and TCP) the node
	// answers SERVICE.service.quorumkv. queries on from the registry.
	DNS string
	// HTTP, when set, is the admin HTTP port's address (metrics, probes,
	// profiles; package httpadmin). HTTPDerived says the node chose it
	// (the gRPC port + 200): failing to bind it is then only logged.
	HTTP        string
	HTTPDerived bool
	// WatchLogTrimEvery is how often the logs are trimmed to it (zero:
	// 10 s).
	WatchLogTrimEvery time.Duration
}

// DefaultWatchLogRetain: 10,000 changes per partition (about 40 MB of
// log per node at 128 partitions, keys of ~20 bytes).
const DefaultWatchLogRetain = 10000

// ReplicaWrites is the part of the replica store peers' writes reach.
type ReplicaWrites interface {
	Apply(key []byte, c vclock.Clock) (vclock.Clock, bool, error)
	ApplyMany(items []replica.Item) []error
}

// DefaultConfig has the settings for servers on a LAN; the caller fills in
// the node's identity and addresses.
func DefaultConfig() Config {
	return Config{
		Replicas:           DefaultReplicas,                   // survives one replica down at quorum reads and writes
		Partitions:         DefaultPartitions,                 // fine enough to spread keys over a hundred nodes
		DrainTimeout:       DefaultDrainTimeout,               // in-flight requests finish on a clean stop
		TombstoneGrace:     antientropy.DefaultTombstoneGrace, // deletes outlive any hint and any replica's absence
		RegisterGCInterval: DefaultRegisterGCInterval,
		GossipTimers:       ring.LANGossip(),              // failures on a LAN seen within seconds, not mistaken
		RejoinInterval:     10 * time.Second,              // two sides of a healed partition find each other soon
		ParkAfter:          10 * time.Second,              // a joiner down this long is not just restarting
		StuckAfter:         5 * time.Minute,               // a joiner this long without progress cannot pull
		StreamOpsMax:       1024,                          // enough to keep a node busy; bounds one client's memory here
		QuietAfter:         peer.DefaultQuietAfter,        // far above a busy batch's round trip, far below a replica timeout
		HedgeAfter:         coordinator.DefaultHedgeAfter, // past a healthy read's p99, well under the quiet threshold
		Limits:             DefaultLimits(),               // every input has a price limit
		Leases:             lease.DefaultConfig(),         // Eureka's and etcd's expiry caps
	}
}

// LocalConfig has the settings for servers on one host (tests, demos):
// quick failure detection and membership timers.
func LocalConfig() Config {
	c := DefaultConfig()
	c.GossipTimers = ring.LocalGossip() // failures on loopback seen in under a second
	c.RejoinInterval = 2 * time.Second  // a healed test partition is whole within seconds
	c.ParkAfter = 2 * time.Second       // a few gossip rounds of a test joiner being down
	c.StuckAfter = 30 * time.Second     // test partitions are small: a joiner pulls them in seconds
	return c
}

// setDefaults fills the zero fields with DefaultConfig's.
func (c *Config) setDefaults() {
	d := DefaultConfig()
	setZero(&c.Replicas, d.Replicas)
	setZero(&c.Partitions, d.Partitions)
	setZero(&c.TombstoneGrace, d.TombstoneGrace)
	setZero(&c.RegisterGCInterval, d.RegisterGCInterval)
	setZero(&c.DrainTimeout, d.DrainTimeout)
	setZero(&c.GossipTimers, d.GossipTimers)
	setZero(&c.RejoinInterval, d.RejoinInterval)
	setZero(&c.ParkAfter, d.ParkAfter)
	setZero(&c.StuckAfter, d.StuckAfter)
	setZero(&c.StreamOpsMax, d.StreamOpsMax)
	setZero(&c.QuietAfter, d.QuietAfter)
	setZero(&c.HedgeAfter, d.HedgeAfter)
	c.Limits.setDefaults()
	c.Leases = c.Leases.OrDefaults()
	setZero(&c.WatchLogRetain, DefaultWatchLogRetain)
	setZero(&c.WatchLogTrimEvery, 10*time.Second)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Clock = clock.Or(c.Clock)
}

func setZero[T comparable](field *T, def T) {
	var zero T
	if *field == zero {
		*field = def
	}
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	if c.ID == "" {
		return errors.New("node: --id is required")
	}
	if c.DataDir == "" {
		return errors.New("node: --data is required")
	}
	if err := c.TLS.Validate(); err != nil {
		return err
	}
	for name, a := range map[string]string{"listen": c.Listen, "gossip": c.Gossip} {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("node: --%s %q: want host:port", name, a)
		}
	}
	if err := c.cluster().Validate(); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if err := c.validateDiscovery(); err != nil {
		return err
	}
	if c.CacheSize < 0 {
		return errors.New("node: cache size must not be negative")
	}
	if c.KeyFilterSize < 0 {
		return errors.New("node: key filter size must not be negative")
	}
	if c.MinFreeSpace < 0 {
		return errors.New("node: min free space must not be negative")
	}
	if c.DiskCheckInterval < 0 || c.DiskCheckInterval > time.Minute {
		return errors.New("node: disk check interval must be within 0 to 1m")
	}
	if c.StorageLogInterval < 0 {
		return errors.New("node: storage log interval must not be negative")
	}
	if c.MaxValueSize < 0 {
		return errors.New("node: max value size must not be negative")
	}
	if c.StreamOpsMax < 0 {
		return errors.New("node: stream ops max must not be negative")
	}
	if c.SerialTimeout < 0 {
		return errors.New("node: serial timeout must not be negative")
	}
	if c.WatchLogRetain < 0 || c.WatchLogTrimEvery < 0 {
		return errors.New("node: the watch log retention and trim interval must not be negative")
	}
	if err := c.Leases.OrDefaults().Validate(); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if c.QuietAfter < 0 {
		return errors.New("node: quiet-after must not be negative")
	}
	if err := c.Limits.Validate(c.maxValue(), c.Replicas); err != nil {
		return err
	}
	if c.ParkAfter < 0 || c.StuckAfter < 0 || c.RejoinInterval < 0 {
		return errors.New("node: park-after, stuck-after and rejoin interval must not be negative")
	}
	if c.GossipTimers != (ring.Gossip{}) {
		if err := c.GossipTimers.Validate(); err != nil {
			return fmt.Errorf("node: %w", err)
		}
	}
	return nil
}

// validateDiscovery checks the seeds and the ways to find them.
func (c *Config) validateDiscovery() error {
	if _, _, err := discovery.ParseJoin(c.Join); err != nil {
		return fmt.Errorf("node: --join: %w", err)
	}
	if _, err := discovery.NewResolver(c.DNSResolver); err != nil {
		return fmt.Errorf("node: --dns-resolver: %w", err)
	}
	if c.BootstrapExpect < 0 {
		return errors.New("node: bootstrap-expect must not be negative")
	}
	if c.DiscoverLAN {
		lan := c.lanConfig(nil)
		if err := lan.Validate(); err != nil {
			return fmt.Errorf("node: --discover lan: %w", err)
		}
	}
	return nil
}

// lanConfig is c.LAN with this node's id and cluster hash.
func (c *Config) lanConfig(log *slog.Logger) discovery.LANConfig {
	lan := c.LAN
	lan.NodeID, lan.ClusterHash, lan.Logger = c.ID, c.cluster().Hash(), log
	return lan
}

func (c *Config) cluster() ring.ClusterConfig {
	return ring.ClusterConfig{Partitions: c.Partitions, Replicas: c.Replicas}
}

// hintMaxAge is the age past which a hint is dropped instead of delivered:
// half the tombstone grace, so a hint checked just before its age runs out
// still lands well before any reaper, on another clock, counts the grace
// as passed.
func (c *Config) hintMaxAge() time.Duration { return c.TombstoneGrace / 2 }

// lateApplyMargin is how long after its sender's deadline a batch of
// applies, or a hint offered to a fallback, is still taken: half the
// tombstone grace, as for the age of a hint. The
// deadline is at most the coordinator's ReplicaTimeout after the write, so
// an apply lands within that plus half the grace of being sent, before any
// reaper counts the grace of a later delete as passed.
func (c *Config) lateApplyMargin() time.Duration { return c.TombstoneGrace / 2 }

// advertised is the gRPC address the node publishes: adv as host:port, or
// adv's host at the listener's port, or the listener's address.
func advertised(adv string, lis net.Addr) string {
	if adv == "" {
		return lis.String()
	}
	if _, _, err := net.SplitHostPort(adv); err == nil {
		return adv
	}
	_, port, _ := net.SplitHostPort(lis.String())
	return net.JoinHostPort(adv, port)
}

// advertisedHost is adv's host ("" when adv is empty).
func advertisedHost(adv string) string {
	if h, _, err := net.SplitHostPort(adv); err == nil {
		return h
	}
	return adv
}

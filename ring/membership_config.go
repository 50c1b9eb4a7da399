package ring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
)

// Defaults for MembershipConfig.
const (
	// DefaultRejoinInterval is how often Membership re-joins its seeds.
	DefaultRejoinInterval = 30 * time.Second
	// DefaultFirstRejoinDelay is the first retry of a start that reached no
	// seed.
	DefaultFirstRejoinDelay = time.Second
	// DefaultSyncInterval spaces the push-pulls SyncWith asks of one peer.
	DefaultSyncInterval = time.Second
	// DefaultSeedTimeout bounds one call of a SeedSource.
	DefaultSeedTimeout = 5 * time.Second
	// maxBootstrapExpect bounds MembershipConfig.BootstrapExpect.
	maxBootstrapExpect = 1000
)

// SeedSource supplies seeds found at run time (DNS records, peers
// announcing themselves on the LAN). Membership asks it at start and before
// every re-join round. Seeds returns gossip addresses (host:port); an error
// reports what it could not find, and the seeds it did return are used all
// the same.
type SeedSource interface {
	Seeds(ctx context.Context) ([]string, error)
}

// SeedNotifier is a SeedSource that also signals when it has seeds it did
// not have before: Membership then joins them at once instead of at its
// next re-join round.
type SeedNotifier interface {
	SeedSource
	SeedsChanged() <-chan struct{}
}

// Gossip is memberlist's failure-detection and dissemination tuning.
type Gossip struct {
	ProbeInterval       time.Duration
	ProbeTimeout        time.Duration
	GossipInterval      time.Duration
	PushPullInterval    time.Duration
	GossipToTheDeadTime time.Duration
	TCPTimeout          time.Duration
	DeadNodeReclaimTime time.Duration
	IndirectChecks      int
	RetransmitMult      int
	SuspicionMult       int
}

// LANGossip is for members on a LAN (memberlist's LAN defaults).
func LANGossip() Gossip {
	return Gossip{
		ProbeInterval:       time.Second,            // a failure check a second
		ProbeTimeout:        500 * time.Millisecond, // a LAN round trip with room to spare
		GossipInterval:      200 * time.Millisecond, // news reaches everyone within a few rounds
		PushPullInterval:    30 * time.Second,       // full-state syncs are rare: gossip carries the news
		GossipToTheDeadTime: 30 * time.Second,       // as long as a push-pull period
		TCPTimeout:          10 * time.Second,       // a push-pull of a large ring document over a busy link
		DeadNodeReclaimTime: 5 * time.Second,        // a restarted node on a new address is taken back soon
		IndirectChecks:      3,                      // three peers vouch before a member is suspected
		RetransmitMult:      4,                      // each message goes to 4·log(N+1) members
		SuspicionMult:       4,                      // suspected for 4·log(N+1) probe intervals before dead
	}
}

// LocalGossip is for members on one host (tests, demos): failures are
// detected in well under a second.
func LocalGossip() Gossip {
	return Gossip{
		ProbeInterval:       250 * time.Millisecond, // loopback probes cost nothing
		ProbeTimeout:        150 * time.Millisecond, // a loopback round trip, even on a loaded machine
		GossipInterval:      50 * time.Millisecond,  // news spreads within a probe interval
		PushPullInterval:    time.Second,            // members that missed gossip catch up within a second
		GossipToTheDeadTime: 2 * time.Second,        // a few push-pull periods
		TCPTimeout:          time.Second,            // loopback push-pulls are quick
		DeadNodeReclaimTime: 200 * time.Millisecond, // a test restarts a node at once
		IndirectChecks:      1,                      // few members to ask
		RetransmitMult:      2,                      // loopback drops nothing
		SuspicionMult:       3,                      // quick verdicts on one host
	}
}

// Validate reports a tuning memberlist cannot run with.
func (g Gossip) Validate() error {
	for name, d := range map[string]time.Duration{
		"probe interval": g.ProbeInterval, "probe timeout": g.ProbeTimeout, "gossip interval": g.GossipInterval,
		"push-pull interval": g.PushPullInterval, "TCP timeout": g.TCPTimeout,
	} {
		if d <= 0 {
			return fmt.Errorf("ring: gossip %s must be positive, got %v", name, d)
		}
	}
	if g.GossipToTheDeadTime < 0 || g.DeadNodeReclaimTime < 0 {
		return errors.New("ring: gossip dead-node times must not be negative")
	}
	if g.IndirectChecks < 0 || g.RetransmitMult < 1 || g.SuspicionMult < 1 {
		return errors.New("ring: gossip indirect checks must not be negative, retransmit and suspicion multipliers positive")
	}
	if g.ProbeTimeout > g.ProbeInterval {
		return fmt.Errorf("ring: gossip probe timeout %v exceeds the probe interval %v", g.ProbeTimeout, g.ProbeInterval)
	}
	return nil
}

// DefaultMembershipConfig has the timers for members on a LAN; the caller
// fills in the node's identity, addresses, seeds, cluster and store.
func DefaultMembershipConfig() MembershipConfig {
	return MembershipConfig{
		Gossip:           LANGossip(),
		RejoinInterval:   DefaultRejoinInterval,   // heals a partition memberlist gave up on within half a minute
		FirstRejoinDelay: DefaultFirstRejoinDelay, // seeds started a moment later are found at once
		SyncInterval:     DefaultSyncInterval,     // a peer ahead of us is caught up with, not flooded
	}
}

// LocalMembershipConfig has the timers for members on one host (tests,
// demos).
func LocalMembershipConfig() MembershipConfig {
	return MembershipConfig{
		Gossip:           LocalGossip(),
		RejoinInterval:   2 * time.Second,         // a healed test partition is seen whole within seconds
		FirstRejoinDelay: DefaultFirstRejoinDelay, // seeds started a moment later are found at once
		SyncInterval:     DefaultSyncInterval,     // a peer ahead of us is caught up with, not flooded
	}
}

// MembershipConfig configures StartMembership.
type MembershipConfig struct {
	NodeID   string // unique, stable node name (memberlist name, ring member id)
	GRPCAddr string // host:port other nodes use for gRPC (goes in the doc and node meta); an unspecified host (0.0.0.0) becomes the gossip's advertised IP
	// AdvertiseHost is the IP or name gossip is announced at ("": the
	// bound address, or for 0.0.0.0 memberlist's pick of a private IP).
	AdvertiseHost string
	GossipAddr    string // host:port to bind memberlist to; port 0 picks a free port
	Zone          string // optional failure zone, recorded in the doc
	// Keyring encrypts and authenticates gossip (nil: plaintext gossip).
	// Rotating its keys takes effect at once.
	Keyring *memberlist.Keyring
	// VerifyNode, when set, checks a node's identity at its data address before
	// gossip about it is taken (see admission); nil takes every node of
	// the cluster.
	VerifyNode func(ctx context.Context, id, addr string) error
	// Seeds are gossip addresses (host:port) joined at start and at every
	// re-join round.
	Seeds []string
	// SeedSources add the seeds they return to Seeds, asked again at every
	// round (and at once when a SeedNotifier has new ones). A node with a
	// seed source never founds a cluster by itself, even when it has found
	// no seed yet: the peers it will find may already form one (see
	// BootstrapExpect).
	SeedSources []SeedSource
	// SeedTimeout bounds one call of a seed source (0: 5 s).
	SeedTimeout time.Duration
	// BootstrapExpect, when positive, is how many nodes form a new
	// cluster: a node that knows no ring founds one (alone; the others
	// then join it at once, as every store is empty) when gossip shows it
	// at least this many nodes of its cluster, itself included, that are
	// joining and know no ring either, and its id is the smallest of
	// them. 1 founds at start, seeds or not. 0: only a node started
	// without seeds or seed sources founds a cluster.
	BootstrapExpect int
	Cluster         ClusterConfig
	Store           DocStore
	// NoAutoJoin keeps a new node out of the ring until an operator admits
	// it (ring plan / ring commit). By default a node started with seeds
	// joins by itself.
	NoAutoJoin bool
	// Empty says this node's store holds no data (published in its entry:
	// a ring whose members are all empty changes without moving anything).
	Empty bool
	// Gossip tunes failure detection and dissemination (zero: LANGossip).
	Gossip Gossip
	// RejoinInterval is the period of the seed re-join loop (0: 30 s);
	// until a first join succeeds it retries after FirstRejoinDelay (0:
	// 1 s), doubling up to RejoinInterval.
	RejoinInterval   time.Duration
	FirstRejoinDelay time.Duration
	// SyncInterval is the least time between two push-pulls SyncWith asks
	// of one peer (0: 1 s).
	SyncInterval time.Duration
	// Logger receives membership logs and memberlist's own (at its level).
	// Nil discards them.
	Logger *slog.Logger
}

// Validate checks the configuration and fills in defaults (Gossip, the
// rejoin and sync intervals, the seed timeout, Logger).
func (c *MembershipConfig) Validate() error {
	if c.NodeID == "" || len(c.NodeID) > maxIDLen {
		return fmt.Errorf("ring: node id must have 1..%d bytes, got %q", maxIDLen, c.NodeID)
	}
	if err := checkHostPort("grpc address", c.GRPCAddr, false); err != nil {
		return err
	}
	if err := checkHostPort("gossip address", c.GossipAddr, true); err != nil {
		return err
	}
	for _, s := range c.Seeds {
		if err := checkHostPort("seed", s, false); err != nil {
			return err
		}
	}
	if c.SeedTimeout < 0 {
		return fmt.Errorf("ring: negative seed timeout %v", c.SeedTimeout)
	}
	if c.SeedTimeout == 0 {
		c.SeedTimeout = DefaultSeedTimeout
	}
	if c.BootstrapExpect < 0 || c.BootstrapExpect > maxBootstrapExpect {
		return fmt.Errorf("ring: bootstrap-expect %d: want 0 to %d", c.BootstrapExpect, maxBootstrapExpect)
	}
	for _, s := range c.SeedSources {
		if s == nil {
			return errors.New("ring: nil seed source")
		}
	}
	if len(c.Zone) > maxZoneLen {
		return fmt.Errorf("ring: zone longer than %d bytes", maxZoneLen)
	}
	if err := c.Cluster.Validate(); err != nil {
		return err
	}
	if c.Store == nil {
		return errors.New("ring: membership needs a DocStore")
	}
	if c.Gossip == (Gossip{}) {
		c.Gossip = LANGossip()
	}
	if err := c.Gossip.Validate(); err != nil {
		return err
	}
	if c.RejoinInterval < 0 || c.FirstRejoinDelay < 0 || c.SyncInterval < 0 {
		return fmt.Errorf("ring: negative rejoin or sync interval (%v, %v, %v)", c.RejoinInterval, c.FirstRejoinDelay, c.SyncInterval)
	}
	if c.RejoinInterval == 0 {
		c.RejoinInterval = DefaultRejoinInterval
	}
	if c.FirstRejoinDelay == 0 {
		c.FirstRejoinDelay = DefaultFirstRejoinDelay
	}
	if c.SyncInterval == 0 {
		c.SyncInterval = DefaultSyncInterval
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

func checkHostPort(what, addr string, portZeroOK bool) error {
	if len(addr) > maxAddrLen {
		return fmt.Errorf("ring: %s longer than %d bytes", what, maxAddrLen)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("ring: %s %q: %w", what, addr, err)
	}
	if host == "" && what != "gossip address" {
		return fmt.Errorf("ring: %s %q has no host", what, addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 || (n == 0 && !portZeroOK) {
		return fmt.Errorf("ring: %s %q: bad port", what, addr)
	}
	return nil
}

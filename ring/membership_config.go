package ring

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"
)

// DefaultRejoinInterval is how often Membership re-joins its seeds.
const DefaultRejoinInterval = 30 * time.Second

// MembershipConfig configures StartMembership.
type MembershipConfig struct {
	NodeID     string // unique, stable node name (memberlist name, ring member id)
	GRPCAddr   string // host:port other nodes use for gRPC (goes in the doc and node meta)
	GossipAddr string // host:port to bind memberlist to; port 0 picks a free port
	Zone       string // optional failure zone, recorded in the doc
	Seeds      []string
	Cluster    ClusterConfig
	Store      DocStore
	// NoAutoJoin keeps a new node out of the ring until an operator admits
	// it (ring plan / ring commit). By default a node started with seeds
	// joins by itself.
	NoAutoJoin bool
	// Empty says this node's store holds no data (published in its entry:
	// a ring whose members are all empty changes without moving anything).
	Empty bool
	// Fast selects memberlist.DefaultLocalConfig with shorter probe, gossip
	// and push-pull timers (tests, demos).
	Fast bool
	// RejoinInterval is the period of the seed re-join loop (0: 30 s).
	RejoinInterval time.Duration
	// Logger receives membership logs and memberlist's own (at its level).
	// Nil discards them.
	Logger *slog.Logger
}

// Validate checks the configuration and fills in defaults (RejoinInterval,
// Logger).
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
	if len(c.Zone) > maxZoneLen {
		return fmt.Errorf("ring: zone longer than %d bytes", maxZoneLen)
	}
	if err := c.Cluster.Validate(); err != nil {
		return err
	}
	if c.Store == nil {
		return errors.New("ring: membership needs a DocStore")
	}
	if c.RejoinInterval < 0 {
		return fmt.Errorf("ring: negative rejoin interval %v", c.RejoinInterval)
	}
	if c.RejoinInterval == 0 {
		c.RejoinInterval = DefaultRejoinInterval
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

package node

import (
	"fmt"
	"slices"

	"github.com/quorumkv/quorumkv/discovery"
	"github.com/quorumkv/quorumkv/ring"
)

// seedSources splits Config.Join into the gossip addresses joined as
// given and the seed sources membership asks at every round: the DNS
// names (one source for all of them) and, with DiscoverLAN, the peers
// heard on the LAN (listening starts here; announcing once membership
// knows its gossip address, see startDiscovery).
func (n *Node) seedSources() ([]string, []ring.SeedSource, error) {
	cfg := n.cfg
	addrs, names, err := discovery.ParseJoin(cfg.Join)
	if err != nil {
		return nil, nil, fmt.Errorf("node: --join: %w", err)
	}
	var sources []ring.SeedSource
	if len(names) > 0 {
		res := cfg.Resolver
		if res == nil {
			if res, err = discovery.NewResolver(cfg.DNSResolver); err != nil {
				return nil, nil, fmt.Errorf("node: --dns-resolver: %w", err)
			}
		}
		dns, err := discovery.NewDNS(discovery.DNSConfig{Entries: names, Resolver: res, Exclude: discovery.LocalAddrs(cfg.Gossip)})
		if err != nil {
			return nil, nil, fmt.Errorf("node: --join: %w", err)
		}
		sources = append(sources, dns)
	}
	if cfg.DiscoverLAN {
		if n.lan, err = discovery.NewLAN(cfg.lanConfig(n.log), cfg.LANTransport); err != nil {
			return nil, nil, fmt.Errorf("node: --discover lan: %w", err)
		}
		sources = append(sources, n.lan)
	}
	return addrs, sources, nil
}

// startDiscovery starts announcing this node's gossip address on the LAN
// (with DiscoverLAN) once membership knows it. A node that knows no ring and finds its seeds at run time
// joins a cluster but never founds one without BootstrapExpect: it says
// so, since nodes started that way all wait for each other.
func (n *Node) startDiscovery() error {
	dynamic := n.lan != nil || slices.ContainsFunc(n.cfg.Join, isDNSEntry)
	if dynamic && n.cfg.BootstrapExpect == 0 && n.members.Epoch() == 0 {
		n.log.Warn("no ring known: waiting to join an existing cluster through the seeds found; to form a new cluster of such nodes, start them with --bootstrap-expect N")
	}
	if n.lan == nil {
		return nil
	}
	if err := n.lan.Announce(n.members.GossipAddr()); err != nil {
		return fmt.Errorf("node: --discover lan: %w", err)
	}
	n.log.Info("announcing on the LAN", "group", n.lan.Group(), "gossip", n.members.GossipAddr())
	return nil
}

// isDNSEntry reports a join entry that names DNS records.
func isDNSEntry(entry string) bool {
	e, err := discovery.ParseEntry(entry)
	return err == nil && e.Kind != discovery.KindAddr
}

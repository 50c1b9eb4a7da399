package ring

import (
	"fmt"
	"log"
	"net"
	"strconv"

	"github.com/hashicorp/memberlist"
)

// bindGossip opens memberlist's transport ourselves so that, with port 0,
// the real port is known before memberlist starts and can be advertised.
func bindGossip(addr, advertise string, l *log.Logger) (nt *memberlist.NetTransport, bindIP, advIP string, port int, err error) {
	host, portStr, _ := net.SplitHostPort(addr) // validated
	port, _ = strconv.Atoi(portStr)
	bindIP = host
	switch {
	case host == "":
		bindIP = "0.0.0.0"
	case net.ParseIP(host) == nil:
		ips, err := net.LookupIP(host)
		if err != nil || len(ips) == 0 {
			return nil, "", "", 0, fmt.Errorf("ring: resolve gossip host %q: %v", host, err)
		}
		bindIP = ips[0].String()
		for _, ip := range ips {
			if ip.To4() != nil {
				bindIP = ip.String()
				break
			}
		}
	}
	tries := 1
	if port == 0 {
		tries = 10 // TCP and UDP must get the same free port; retry races
	}
	for range tries {
		nt, err = memberlist.NewNetTransport(&memberlist.NetTransportConfig{
			BindAddrs: []string{bindIP},
			BindPort:  port,
			Logger:    l,
		})
		if err == nil {
			break
		}
	}
	if err != nil {
		return nil, "", "", 0, fmt.Errorf("ring: bind gossip address %s: %w", addr, err)
	}
	port = nt.GetAutoBindPort()
	advHost, err := resolveAdvertise(advertise)
	if err != nil {
		_ = nt.Shutdown()
		return nil, "", "", 0, err
	}
	ip, _, err := nt.FinalAdvertiseAddr(advHost, port)
	if err == nil && ip.IsUnspecified() {
		err = fmt.Errorf("cannot advertise %s: bind a specific IP or 0.0.0.0", ip)
	}
	if err != nil {
		_ = nt.Shutdown()
		return nil, "", "", 0, fmt.Errorf("ring: gossip advertise address: %w", err)
	}
	return nt, bindIP, ip.String(), port, nil
}

// resolveAdvertise turns an advertised host (an IP or a name; "" for
// memberlist's choice) into the IP gossip announces.
func resolveAdvertise(host string) (string, error) {
	if host == "" || net.ParseIP(host) != nil {
		return host, nil
	}
	ips, err := net.LookupIP(host)
	if err != nil || len(ips) == 0 {
		return "", fmt.Errorf("ring: resolve advertised host %q: %v", host, err)
	}
	for _, ip := range ips {
		if ip.To4() != nil {
			return ip.String(), nil
		}
	}
	return ips[0].String(), nil
}

// reachable replaces an unspecified host (0.0.0.0, ::, none) in addr with
// ip, so that what a node publishes can be dialed.
func reachable(addr, ip string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if h := net.ParseIP(host); host == "" || (h != nil && h.IsUnspecified()) {
		return net.JoinHostPort(ip, port)
	}
	return addr
}

// memberlistConfig is memberlist's LAN configuration tuned by g.
func memberlistConfig(g Gossip) *memberlist.Config {
	c := memberlist.DefaultLANConfig()
	c.ProbeInterval, c.ProbeTimeout = g.ProbeInterval, g.ProbeTimeout
	c.GossipInterval, c.PushPullInterval = g.GossipInterval, g.PushPullInterval
	c.GossipToTheDeadTime, c.TCPTimeout, c.DeadNodeReclaimTime = g.GossipToTheDeadTime, g.TCPTimeout, g.DeadNodeReclaimTime
	c.IndirectChecks, c.RetransmitMult, c.SuspicionMult = g.IndirectChecks, g.RetransmitMult, g.SuspicionMult
	return c
}

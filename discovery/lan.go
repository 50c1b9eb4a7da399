package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/time/rate"
)

// Defaults for LANConfig.
const (
	// DefaultGroup is the multicast group and port of the announcements:
	// an organization-local address (239.255.0.0/16, RFC 2365), with a
	// port next to the node's default ones (gRPC 7101, gossip 7201,
	// admin HTTP 7301).
	DefaultGroup = "239.255.71.1:7401"
	// DefaultCluster is the cluster name announced and listened for.
	DefaultCluster = "quorumkv"
	// A node announces itself every FastInterval for its first FastFor,
	// so peers starting together find each other within seconds, then
	// every SlowInterval, so a node started later finds it too.
	DefaultFastInterval = 2 * time.Second
	DefaultFastFor      = 30 * time.Second
	DefaultSlowInterval = 30 * time.Second
	// DefaultMaxPeers bounds the peers held (a few hundred nodes).
	DefaultMaxPeers = 512
	// DefaultMaxRate bounds the datagrams decoded per second (a burst of
	// as many): 512 nodes announcing every 30 s send 17 a second.
	DefaultMaxRate = 200
	// receiveRetry is the pause after a failed receive.
	receiveRetry = 100 * time.Millisecond
)

// LANConfig configures LAN discovery.
type LANConfig struct {
	// Group is the multicast group's IPv4 address and port (default
	// DefaultGroup).
	Group string
	// Interface names the network interface to announce and listen on
	// (empty: the one the system routes the group through).
	Interface string
	// Cluster is the cluster name announced; announcements of another
	// name are ignored (default DefaultCluster).
	Cluster string
	// ClusterHash is the cluster constants' hash (ring.ClusterConfig.Hash);
	// announcements of another hash are ignored. NodeID is this node's id:
	// its own announcements are ignored.
	ClusterHash string
	NodeID      string
	// Announcement timing (zero: the defaults above); a peer not heard for
	// PeerTTL is forgotten (zero: three SlowIntervals).
	FastInterval, FastFor, SlowInterval, PeerTTL time.Duration
	// MaxPeers bounds the peers held; MaxRate the datagrams decoded per
	// second (zero: the defaults).
	MaxPeers int
	MaxRate  float64
	// Logger receives what is dropped, at debug level (nil: discarded).
	Logger *slog.Logger
}

// Validate checks the configuration and fills in the defaults.
func (c *LANConfig) Validate() error {
	setZero(&c.Group, DefaultGroup)
	setZero(&c.Cluster, DefaultCluster)
	setZero(&c.FastInterval, DefaultFastInterval)
	setZero(&c.FastFor, DefaultFastFor)
	setZero(&c.SlowInterval, DefaultSlowInterval)
	setZero(&c.PeerTTL, 3*c.SlowInterval)
	setZero(&c.MaxPeers, DefaultMaxPeers)
	setZero(&c.MaxRate, DefaultMaxRate)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if _, err := ParseGroup(c.Group); err != nil {
		return err
	}
	if c.Interface != "" && len(c.Interface) > 15 {
		return fmt.Errorf("discovery: interface name %q longer than 15 bytes", c.Interface)
	}
	probe := Announcement{ClusterHash: c.ClusterHash, Cluster: c.Cluster, NodeID: c.NodeID, Gossip: "127.0.0.1:1"}
	if err := probe.Validate(); err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	if c.FastInterval < 0 || c.FastFor < 0 || c.SlowInterval < 0 || c.PeerTTL < 0 {
		return errors.New("discovery: negative announcement interval")
	}
	if c.MaxPeers < 1 || c.MaxRate < 1 {
		return errors.New("discovery: max peers and max rate must be at least 1")
	}
	return nil
}

func setZero[T comparable](field *T, def T) {
	var zero T
	if *field == zero {
		*field = def
	}
}

// ParseGroup checks a multicast group address: an IPv4 multicast address
// (224.0.0.0/4) and a port.
func ParseGroup(group string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(group)
	if err != nil || !ap.Addr().Is4() || !ap.Addr().IsMulticast() || ap.Port() == 0 {
		return netip.AddrPort{}, fmt.Errorf("discovery: group %q: want an IPv4 multicast address (224.0.0.0/4) and a port", group)
	}
	return ap, nil
}

// Transport carries announcements: Send multicasts one datagram to the
// group; Receive waits for the next datagram (its first len(b) bytes go
// into b: a longer one fills b) until Close.
type Transport interface {
	Send(b []byte) error
	Receive(b []byte) (int, error)
	Close() error
}

// LANStats counts the announcements heard, by what became of them.
type LANStats struct {
	Heard, Own, OtherCluster, Malformed, RateLimited, Full uint64
}

// LAN is a seed source of the peers that announce themselves on the local
// network: it listens from NewLAN on, and announces this node from
// Announce on. Its seeds are the gossip addresses of the peers of this
// cluster heard within PeerTTL; SeedsChanged signals a peer it did not
// hold.
type LAN struct {
	cfg     LANConfig
	tr      Transport
	log     *slog.Logger
	limiter *rate.Limiter

	mu    sync.Mutex
	table *peerTable

	changed chan struct{}
	stats   struct {
		heard, own, other, malformed, limited, full atomic.Uint64
	}

	announcing atomic.Bool
	stop       chan struct{}
	wg         sync.WaitGroup
	closeOnce  sync.Once
	closeErr   error
}

// NewLAN starts listening for announcements on tr (nil: the multicast
// group of cfg, ListenMulticast).
func NewLAN(cfg LANConfig, tr Transport) (*LAN, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if tr == nil {
		var err error
		if tr, err = ListenMulticast(cfg.Group, cfg.Interface); err != nil {
			return nil, err
		}
	}
	l := &LAN{
		cfg:     cfg,
		tr:      tr,
		log:     cfg.Logger.With("component", "discovery"),
		limiter: rate.NewLimiter(rate.Limit(cfg.MaxRate), int(cfg.MaxRate)),
		table:   newPeerTable(cfg.MaxPeers, cfg.PeerTTL),
		changed: make(chan struct{}, 1),
		stop:    make(chan struct{}),
	}
	l.wg.Go(l.receiveLoop)
	return l, nil
}

// Announce starts announcing this node at gossip (its advertised gossip
// address, IP:port): every FastInterval for FastFor, then every
// SlowInterval, until Close. Only the first call does anything.
func (l *LAN) Announce(gossip string) error {
	msg, err := Announcement{ClusterHash: l.cfg.ClusterHash, Cluster: l.cfg.Cluster, NodeID: l.cfg.NodeID, Gossip: normAddr(gossip)}.Marshal()
	if err != nil {
		return err
	}
	if l.announcing.Swap(true) {
		return nil
	}
	l.wg.Go(func() { l.announceLoop(msg) })
	return nil
}

// Seeds returns the gossip addresses of the peers heard within PeerTTL.
func (l *LAN) Seeds(context.Context) ([]string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.table.seeds(time.Now()), nil
}

// Group is the multicast group announced on and listened to.
func (l *LAN) Group() string { return l.cfg.Group }

// SeedsChanged signals that a peer not held before was heard.
func (l *LAN) SeedsChanged() <-chan struct{} { return l.changed }

// Stats returns the counts of announcements heard so far.
func (l *LAN) Stats() LANStats {
	return LANStats{
		Heard: l.stats.heard.Load(), Own: l.stats.own.Load(), OtherCluster: l.stats.other.Load(),
		Malformed: l.stats.malformed.Load(), RateLimited: l.stats.limited.Load(), Full: l.stats.full.Load(),
	}
}

// Close stops announcing and listening and closes the transport.
func (l *LAN) Close() error {
	l.closeOnce.Do(func() {
		close(l.stop)
		l.closeErr = l.tr.Close()
		l.wg.Wait()
	})
	return l.closeErr
}

// announceLoop sends msg at once, then on the schedule of Announce.
func (l *LAN) announceLoop(msg []byte) {
	start := time.Now()
	failing := false
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		err := l.tr.Send(msg)
		if err != nil && !failing {
			// Logged once per stretch of failures.
			l.log.Warn("cannot announce this node on the LAN", "group", l.cfg.Group, "err", err)
		}
		failing = err != nil
		t.Reset(l.nextAnnounce(time.Since(start)))
	}
}

// nextAnnounce is the wait before the next announcement, elapsed after the
// first.
func (l *LAN) nextAnnounce(elapsed time.Duration) time.Duration {
	if elapsed < l.cfg.FastFor {
		return l.cfg.FastInterval
	}
	return l.cfg.SlowInterval
}

// receiveLoop decodes every datagram until Close.
func (l *LAN) receiveLoop() {
	buf := make([]byte, MaxAnnouncement+1)
	for {
		n, err := l.tr.Receive(buf)
		select {
		case <-l.stop:
			return
		default:
		}
		if err != nil {
			l.log.Debug("receiving announcements", "err", err)
			select {
			case <-l.stop:
				return
			case <-time.After(receiveRetry):
			}
			continue
		}
		l.handle(buf[:n])
	}
}

// handle takes one datagram: it is dropped when over the rate, malformed,
// this node's own, or of another cluster; otherwise its peer is recorded.
func (l *LAN) handle(b []byte) {
	l.stats.heard.Add(1)
	if !l.limiter.Allow() {
		l.stats.limited.Add(1)
		return
	}
	a, err := UnmarshalAnnouncement(b)
	switch {
	case err != nil:
		l.stats.malformed.Add(1)
		l.log.Debug("dropping a malformed announcement", "err", err)
		return
	case a.NodeID == l.cfg.NodeID:
		l.stats.own.Add(1)
		return
	case a.ClusterHash != l.cfg.ClusterHash || a.Cluster != l.cfg.Cluster:
		l.stats.other.Add(1)
		l.log.Debug("ignoring a node of another cluster", "node", a.NodeID, "cluster", a.Cluster, "hash", a.ClusterHash)
		return
	}
	l.mu.Lock()
	changed, full := l.table.observe(a.NodeID, a.Gossip, time.Now())
	l.mu.Unlock()
	if full {
		l.stats.full.Add(1)
		l.log.Debug("peer table full; ignoring a new peer", "node", a.NodeID, "max", l.cfg.MaxPeers)
	}
	if changed {
		l.log.Debug("peer found on the LAN", "node", a.NodeID, "gossip", a.Gossip)
		select {
		case l.changed <- struct{}{}:
		default:
		}
	}
}

// multicast is the Transport on a UDP multicast group: one socket joined
// to the group receives, another sends (with multicast loopback on, so
// nodes on one host hear each other, and a TTL of 1: announcements stay
// on the local network).
type multicast struct {
	recv, send *net.UDPConn
	group      *net.UDPAddr
}

// ListenMulticast joins group (see ParseGroup) on the interface named
// ifname (empty: the system's choice).
func ListenMulticast(group, ifname string) (Transport, error) {
	ap, err := ParseGroup(group)
	if err != nil {
		return nil, err
	}
	var ifi *net.Interface
	if ifname != "" {
		if ifi, err = net.InterfaceByName(ifname); err != nil {
			return nil, fmt.Errorf("discovery: interface %q: %w", ifname, err)
		}
	}
	gaddr := net.UDPAddrFromAddrPort(ap)
	recv, err := net.ListenMulticastUDP("udp4", ifi, gaddr)
	if err != nil {
		return nil, fmt.Errorf("discovery: join %s: %w", group, err)
	}
	send, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4zero})
	if err != nil {
		_ = recv.Close()
		return nil, fmt.Errorf("discovery: open a sending socket: %w", err)
	}
	if err := sendOptions(send, ifi); err != nil {
		_ = recv.Close()
		_ = send.Close()
		return nil, fmt.Errorf("discovery: multicast options: %w", err)
	}
	return &multicast{recv: recv, send: send, group: gaddr}, nil
}

func sendOptions(c *net.UDPConn, ifi *net.Interface) error {
	p := ipv4.NewPacketConn(c)
	if err := p.SetMulticastTTL(1); err != nil {
		return err
	}
	if err := p.SetMulticastLoopback(true); err != nil {
		return err
	}
	if ifi != nil {
		return p.SetMulticastInterface(ifi)
	}
	return nil
}

func (m *multicast) Send(b []byte) error {
	_, err := m.send.WriteToUDP(b, m.group)
	return err
}

func (m *multicast) Receive(b []byte) (int, error) {
	n, _, err := m.recv.ReadFromUDP(b)
	return n, err
}

func (m *multicast) Close() error {
	return errors.Join(m.recv.Close(), m.send.Close())
}

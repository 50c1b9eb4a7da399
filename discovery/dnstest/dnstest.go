// Package dnstest runs a small authoritative DNS server on loopback for
// tests of DNS seeds: it answers A, AAAA and SRV queries from records the
// test sets, and changes, while it runs. Point a node at it with
// discovery.NewResolver(s.Addr()) or `server --dns-resolver ADDR`.
package dnstest

import (
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// ttl of every answer: 0, so a resolver that caches asks again.
const ttl = 0

// SRV is one SRV record's target and port.
type SRV struct {
	Target string
	Port   uint16
}

// Server answers queries over UDP on 127.0.0.1.
type Server struct {
	srv  *dns.Server
	addr string

	mu      sync.Mutex
	hosts   map[string][]netip.Addr
	srvs    map[string][]SRV
	queries int
}

// Start serves on a free UDP port of 127.0.0.1.
func Start() (*Server, error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{addr: pc.LocalAddr().String(), hosts: map[string][]netip.Addr{}, srvs: map[string][]SRV{}}
	started := make(chan struct{})
	s.srv = &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(s.answer), NotifyStartedFunc: func() { close(started) }}
	go func() { _ = s.srv.ActivateAndServe() }()
	<-started
	return s, nil
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

// Close stops the server.
func (s *Server) Close() error { return s.srv.Shutdown() }

// Queries counts the queries answered so far.
func (s *Server) Queries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries
}

// SetHost makes name resolve to ips (A records for IPv4, AAAA for IPv6);
// no ips removes the name (NXDOMAIN).
func (s *Server) SetHost(name string, ips ...string) {
	var addrs []netip.Addr
	for _, ip := range ips {
		addrs = append(addrs, netip.MustParseAddr(ip))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(addrs) == 0 {
		delete(s.hosts, dns.CanonicalName(name))
		return
	}
	s.hosts[dns.CanonicalName(name)] = addrs
}

// SetSRV makes name's SRV records the targets; none removes them.
func (s *Server) SetSRV(name string, targets ...SRV) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(targets) == 0 {
		delete(s.srvs, dns.CanonicalName(name))
		return
	}
	s.srvs[dns.CanonicalName(name)] = targets
}

// answer answers one query: the records of its name and type, NOERROR
// with none for a name that has records of another type, NXDOMAIN for a
// name that has none.
func (s *Server) answer(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	s.mu.Lock()
	s.queries++
	if len(req.Question) == 1 {
		q := req.Question[0]
		name := dns.CanonicalName(q.Name)
		hosts, hostOK := s.hosts[name]
		srvs, srvOK := s.srvs[name]
		if !hostOK && !srvOK {
			m.Rcode = dns.RcodeNameError
		}
		hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: ttl, Rrtype: q.Qtype}
		switch q.Qtype {
		case dns.TypeA, dns.TypeAAAA:
			for _, a := range hosts {
				if a.Is4() && q.Qtype == dns.TypeA {
					m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: a.AsSlice()})
				} else if a.Is6() && q.Qtype == dns.TypeAAAA {
					m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
				}
			}
		case dns.TypeSRV:
			for _, r := range srvs {
				target := dns.Fqdn(strings.ToLower(r.Target))
				m.Answer = append(m.Answer, &dns.SRV{Hdr: hdr, Priority: 1, Weight: 1, Port: r.Port, Target: target})
			}
		}
	}
	s.mu.Unlock()
	_ = w.WriteMsg(m)
}

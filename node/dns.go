package node

import (
	"context"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/quorumkv/quorumkv/registry"
)

// The DNS interface (Config.DNS): every node answers A, AAAA and SRV
// queries for SERVICE.service.quorumkv. from the registry, as Consul's DNS
// interface does for SERVICE.service.consul. An SRV answer names each
// instance as <id>.SERVICE.service.quorumkv. (its address's host when that
// is a name) with the instance's port, and carries the A/AAAA records of
// those names; a service with no live instance is NXDOMAIN.

// dnsDomain is the zone the node answers for.
const dnsDomain = "service.quorumkv."

// dnsTTL is the TTL of every answer: the set changes as leases end.
const dnsTTL = 5

// dnsTimeout bounds the registry read behind one answer.
const dnsTimeout = 2 * time.Second

// dnsServers are the UDP and TCP servers of Config.DNS.
type dnsServers struct {
	udp, tcp *dns.Server
}

// startDNS serves DNS on addr (UDP and TCP) until stopDNS.
func (n *Node) startDNS(addr string) error {
	h := dns.HandlerFunc(n.answerDNS)
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		_ = pc.Close()
		return err
	}
	n.dns = &dnsServers{udp: &dns.Server{PacketConn: pc, Handler: h}, tcp: &dns.Server{Listener: l, Handler: h}}
	n.listening.Go(func() { _ = n.dns.udp.ActivateAndServe() })
	n.listening.Go(func() { _ = n.dns.tcp.ActivateAndServe() })
	return nil
}

func (n *Node) stopDNS() {
	if n.dns == nil {
		return
	}
	_ = n.dns.udp.Shutdown()
	_ = n.dns.tcp.Shutdown()
	n.dns = nil
}

// answerDNS answers one query.
func (n *Node) answerDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	service, ok := serviceOf(q.Name)
	if !ok || registry.CheckService(service) != nil {
		m.Rcode = dns.RcodeNameError
		_ = w.WriteMsg(m)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), dnsTimeout)
	defer cancel()
	set, err := n.listService(ctx, service)
	switch {
	case err != nil:
		m.Rcode = dns.RcodeServerFailure
	case len(set) == 0:
		m.Rcode = dns.RcodeNameError
	default:
		n.fillDNS(m, q, service, set)
	}
	_ = w.WriteMsg(m)
}

// serviceOf is the service a query name asks for (case-insensitive).
func serviceOf(name string) (string, bool) {
	name = strings.ToLower(dns.Fqdn(name))
	s, ok := strings.CutSuffix(name, "."+dnsDomain)
	if !ok || s == "" || strings.Contains(s, ".") {
		return "", false
	}
	return s, true
}

// fillDNS adds the answer records of q for service's instances.
func (n *Node) fillDNS(m *dns.Msg, q dns.Question, service string, set registry.Set) {
	hdr := func(name string, t uint16) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: dnsTTL}
	}
	for _, in := range set.Sorted() {
		host, portText, err := net.SplitHostPort(in.Address)
		if err != nil {
			continue
		}
		port, _ := strconv.Atoi(portText)
		ip := net.ParseIP(host)
		addrRR := func(name string) dns.RR {
			if ip == nil {
				return nil
			}
			if v4 := ip.To4(); v4 != nil {
				return &dns.A{Hdr: hdr(name, dns.TypeA), A: v4}
			}
			return &dns.AAAA{Hdr: hdr(name, dns.TypeAAAA), AAAA: ip}
		}
		switch q.Qtype {
		case dns.TypeA, dns.TypeAAAA, dns.TypeANY:
			if rr := addrRR(q.Name); rr != nil && (q.Qtype == dns.TypeANY || rr.Header().Rrtype == q.Qtype) {
				m.Answer = append(m.Answer, rr)
			}
		case dns.TypeSRV:
			target := dns.Fqdn(host)
			if ip != nil {
				target = dnsLabel(in.ID) + "." + service + "." + dnsDomain
				if rr := addrRR(target); rr != nil {
					m.Extra = append(m.Extra, rr)
				}
			}
			m.Answer = append(m.Answer, &dns.SRV{Hdr: hdr(q.Name, dns.TypeSRV), Priority: 1, Weight: 1, Port: uint16(port), Target: target})
		}
	}
}

// dnsLabel makes an instance id a DNS label: letters, digits and hyphens,
// at most 63 bytes.
func dnsLabel(id string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(id) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	s := b.String()
	if len(s) > 63 {
		s = s[:63]
	}
	if s == "" {
		s = "instance"
	}
	return s
}

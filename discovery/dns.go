package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Resolver is the part of *net.Resolver the DNS entries need.
type Resolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
	LookupSRV(ctx context.Context, service, proto, name string) (cname string, addrs []*net.SRV, err error)
}

// NewResolver returns a resolver that asks the DNS server at addr
// (host:port; UDP, and TCP for a truncated answer) instead of the system's
// servers. An empty addr is the system's resolver.
func NewResolver(addr string) (Resolver, error) {
	if addr == "" {
		return net.DefaultResolver, nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return nil, fmt.Errorf("discovery: DNS resolver %q: want host:port", addr)
	}
	if _, err := parsePort(port); err != nil {
		return nil, fmt.Errorf("discovery: DNS resolver %q: %w", addr, err)
	}
	var d net.Dialer
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
	}, nil
}

// DNSConfig configures a DNS seed source.
type DNSConfig struct {
	// Entries are the names to resolve (KindDNS and KindSRV entries).
	Entries []Entry
	// Resolver answers the lookups (nil: the system's resolver).
	Resolver Resolver
	// Exclude lists addresses (host:port) never returned: this node's own.
	Exclude []string
}

// Validate checks the entries and fills in the resolver.
func (c *DNSConfig) Validate() error {
	if len(c.Entries) == 0 {
		return errors.New("discovery: no DNS entry to resolve")
	}
	for _, e := range c.Entries {
		if e.Kind != KindDNS && e.Kind != KindSRV {
			return fmt.Errorf("discovery: entry %q is not a DNS entry", e.Raw)
		}
		if err := checkName(e.Name); err != nil {
			return &EntryError{Entry: e.Raw, Reason: err.Error()}
		}
		if e.Kind == KindDNS && (e.Port < 1 || e.Port > 65535) {
			return &EntryError{Entry: e.Raw, Reason: fmt.Sprintf("bad port %d", e.Port)}
		}
	}
	if c.Resolver == nil {
		c.Resolver = net.DefaultResolver
	}
	return nil
}

// ResolveError reports a DNS entry that resolved to nothing.
type ResolveError struct {
	Entry string
	Err   error
}

func (e *ResolveError) Error() string { return fmt.Sprintf("resolve %s: %v", e.Entry, e.Err) }

func (e *ResolveError) Unwrap() error { return e.Err }

// DNS is a seed source that resolves its entries at every call: the
// records of a name may change between two re-join rounds (pods of a
// headless Kubernetes Service come and go).
type DNS struct {
	cfg     DNSConfig
	exclude map[string]bool
}

// NewDNS returns the seed source of cfg's entries.
func NewDNS(cfg DNSConfig) (*DNS, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := &DNS{cfg: cfg, exclude: map[string]bool{}}
	for _, a := range cfg.Exclude {
		d.exclude[normAddr(a)] = true
	}
	return d, nil
}

// Seeds resolves every entry (at once, each bounded by ctx) and returns
// the addresses found, sorted and once each, without the excluded ones.
// The error holds a *ResolveError per entry, or SRV target, that resolved
// to nothing; the addresses found are good all the same.
func (d *DNS) Seeds(ctx context.Context) ([]string, error) {
	found := make([][]string, len(d.cfg.Entries))
	errs := make([]error, len(d.cfg.Entries))
	var wg sync.WaitGroup
	for i, e := range d.cfg.Entries {
		wg.Go(func() { found[i], errs[i] = d.resolve(ctx, e) })
	}
	wg.Wait()
	var out []string
	for _, addrs := range found {
		for _, a := range addrs {
			if a = normAddr(a); !d.exclude[a] {
				out = append(out, a)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out), errors.Join(errs...)
}

// resolve returns the addresses one entry names now.
func (d *DNS) resolve(ctx context.Context, e Entry) ([]string, error) {
	if e.Kind == KindDNS {
		return d.hostAt(ctx, e.Raw, e.Name, e.Port)
	}
	_, srvs, err := d.cfg.Resolver.LookupSRV(ctx, "", "", e.Name)
	if err != nil {
		return nil, &ResolveError{Entry: e.Raw, Err: err}
	}
	var out []string
	var errs []error
	for _, s := range srvs {
		target := strings.TrimSuffix(s.Target, ".")
		if target == "" || s.Port == 0 {
			continue // "." : the service is not offered there
		}
		addrs, err := d.hostAt(ctx, e.Raw+" target "+target, target, int(s.Port))
		out = append(out, addrs...)
		errs = append(errs, err)
	}
	if len(out) == 0 && len(errs) == 0 {
		return nil, &ResolveError{Entry: e.Raw, Err: errors.New("no SRV target")}
	}
	return out, errors.Join(errs...)
}

// hostAt returns every address of host (A and AAAA records; an IP literal
// is itself) at port.
func (d *DNS) hostAt(ctx context.Context, what, host string, port int) ([]string, error) {
	hosts, err := d.cfg.Resolver.LookupHost(ctx, host)
	if err != nil {
		return nil, &ResolveError{Entry: what, Err: err}
	}
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		out = append(out, net.JoinHostPort(h, strconv.Itoa(port)))
	}
	return out, nil
}

// normAddr writes an IP:port address the one way netip does (so
// "[::1]:7201" and "[0:0::1]:7201" are equal); anything else is left as
// it is.
func normAddr(a string) string {
	if ap, err := netip.ParseAddrPort(a); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
	}
	return a
}

// LocalAddrs lists the addresses a node bound to gossip on: gossip itself,
// and when its host is unspecified (0.0.0.0, ::) every address of this
// host's interfaces at its port.
func LocalAddrs(gossip string) []string {
	out := []string{gossip}
	host, port, err := net.SplitHostPort(gossip)
	if err != nil {
		return out
	}
	if ip, err := netip.ParseAddr(host); host != "" && (err != nil || !ip.IsUnspecified()) {
		return out
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return out
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, net.JoinHostPort(p.Addr().String(), port))
		}
	}
	return out
}

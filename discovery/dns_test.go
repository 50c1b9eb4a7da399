package discovery

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/discovery/dnstest"
)

// fakeResolver answers from maps a test changes between calls.
type fakeResolver struct {
	mu    sync.Mutex
	hosts map[string][]string
	srvs  map[string][]*net.SRV
	calls int
}

var errNoSuchHost = &net.DNSError{Err: "no such host", IsNotFound: true}

func (f *fakeResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if h, ok := f.hosts[host]; ok {
		return slices.Clone(h), nil
	}
	return nil, errNoSuchHost
}

func (f *fakeResolver) LookupSRV(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if service != "" || proto != "" {
		return "", nil, errors.New("the full SRV name goes in name")
	}
	if s, ok := f.srvs[name]; ok {
		return name, s, nil
	}
	return "", nil, errNoSuchHost
}

func (f *fakeResolver) setHost(name string, ips ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(ips) == 0 {
		delete(f.hosts, name)
		return
	}
	f.hosts[name] = ips
}

func newFake() *fakeResolver {
	return &fakeResolver{hosts: map[string][]string{}, srvs: map[string][]*net.SRV{}}
}

func mustEntries(t *testing.T, raw ...string) []Entry {
	t.Helper()
	_, names, err := ParseJoin(raw)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func seedsOf(t *testing.T, d *DNS) ([]string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return d.Seeds(ctx)
}

// TestDNSSeedsFollowRecords: the records are asked for at every call, so
// a name that does not resolve yet (the pods of a headless service before
// they exist) gives an error and no seed, and a later call gives what the
// records say then; A and AAAA records are both joined, at the entry's
// port; this node's own address is left out.
func TestDNSSeedsFollowRecords(t *testing.T) {
	r := newFake()
	d, err := NewDNS(DNSConfig{Entries: mustEntries(t, "dns:qkv.test:7201"), Resolver: r, Exclude: []string{"10.0.0.1:7201"}})
	if err != nil {
		t.Fatal(err)
	}
	seeds, err := seedsOf(t, d)
	var re *ResolveError
	if len(seeds) != 0 || !errors.As(err, &re) || re.Entry != "dns:qkv.test:7201" || !errors.Is(err, errNoSuchHost) {
		t.Fatalf("a name not in DNS yet: %v, %v", seeds, err)
	}
	r.setHost("qkv.test", "10.0.0.2", "10.0.0.1", "fd00::3")
	seeds, err = seedsOf(t, d)
	if want := []string{"10.0.0.2:7201", "[fd00::3]:7201"}; err != nil || !slices.Equal(seeds, want) {
		t.Fatalf("after the records appeared: %v, %v; want %v", seeds, err, want)
	}
	r.setHost("qkv.test", "10.0.0.4", "10.0.0.2")
	seeds, err = seedsOf(t, d)
	if want := []string{"10.0.0.2:7201", "10.0.0.4:7201"}; err != nil || !slices.Equal(seeds, want) {
		t.Fatalf("after the records changed: %v, %v; want %v", seeds, err, want)
	}
}

// TestDNSSeedsSRV: dns+srv: joins each SRV target's addresses at the
// record's port; a target that does not resolve is reported and the
// others are still returned; entries of both kinds are merged.
func TestDNSSeedsSRV(t *testing.T) {
	r := newFake()
	r.srvs["_gossip._tcp.qkv.test"] = []*net.SRV{
		{Target: "a.qkv.test.", Port: 7201}, {Target: "b.qkv.test.", Port: 7202}, {Target: "gone.qkv.test.", Port: 7203}, {Target: ".", Port: 0},
	}
	r.setHost("a.qkv.test", "10.0.0.1")
	r.setHost("b.qkv.test", "10.0.0.2", "fd00::2")
	r.setHost("c.qkv.test", "10.0.0.3")
	d, err := NewDNS(DNSConfig{Entries: mustEntries(t, "dns+srv:_gossip._tcp.qkv.test", "dns:c.qkv.test:7209"), Resolver: r})
	if err != nil {
		t.Fatal(err)
	}
	seeds, err := seedsOf(t, d)
	want := []string{"10.0.0.1:7201", "10.0.0.2:7202", "10.0.0.3:7209", "[fd00::2]:7202"}
	var re *ResolveError
	if !slices.Equal(seeds, want) || !errors.As(err, &re) || re.Entry != "dns+srv:_gossip._tcp.qkv.test target gone.qkv.test" {
		t.Fatalf("got %v, %v; want %v and the gone target reported", seeds, err, want)
	}
}

func TestDNSConfigValidate(t *testing.T) {
	for name, cfg := range map[string]DNSConfig{
		"no entry":   {},
		"an address": {Entries: []Entry{{Kind: KindAddr, Raw: "a:1"}}},
		"bad name":   {Entries: []Entry{{Kind: KindDNS, Raw: "dns::1", Port: 1}}},
		"bad port":   {Entries: []Entry{{Kind: KindDNS, Raw: "dns:a:0", Name: "a"}}},
	} {
		if _, err := NewDNS(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewResolver("nope"); err == nil {
		t.Error("NewResolver accepted an address without a port")
	}
}

// TestDNSSeedsRealServer: the same through a real DNS server and the Go
// resolver NewResolver builds (what --dns-resolver gives a node).
func TestDNSSeedsRealServer(t *testing.T) {
	srv, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	res, err := NewResolver(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDNS(DNSConfig{Entries: mustEntries(t, "dns:qkv.test.:7201", "dns+srv:_gossip._udp.qkv.test."), Resolver: res, Exclude: []string{"127.0.0.11:7201"}})
	if err != nil {
		t.Fatal(err)
	}
	if seeds, err := seedsOf(t, d); len(seeds) != 0 || err == nil {
		t.Fatalf("before the records exist: %v, %v", seeds, err)
	}
	srv.SetHost("qkv.test", "127.0.0.11", "127.0.0.12", "127.0.0.13", "::1")
	srv.SetHost("n4.qkv.test", "127.0.0.14")
	srv.SetSRV("_gossip._udp.qkv.test", dnstest.SRV{Target: "n4.qkv.test", Port: 7204})
	seeds, err := seedsOf(t, d)
	want := []string{"127.0.0.12:7201", "127.0.0.13:7201", "127.0.0.14:7204", "[::1]:7201"}
	if err != nil || !slices.Equal(seeds, want) {
		t.Fatalf("got %v, %v; want %v", seeds, err, want)
	}
	srv.SetHost("qkv.test", "127.0.0.12")
	if seeds, _ := seedsOf(t, d); !slices.Equal(seeds, []string{"127.0.0.12:7201", "127.0.0.14:7204"}) {
		t.Fatalf("after the records changed: %v", seeds)
	}
}

func TestLocalAddrs(t *testing.T) {
	if got := LocalAddrs("10.0.0.1:7201"); !slices.Equal(got, []string{"10.0.0.1:7201"}) {
		t.Fatalf("a specific address: %v", got)
	}
	if got := LocalAddrs("0.0.0.0:7201"); !slices.Contains(got, "127.0.0.1:7201") {
		t.Fatalf("an unspecified address leaves out loopback: %v", got)
	}
}

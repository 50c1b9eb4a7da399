package main

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/discovery/dnstest"
)

// Process tests of finding peers through DNS: servers whose only seed is
// a name (--join dns:NAME:PORT) resolved by a DNS server the test runs.

// dnsLoopbacks are the nodes' addresses: every 127.0.0.0/8 address is
// local on Linux, so one name can list three nodes on one port.
var dnsLoopbacks = []string{"127.0.0.11", "127.0.0.12", "127.0.0.13"}

// portFreeOn returns a port whose TCP and UDP sides were free a moment ago
// on every one of ips.
func portFreeOn(t *testing.T, ips []string) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", net.JoinHostPort(ips[0], "0"))
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if portFree(ips, port) {
			return port
		}
	}
	t.Fatal("no port free on every address")
	return 0
}

func portFree(ips []string, port int) bool {
	for _, ip := range ips {
		addr := net.JoinHostPort(ip, fmt.Sprint(port))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return false
		}
		l.Close()
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return false
		}
		pc.Close()
	}
	return true
}

// TestProcessDNSSeeds: three servers started with only `--join
// dns:qkv.test.:PORT --bootstrap-expect 3` and a test DNS server as their
// resolver. The name lists each node only once it runs (as a headless
// Kubernetes Service lists its pods), so the first nodes find no seed at
// start and must resolve the name again; once all three are listed they
// form one ring: `ring status` says "3 up", and a put and a get work.
func TestProcessDNSSeeds(t *testing.T) {
	needBinary(t)
	srv, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	gossipPort := portFreeOn(t, dnsLoopbacks)
	ports := freePorts(t, 6)
	dir := t.TempDir()
	pc := &procCluster{t: t}
	t.Cleanup(pc.killAll)
	for i, ip := range dnsLoopbacks {
		pc.procs = append(pc.procs, &proc{
			id:     fmt.Sprintf("n%d", i+1),
			listen: fmt.Sprintf("%s:%d", ip, ports[2*i]),
			gossip: fmt.Sprintf("%s:%d", ip, gossipPort),
			http:   fmt.Sprintf("%s:%d", ip, ports[2*i+1]),
			data:   filepath.Join(dir, fmt.Sprintf("n%d", i+1)),
		})
	}
	seed := fmt.Sprintf("dns:qkv.test.:%d", gossipPort)
	start := time.Now()
	for i := range pc.procs {
		srv.SetHost("qkv.test", dnsLoopbacks[:i+1]...) // the name lists the nodes that run
		pc.start(i, "--join", seed, "--dns-resolver", srv.Addr(), "--bootstrap-expect", "3")
		if i < 2 {
			time.Sleep(time.Second) // a round or two of resolving a name that lists too few nodes
		}
	}
	pc.waitRing(3)
	t.Logf("3 valid members up %v after the first start (%d DNS queries)", time.Since(start).Round(time.Millisecond), srv.Queries())
	eps := pc.endpoints()
	out, code := pc.cli("ring", "status", "--endpoints", pc.procs[0].listen)
	if code != 0 || !strings.Contains(out, "3 up") {
		t.Fatalf("ring status exited %d: %s", code, out)
	}
	if out, code := pc.cli("put", "found", "through dns", "--endpoints", eps); code != 0 {
		t.Fatalf("put exited %d: %s", code, out)
	}
	if out, code := pc.cli("get", "found", "--endpoints", eps); code != 0 || !strings.Contains(out, "through dns") {
		t.Fatalf("get exited %d: %s", code, out)
	}
}

// TestProcessBadDNSSeed: a malformed dns: entry is a usage error (exit 2)
// whose message names the entry.
func TestProcessBadDNSSeed(t *testing.T) {
	needBinary(t)
	pc := &procCluster{t: t}
	dir := t.TempDir()
	for _, tc := range []struct{ entry, says string }{
		{"dns:qkv.test", "missing port"},
		{"dns::7201", "empty name"},
		{"dns:qkv.test:0", "bad port"},
		{"dns+srv:_g._tcp.qkv.test:7201", "takes no port"},
	} {
		out, code := pc.cli("server", "--id", "n1", "--data", filepath.Join(dir, "n1"), "--join", "127.0.0.1:7201,"+tc.entry)
		if code != exitUsage || !strings.Contains(out, fmt.Sprintf("%q", tc.entry)) || !strings.Contains(out, tc.says) {
			t.Errorf("--join %s: exit %d, want %d and a message naming it (%s): %s", tc.entry, code, exitUsage, tc.says, out)
		}
	}
	if out, code := pc.cli("server", "--id", "n1", "--data", filepath.Join(dir, "n1"), "--discover", "mdns"); code != exitUsage {
		t.Errorf("--discover mdns: exit %d: %s", code, out)
	}
}

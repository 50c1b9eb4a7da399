package main

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// digShort runs dig +short against a node's DNS port.
func digShort(t *testing.T, addr, name, qtype string) []string {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	out, err := exec.Command("dig", "@"+host, "-p", port, name, qtype, "+short", "+time=2", "+tries=1").CombinedOutput()
	if err != nil {
		t.Fatalf("dig %s %s: %v: %s", name, qtype, err, out)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	slices.Sort(lines)
	return lines
}

// Every node started with --dns answers SRV and A queries for
// SERVICE.service.quorumkv from the registry: `dig @node -p PORT
// payments.service.quorumkv SRV` lists the live instances.
func TestProcessDNS(t *testing.T) {
	if _, err := exec.LookPath("dig"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("dig is missing (.ci/run installs dnsutils)")
		}
		t.Skip("needs dig (dnsutils)")
	}
	pc := newProcCluster(t, 3)
	ports := freePorts(t, 3)
	var dnsAddrs []string
	for i := range 3 {
		dnsAddrs = append(dnsAddrs, fmt.Sprintf("127.0.0.1:%d", ports[i]))
		pc.start(i, "--dns", dnsAddrs[i])
	}
	pc.waitRing(3)
	eps := pc.endpoints()
	for _, in := range []struct{ id, port string }{{"i-1", "9001"}, {"i-2", "9002"}} {
		if out, code := pc.cli("service", "register", "payments", "--id", in.id, "--addr", "127.0.0.1:"+in.port,
			"--ttl", "1m", "--once", "--endpoints", eps); code != 0 {
			t.Fatalf("register %s exited %d: %s", in.id, code, out)
		}
	}
	want := []string{"1 1 9001 i-1.payments.service.quorumkv.", "1 1 9002 i-2.payments.service.quorumkv."}
	for _, addr := range dnsAddrs {
		if got := digShort(t, addr, "payments.service.quorumkv", "SRV"); !slices.Equal(got, want) {
			t.Fatalf("SRV from %s: %q, want %q", addr, got, want)
		}
	}
	if got := digShort(t, dnsAddrs[1], "payments.service.quorumkv", "A"); !slices.Equal(got, []string{"127.0.0.1", "127.0.0.1"}) {
		t.Fatalf("A: %q", got)
	}
	if out, code := pc.cli("service", "deregister", "payments", "--id", "i-1", "--endpoints", eps); code != 0 {
		t.Fatalf("deregister exited %d: %s", code, out)
	}
	waitFor(t, 5*time.Second, func() error {
		if got := digShort(t, dnsAddrs[2], "payments.service.quorumkv", "SRV"); !slices.Equal(got, want[1:]) {
			return fmt.Errorf("SRV after deregistering i-1: %q", got)
		}
		return nil
	})
	if got := digShort(t, dnsAddrs[0], "nothing.service.quorumkv", "SRV"); len(got) != 0 {
		t.Fatalf("an unknown service: %q", got)
	}
}

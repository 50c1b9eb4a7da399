package nemesis

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// lanServer is one server process the LAN discovery test started (by
// `ip netns exec`, which execs the server: the PID is the server's own).
type lanServer struct {
	id, ns, addr, log string
	cmd               *exec.Cmd
	exited            chan struct{}
}

// startLANServer runs bin as a server in node i's namespace with --discover
// lan, no --join, and --bootstrap-expect 3; it is killed when the test
// ends.
func startLANServer(t *testing.T, net *network, bin, dir string, i int) *lanServer {
	t.Helper()
	s := &lanServer{id: fmt.Sprintf("n%d", i+1), ns: net.ns(i), addr: net.grpcAddr(i), log: filepath.Join(dir, fmt.Sprintf("n%d.log", i+1))}
	logf, err := os.Create(s.log)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"netns", "exec", s.ns, bin, "server", "--id", s.id, "--data", filepath.Join(dir, s.id),
		"--listen", s.addr, "--gossip", net.gossipAddr(i), "--http", "off", "--partitions", "64",
		"--gossip-profile", "local", "--log-level", "info", "--discover", "lan", "--bootstrap-expect", "3"}
	s.cmd = exec.Command("ip", args...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	s.exited = make(chan struct{})
	go func() {
		_ = s.cmd.Wait()
		logf.Close()
		close(s.exited)
	}()
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			t.Errorf("%s (pid %d) did not exit after SIGKILL", s.id, s.cmd.Process.Pid)
		}
	})
	return s
}

// cliIn runs the CLI in namespace ns, bounded by 15 s.
func cliIn(bin, ns string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, bin}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// TestLANDiscovery: three servers, each in its own network namespace on one
// bridge, started with `--discover lan --bootstrap-expect 3` and no --join,
// find each other by their multicast announcements (the default group,
// 239.255.71.1:7401) and form one ring: `ring status` run in one namespace
// shows 3 up, exactly one of them founded the cluster, and a put through
// one namespace reads back through another. Needs root (QUORUMKV_NEMESIS=1;
// `make nemesis-bite` runs it).
func TestLANDiscovery(t *testing.T) {
	bin := needNemesis(t)
	logf := func(format string, args ...any) { t.Logf(format, args...) }
	cleanStale(logf)
	net, err := newNetwork(3, 140, logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(net.teardown) // after the servers' cleanups: those run first
	if err := net.enableMulticast(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var servers []*lanServer
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, s := range servers {
			if b, err := os.ReadFile(s.log); err == nil {
				t.Logf("=== %s log (last 4 KiB):\n%s", s.id, tail(b, 4096))
			}
		}
	})
	start := time.Now()
	for i := range 3 {
		servers = append(servers, startLANServer(t, net, bin, dir, i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var eps []string
	for _, s := range servers {
		eps = append(eps, s.addr)
	}
	endpoints := strings.Join(eps, ",")
	waitFor(t, ctx, 60*time.Second, "ring status in n1's namespace to show 3 valid members up", func() error {
		for _, s := range servers {
			select {
			case <-s.exited:
				return fmt.Errorf("%s exited", s.id)
			default:
			}
		}
		out, err := cliIn(bin, servers[0].ns, "ring", "status", "-o", "json", "--endpoints", servers[0].addr, "--timeout", "2s")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		var st struct {
			Members []struct{ ID, Status, State string }
		}
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		valid := 0
		for _, m := range st.Members {
			if m.Status == "up" && m.State == "valid" {
				valid++
			}
		}
		if valid != 3 {
			return fmt.Errorf("members %+v", st.Members)
		}
		return nil
	})
	out, err := cliIn(bin, servers[0].ns, "ring", "status", "--endpoints", servers[0].addr, "--timeout", "2s")
	if err != nil || !strings.Contains(out, "3 up") {
		t.Fatalf("ring status: %v: %s", err, out)
	}
	logf("%s", out)
	logf("3 up %.1fs after the first start", time.Since(start).Seconds())
	founders := 0
	for _, s := range servers {
		if b, err := os.ReadFile(s.log); err == nil && bytes.Contains(b, []byte("founded the cluster")) {
			founders++
		}
	}
	if founders != 1 {
		t.Errorf("%d nodes founded the cluster, want 1", founders)
	}
	waitFor(t, ctx, 30*time.Second, "a put through n2 and a get through n3", func() error {
		if out, err := cliIn(bin, servers[1].ns, "put", "found", "by multicast", "--endpoints", endpoints); err != nil {
			return fmt.Errorf("put: %v: %s", err, out)
		}
		out, err := cliIn(bin, servers[2].ns, "get", "found", "--endpoints", endpoints)
		if err != nil || !strings.Contains(out, "by multicast") {
			return fmt.Errorf("get: %v: %s", err, out)
		}
		return nil
	})
}

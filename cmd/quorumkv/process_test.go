package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Process tests run the real binary: servers on loopback ports, killed with
// SIGKILL, and the CLI as a user runs it.

var binary string

func TestMain(m *testing.M) {
	code := func() int {
		flag.Parse()
		if testing.Short() {
			return m.Run()
		}
		dir, err := os.MkdirTemp("", "quorumkv-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		binary = filepath.Join(dir, "quorumkv")
		out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

func needBinary(t *testing.T) {
	t.Helper()
	if binary == "" {
		t.Skip("process tests need the binary (not built with -short)")
	}
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

type proc struct {
	id, listen, gossip, http, data string
	join                           []string
	cmd                            *exec.Cmd
	log                            *bytes.Buffer
}

type procCluster struct {
	t     *testing.T
	procs []*proc
}

func startProcCluster(t *testing.T, n int, extra ...string) *procCluster {
	pc := newProcCluster(t, n)
	for i := range n {
		pc.start(i, extra...)
	}
	pc.waitRing(n)
	return pc
}

// newProcCluster sets up n servers on free ports (n2… joining n1) without
// starting them; they are killed when the test ends.
func newProcCluster(t *testing.T, n int) *procCluster {
	needBinary(t)
	ports := freePorts(t, 3*n)
	dir := t.TempDir()
	pc := &procCluster{t: t}
	for i := range n {
		p := &proc{
			id:     fmt.Sprintf("n%d", i+1),
			listen: fmt.Sprintf("127.0.0.1:%d", ports[3*i]),
			gossip: fmt.Sprintf("127.0.0.1:%d", ports[3*i+1]),
			http:   fmt.Sprintf("127.0.0.1:%d", ports[3*i+2]),
			data:   filepath.Join(dir, fmt.Sprintf("n%d", i+1)),
		}
		if i > 0 {
			p.join = []string{pc.procs[0].gossip}
		}
		pc.procs = append(pc.procs, p)
	}
	t.Cleanup(pc.killAll)
	return pc
}

func (pc *procCluster) start(i int, extra ...string) {
	pc.spawn(i, extra...)
	pc.waitServing(pc.procs[i])
}

// spawn starts server i without waiting for it to serve.
func (pc *procCluster) spawn(i int, extra ...string) {
	p := pc.procs[i]
	args := []string{"server", "--id", p.id, "--data", p.data, "--listen", p.listen, "--gossip", p.gossip,
		"--http", p.http, "--gossip-profile", "local", "--log-level", "warn"}
	if len(p.join) > 0 {
		args = append(args, "--join", strings.Join(p.join, ","))
	}
	args = append(args, extra...)
	p.cmd = exec.Command(binary, args...)
	p.log = &bytes.Buffer{}
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		pc.t.Fatal(err)
	}
}

func (pc *procCluster) waitServing(p *proc) {
	pc.t.Helper()
	cc, err := grpc.NewClient(p.listen, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		pc.t.Fatal(err)
	}
	defer cc.Close()
	waitFor(pc.t, 20*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		r, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			return fmt.Errorf("%s: %v\n%s", p.id, err, p.log)
		}
		if r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			return fmt.Errorf("%s: %v", p.id, r.GetStatus())
		}
		return nil
	})
}

// waitRing waits until every running node reports n members up.
func (pc *procCluster) waitRing(n int) {
	pc.t.Helper()
	waitFor(pc.t, 30*time.Second, func() error {
		for _, p := range pc.procs {
			if p.cmd == nil {
				continue
			}
			out, code := pc.cli("ring", "status", "-o", "json", "--endpoints", p.listen)
			if code != 0 {
				return fmt.Errorf("ring status on %s exited %d: %s", p.id, code, out)
			}
			var st struct {
				Members []struct{ ID, Status, State string }
			}
			if err := json.Unmarshal([]byte(out), &st); err != nil {
				return err
			}
			up := 0
			for _, m := range st.Members {
				if m.Status == "up" && m.State == "valid" {
					up++
				}
			}
			if len(st.Members) != n || up != n {
				return fmt.Errorf("%s sees %+v", p.id, st.Members)
			}
		}
		return nil
	})
}

func (pc *procCluster) kill(i int) {
	p := pc.procs[i]
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
	p.cmd = nil
}

func (pc *procCluster) killAll() {
	for i := range pc.procs {
		pc.kill(i)
	}
}

func (pc *procCluster) endpoints() string {
	var eps []string
	for _, p := range pc.procs {
		eps = append(eps, p.listen)
	}
	return strings.Join(eps, ",")
}

// cli runs the binary and returns its stdout+stderr and exit code.
func (pc *procCluster) cli(args ...string) (string, int) {
	cmd := exec.Command(binary, args...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		pc.t.Fatalf("run %v: %v", args, err)
	}
	return string(out), 0
}

func waitFor(t *testing.T, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not met after %v: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestProcessKillOne: three servers; put; SIGKILL one; QUORUM still works,
// ALL exits 3; restart it and the cluster is whole again.
func TestProcessKillOne(t *testing.T) {
	pc := startProcCluster(t, 3)
	eps := pc.endpoints()
	if out, code := pc.cli("put", "greeting", "hello", "--endpoints", eps); code != 0 {
		t.Fatalf("put exited %d: %s", code, out)
	}
	pc.kill(2)
	if out, code := pc.cli("put", "greeting", "hello again", "--endpoints", eps); code != 0 {
		t.Fatalf("quorum put with n3 dead exited %d: %s", code, out)
	}
	out, code := pc.cli("get", "greeting", "-o", "json", "--endpoints", eps)
	if code != 0 {
		t.Fatalf("quorum get with n3 dead exited %d: %s", code, out)
	}
	var got struct {
		Found  bool
		Values []string
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || !got.Found || len(got.Values) != 1 || got.Values[0] != "hello again" {
		t.Fatalf("get = %s (%v)", out, err)
	}
	out, code = pc.cli("get", "greeting", "--consistency", "all", "--endpoints", eps)
	if code != exitUnavailable {
		t.Fatalf("ALL get with n3 dead exited %d, want %d: %s", code, exitUnavailable, out)
	}
	if !strings.Contains(out, "3 replicas required, 2 answered") {
		t.Fatalf("unavailable message does not give the numbers: %s", out)
	}
	pc.start(2)
	pc.waitRing(3)
	waitFor(t, 20*time.Second, func() error {
		out, code := pc.cli("get", "greeting", "--consistency", "all", "--endpoints", eps)
		if code != 0 {
			return fmt.Errorf("ALL get exited %d: %s", code, out)
		}
		return nil
	})
	if out, code := pc.cli("get", "missing-key", "--endpoints", eps); code != exitNotFound {
		t.Fatalf("get of a missing key exited %d, want %d: %s", code, exitNotFound, out)
	}
}

// TestProcessSIGTERMDrains: SIGTERM makes a server exit 0.
func TestProcessSIGTERMDrains(t *testing.T) {
	pc := startProcCluster(t, 1, "--replicas", "1")
	p := pc.procs[0]
	if out, code := pc.cli("put", "k", "v", "--endpoints", p.listen); code != 0 {
		t.Fatalf("put: %d %s", code, out)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	err := p.cmd.Wait()
	p.cmd = nil
	if err != nil {
		t.Fatalf("server after SIGTERM: %v\n%s", err, p.log)
	}
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/security"
)

// secureCluster is a 3-node cluster with TLS, client certificates required
// and encrypted gossip, all made with `quorumkv cert` and `gossip-key`.
type secureCluster struct {
	*procCluster
	certs, gossipKey string
}

func (sc *secureCluster) nodeFlags(id string) []string {
	return []string{"--tls-ca", filepath.Join(sc.certs, "ca.crt"),
		"--tls-cert", filepath.Join(sc.certs, "node."+id+".crt"), "--tls-key", filepath.Join(sc.certs, "node."+id+".key"),
		"--require-client-cert", "--gossip-key", sc.gossipKey}
}

// as are the client flags of certificate name ("" for none) to node i.
func (sc *secureCluster) as(name string, i int) []string {
	out := []string{"--endpoints", sc.procs[i].listen, "--timeout", "5s", "--tls-ca", filepath.Join(sc.certs, "ca.crt")}
	if name != "" {
		out = append(out, "--tls-cert", filepath.Join(sc.certs, "client."+name+".crt"), "--tls-key", filepath.Join(sc.certs, "client."+name+".key"))
	}
	return out
}

func (sc *secureCluster) run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	return sc.cli(args...)
}

func startSecureCluster(t *testing.T) *secureCluster {
	pc := newProcCluster(t, 3)
	sc := &secureCluster{procCluster: pc, certs: filepath.Join(t.TempDir(), "certs")}
	mustCLI := func(args ...string) string {
		out, code := pc.cli(args...)
		if code != 0 {
			t.Fatalf("quorumkv %s: exit %d: %s", strings.Join(args, " "), code, out)
		}
		return out
	}
	mustCLI("cert", "create-ca", "--dir", sc.certs)
	for _, p := range pc.procs {
		mustCLI("cert", "create-node", "--id", p.id, "--host", "127.0.0.1,localhost", "--dir", sc.certs)
	}
	mustCLI("cert", "create-client", "--name", "app", "--dir", sc.certs)
	mustCLI("cert", "create-client", "--name", "root", "--admin", "--dir", sc.certs)
	sc.gossipKey = filepath.Join(sc.certs, "gossip.key")
	if err := os.WriteFile(sc.gossipKey, []byte(mustCLI("gossip-key", "generate")), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, p := range pc.procs {
		pc.spawn(i, sc.nodeFlags(p.id)...)
	}
	if out, code := sc.run(t, append([]string{"ring", "wait", "--members", "3", "--timeout", "60s"}, sc.as("root", 0)...)...); code != 0 {
		t.Fatalf("ring wait: exit %d: %s\n%s", code, out, pc.procs[0].log)
	}
	return sc
}

// TestProcessTLSCluster: a 3-node cluster with TLS, required client
// certificates and encrypted gossip, built from `quorumkv cert` output.
func TestProcessTLSCluster(t *testing.T) {
	sc := startSecureCluster(t)
	expect := func(want int, args ...string) string {
		t.Helper()
		out, code := sc.run(t, args...)
		if code != want {
			t.Fatalf("quorumkv %s: exit %d, want %d: %s", strings.Join(args, " "), code, want, out)
		}
		return out
	}
	// A plaintext client fails; a client without a certificate is refused
	// (exit 7); a client certificate reads and writes.
	if out, code := sc.run(t, "get", "k", "--endpoints", sc.procs[0].listen, "--timeout", "3s"); code == 0 {
		t.Fatalf("a plaintext client read from a TLS node: %s", out)
	}
	expect(7, append([]string{"put", "k", "v"}, sc.as("", 0)...)...)
	expect(0, append([]string{"put", "k", "v"}, sc.as("app", 0)...)...)
	if out := expect(0, append([]string{"get", "k"}, sc.as("app", 1)...)...); !strings.Contains(out, "v") {
		t.Fatalf("get: %s", out)
	}
	// Ring changes need an admin certificate.
	leave := []string{"ring", "leave", "--node", "n3", "--dry-run", "--force"}
	expect(7, append(leave, sc.as("app", 0)...)...)
	expect(0, append(leave, sc.as("root", 0)...)...)
	expect(7, append([]string{"gossip-key", "list"}, sc.as("app", 0)...)...)
	expect(0, append([]string{"gossip-key", "list"}, sc.as("root", 0)...)...)
	// The internal services take node certificates only.
	checkReplicaRefused(t, sc)
	// Half-configured TLS refuses to start.
	out, code := sc.cli("server", "--id", "x", "--data", filepath.Join(t.TempDir(), "x"), "--tls-cert", filepath.Join(sc.certs, "node.n1.crt"))
	if code != 2 || !strings.Contains(out, "--tls-key") {
		t.Fatalf("half-configured TLS: exit %d: %s", code, out)
	}
	checkRoguesStayOut(t, sc)
}

// checkReplicaRefused calls the Replica service directly, as grpcurl
// would, with a client certificate and with an admin one.
func checkReplicaRefused(t *testing.T, sc *secureCluster) {
	t.Helper()
	for _, name := range []string{"app", "root"} {
		tlsc, err := security.NewClient(security.Files{CA: filepath.Join(sc.certs, "ca.crt"),
			Cert: filepath.Join(sc.certs, "client."+name+".crt"), Key: filepath.Join(sc.certs, "client."+name+".key")}, false)
		if err != nil {
			t.Fatal(err)
		}
		cc, err := grpc.NewClient(sc.procs[0].listen, grpc.WithTransportCredentials(tlsc.Credentials()))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = api.NewReplicaClient(cc).TreeRoots(ctx, &api.TreeRootsRequest{})
		cancel()
		cc.Close()
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("Replica/TreeRoots with the %s certificate: %v, want PERMISSION_DENIED", name, err)
		}
	}
}

// checkRoguesStayOut starts two rogue servers that join n1: one with a
// node certificate of the cluster's CA but no gossip key, one with the
// gossip key but a certificate of another CA. Neither ever appears in
// `ring status`.
func checkRoguesStayOut(t *testing.T, sc *secureCluster) {
	t.Helper()
	other := filepath.Join(t.TempDir(), "other")
	for _, args := range [][]string{{"cert", "create-ca", "--dir", other},
		{"cert", "create-node", "--id", "rogue2", "--host", "127.0.0.1", "--dir", other},
		{"cert", "create-node", "--id", "rogue1", "--host", "127.0.0.1", "--dir", sc.certs}} {
		if out, code := sc.cli(args...); code != 0 {
			t.Fatalf("%v: %s", args, out)
		}
	}
	i1 := sc.addProc()
	sc.procs[i1].id = "rogue1"
	sc.spawn(i1, "--tls-ca", filepath.Join(sc.certs, "ca.crt"), "--tls-cert", filepath.Join(sc.certs, "node.rogue1.crt"),
		"--tls-key", filepath.Join(sc.certs, "node.rogue1.key"))
	i2 := sc.addProc()
	sc.procs[i2].id = "rogue2"
	sc.spawn(i2, "--tls-ca", filepath.Join(other, "ca.crt"), "--tls-cert", filepath.Join(other, "node.rogue2.crt"),
		"--tls-key", filepath.Join(other, "node.rogue2.key"), "--gossip-key", sc.gossipKey)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, i := range []int{0, 1, 2} {
			out, code := sc.run(t, append([]string{"ring", "status", "-o", "json"}, sc.as("root", i)...)...)
			if code != 0 {
				t.Fatalf("ring status on n%d: exit %d: %s", i+1, code, out)
			}
			if strings.Contains(out, "rogue") {
				t.Fatalf("a rogue server appears in ring status on n%d:\n%s\nrogue2 log:\n%s", i+1, out, sc.procs[i2].log)
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	fmt.Fprint(os.Stderr)
}

// TestProcessTLSHandshakeFlood: 2,000 connections to one node that open
// and never finish a TLS handshake, while a 16-client benchmark runs over
// TLS: the benchmark completes with no errors and the node stays SERVING.
func TestProcessTLSHandshakeFlood(t *testing.T) {
	sc := startSecureCluster(t)
	target := sc.procs[0].listen
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := range 2000 {
		c, err := net.DialTimeout("tcp", target, 2*time.Second)
		if err != nil {
			t.Fatalf("flood connection %d: %v", i, err)
		}
		// The first bytes of a TLS record announcing a handshake, then
		// nothing: the node waits for the rest.
		if i%2 == 0 {
			_, _ = c.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00})
		}
		held = append(held, c)
	}
	eps := sc.procs[0].listen + "," + sc.procs[1].listen + "," + sc.procs[2].listen
	args := append([]string{"bench", "--workload", "a", "--clients", "16", "--records", "1000", "--duration", "8s", "-o", "json"}, sc.as("app", 0)...)
	args = append(args, "--endpoints", eps)
	out, code := sc.cli(args...)
	if code != 0 {
		t.Fatalf("bench under the flood: exit %d: %s", code, out)
	}
	var rep struct {
		Total struct {
			Count  int64            `json:"count"`
			Errors map[string]int64 `json:"errors"`
		} `json:"total"`
	}
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &rep); err != nil {
		t.Fatalf("bench output: %v\n%s", err, out)
	}
	failed := int64(0)
	for _, n := range rep.Total.Errors {
		failed += n
	}
	if rep.Total.Count == 0 || failed > 0 {
		t.Fatalf("bench under the flood: %d operations, errors %v", rep.Total.Count, rep.Total.Errors)
	}
	t.Logf("bench under a flood of %d unfinished handshakes: %d operations, no errors", len(held), rep.Total.Count)
	tlsc, err := security.NewClient(security.Files{CA: filepath.Join(sc.certs, "ca.crt"),
		Cert: filepath.Join(sc.certs, "client.app.crt"), Key: filepath.Join(sc.certs, "client.app.key")}, false)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient(target, grpc.WithTransportCredentials(tlsc.Credentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if r, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health of the flooded node: %v, %v", r, err)
	}
}

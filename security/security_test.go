package security

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// pki creates a CA, node n1 (127.0.0.1), client "app" and admin "ops" in
// dir, and a second CA with node "rogue" in dir/other.
func pki(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	must(t, CreateCA(dir, now))
	must(t, CreateNode(dir, dir, "n1", []string{"127.0.0.1", "localhost"}, now))
	must(t, CreateClient(dir, dir, "app", false, now))
	must(t, CreateClient(dir, dir, "ops", true, now))
	other := filepath.Join(dir, "other")
	must(t, CreateCA(other, now))
	must(t, CreateNode(other, other, "rogue", []string{"127.0.0.1"}, now))
	return dir
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestCreateRefusesToOverwrite(t *testing.T) {
	dir := pki(t)
	if err := CreateCA(dir, time.Now()); !errors.Is(err, ErrExists) {
		t.Fatalf("CreateCA over an existing CA: %v", err)
	}
	if err := CreateNode(dir, dir, "../x", []string{"h"}, time.Now()); err == nil {
		t.Fatal("a node id with a path accepted")
	}
	if st, err := os.Stat(filepath.Join(dir, NodeKeyFile("n1"))); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("node key mode: %v %v", st.Mode(), err)
	}
}

func TestValidate(t *testing.T) {
	full := Files{CA: "ca", Cert: "c", Key: "k"}
	for _, tc := range []struct {
		name    string
		cfg     ServerConfig
		side    Side
		missing string
	}{
		{"plaintext", ServerConfig{}, "", ""},
		{"full", ServerConfig{Client: full}, "", ""},
		{"cert without key", ServerConfig{Client: Files{CA: "ca", Cert: "c"}}, SideClient, "key"},
		{"key without cert", ServerConfig{Client: Files{CA: "ca", Key: "k"}}, SideClient, "cert"},
		{"ca alone", ServerConfig{Client: Files{CA: "ca"}}, SideClient, "cert"},
		{"no ca", ServerConfig{Client: Files{Cert: "c", Key: "k"}}, SideClient, "ca"},
		{"peer partial", ServerConfig{Client: full, Peer: Files{Cert: "pc", Key: "pk"}}, SidePeer, "ca"},
		{"peer only", ServerConfig{Peer: full}, SideClient, "cert"},
		{"require without tls", ServerConfig{RequireClientCert: true}, SideClient, "cert"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			var ie *IncompleteError
			if tc.missing == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.As(err, &ie) || ie.Side != tc.side || ie.Missing != tc.missing {
				t.Fatalf("Validate = %v, want %s missing %s", err, tc.side, tc.missing)
			}
		})
	}
}

// serve accepts one connection on a TLS listener of s, completes its
// handshake and returns the caller's role and Check results.
func handshakeRole(t *testing.T, s *Server, c *Client) (Role, tls.ConnectionState, error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	tl := s.Listener(l)
	defer tl.Close()
	type res struct {
		st  tls.ConnectionState
		err error
	}
	got := make(chan res, 1)
	go func() {
		conn, err := tl.Accept()
		if err != nil {
			got <- res{err: err}
			return
		}
		defer conn.Close()
		tc := conn.(*tls.Conn)
		err = tc.HandshakeContext(context.Background())
		got <- res{st: tc.ConnectionState(), err: err}
	}()
	raw, err := net.Dial("tcp", l.Addr().String())
	must(t, err)
	defer raw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Handshake(ctx, raw, l.Addr().String()); err != nil {
		return RoleNone, tls.ConnectionState{}, err
	}
	r := <-got
	if r.err != nil {
		return RoleNone, r.st, r.err
	}
	return s.Role(r.st), r.st, nil
}

func TestRoles(t *testing.T) {
	dir := pki(t)
	node := Files{CA: filepath.Join(dir, CACertFile), Cert: filepath.Join(dir, NodeCertFile("n1")), Key: filepath.Join(dir, NodeKeyFile("n1"))}
	s, err := NewServer(ServerConfig{Client: node, RequireClientCert: true})
	must(t, err)
	ca := filepath.Join(dir, CACertFile)
	for _, tc := range []struct {
		name  string
		files Files
		peer  bool
		want  Role
	}{
		{"node", node, true, RoleNode},
		{"client", Files{CA: ca, Cert: filepath.Join(dir, ClientCertFile("app")), Key: filepath.Join(dir, ClientKeyFile("app"))}, false, RoleClient},
		{"admin", Files{CA: ca, Cert: filepath.Join(dir, ClientCertFile("ops")), Key: filepath.Join(dir, ClientKeyFile("ops"))}, false, RoleAdmin},
		{"none", Files{CA: ca}, false, RoleNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewClient(tc.files, tc.peer)
			must(t, err)
			role, st, err := handshakeRole(t, s, c)
			if err != nil || role != tc.want {
				t.Fatalf("role %v, %v; want %v", role, err, tc.want)
			}
			if err := s.Check(st, RoleNode); (err == nil) != (tc.want == RoleNode) {
				t.Fatalf("Check(node) = %v", err)
			}
			if err := s.Check(st, RoleClient); tc.want == RoleNone && !errors.Is(err, ErrNoCertificate) {
				t.Fatalf("Check(client) without a certificate = %v", err)
			}
		})
	}
	// A node certificate of another CA does not complete the handshake.
	other := filepath.Join(dir, "other")
	c, err := NewClient(Files{CA: ca, Cert: filepath.Join(other, NodeCertFile("rogue")), Key: filepath.Join(other, NodeKeyFile("rogue"))}, true)
	must(t, err)
	if role, _, err := handshakeRole(t, s, c); err == nil {
		t.Fatalf("a certificate of another CA got role %v", role)
	}
	// A client trusting another CA refuses the node.
	c, err = NewClient(Files{CA: filepath.Join(other, CACertFile)}, false)
	must(t, err)
	if _, _, err := handshakeRole(t, s, c); err == nil {
		t.Fatal("the node's certificate verified against another CA")
	}
}

// TestReload: a client certificate file replaced while the server runs is
// used from the next handshake on.
func TestReload(t *testing.T) {
	dir := pki(t)
	ca := filepath.Join(dir, CACertFile)
	node := Files{CA: ca, Cert: filepath.Join(dir, NodeCertFile("n1")), Key: filepath.Join(dir, NodeKeyFile("n1"))}
	s, err := NewServer(ServerConfig{Client: node})
	must(t, err)
	cert, key := filepath.Join(dir, "cur.crt"), filepath.Join(dir, "cur.key")
	copyFile(t, filepath.Join(dir, ClientCertFile("app")), cert)
	copyFile(t, filepath.Join(dir, ClientKeyFile("app")), key)
	c, err := NewClient(Files{CA: ca, Cert: cert, Key: key}, false)
	must(t, err)
	if role, _, err := handshakeRole(t, s, c); err != nil || role != RoleClient {
		t.Fatalf("before: %v %v", role, err)
	}
	copyFile(t, filepath.Join(dir, ClientCertFile("ops")), cert)
	copyFile(t, filepath.Join(dir, ClientKeyFile("ops")), key)
	later := time.Now().Add(2 * time.Second)
	must(t, os.Chtimes(cert, later, later))
	must(t, os.Chtimes(key, later, later))
	c.r.mu.Lock()
	c.r.checked = time.Time{}
	c.r.mu.Unlock()
	if role, _, err := handshakeRole(t, s, c); err != nil || role != RoleAdmin {
		t.Fatalf("after rotation: %v %v, want admin", role, err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	must(t, err)
	must(t, os.WriteFile(to, b, 0o600))
}

package security

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
)

// PeerProto is the ALPN protocol a node offers when it dials another
// node: the answering node then presents its peer certificate and verifies
// the caller against the peer CA.
const PeerProto = "quorumkv-peer"

// ErrNoCertificate is the refusal of a caller without a certificate where
// one is needed.
var ErrNoCertificate = errors.New("no client certificate")

// ErrNotAllowed is the refusal of a certificate whose role does not allow
// the call.
var ErrNotAllowed = errors.New("certificate role does not allow this")

// Server is a node's TLS: the listener's handshake and the roles of the
// certificates callers present.
type Server struct {
	client, peer *reloader
	require      bool
}

// NewServer loads cfg's files; nil when cfg enables no TLS.
func NewServer(cfg ServerConfig) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.Enabled() {
		return nil, nil
	}
	client, err := newReloader(cfg.Client)
	if err != nil {
		return nil, err
	}
	peer := client
	if cfg.Peer.IsSet() {
		if peer, err = newReloader(cfg.Peer); err != nil {
			return nil, err
		}
	}
	return &Server{client: client, peer: peer, require: cfg.RequireClientCert}, nil
}

// RequireClientCert reports whether callers without a certificate are
// refused.
func (s *Server) RequireClientCert() bool { return s.require }

// Listener wraps l: every connection it accepts speaks TLS (the handshake
// runs on the connection's first read, within its read deadline).
func (s *Server) Listener(l net.Listener) net.Listener {
	return tls.NewListener(l, &tls.Config{MinVersion: tls.VersionTLS12, GetConfigForClient: s.forHello})
}

// forHello picks the side a caller speaks to: a node (offering PeerProto)
// gets the peer certificate and is verified against the peer CA.
func (s *Server) forHello(h *tls.ClientHelloInfo) (*tls.Config, error) {
	r := s.client
	if slices.Contains(h.SupportedProtos, PeerProto) {
		r = s.peer
	}
	m := r.current()
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{*m.pair},
		ClientCAs:    m.pool,
		// A caller without a certificate completes the handshake and is
		// refused per call (UNAUTHENTICATED), so it learns why.
		ClientAuth: tls.VerifyClientCertIfGiven,
		NextProtos: []string{"h2", PeerProto},
	}, nil
}

// Role is what the caller of a connection may do: RoleNode only for a node
// certificate the peer CA signed, the role of its certificate for one the
// client CA signed, RoleNone without a certificate.
func (s *Server) Role(st tls.ConnectionState) Role {
	if len(st.PeerCertificates) == 0 {
		return RoleNone
	}
	raw := make([][]byte, len(st.PeerCertificates))
	for i, c := range st.PeerCertificates {
		raw[i] = c.Raw
	}
	leaf := st.PeerCertificates[0]
	role := RoleOf(leaf)
	if role == RoleNode {
		if _, err := verify(s.peer.current().pool, raw, x509.ExtKeyUsageClientAuth, ""); err == nil {
			return RoleNode
		}
		role = RoleClient
	}
	if _, err := verify(s.client.current().pool, raw, x509.ExtKeyUsageClientAuth, ""); err != nil {
		return RoleNone
	}
	return role
}

// Check refuses a caller whose role does not allow need. Without
// RequireClientCert a caller without a certificate counts as a client.
// The refusal is ErrNoCertificate for a caller without a certificate,
// ErrNotAllowed for one whose certificate grants too little.
func (s *Server) Check(st tls.ConnectionState, need Role) error {
	role := s.Role(st)
	bare := len(st.PeerCertificates) == 0
	if bare && !s.require {
		role = RoleClient
	}
	switch {
	case role.Allows(need):
		return nil
	case bare:
		return ErrNoCertificate
	}
	return ErrNotAllowed
}

// Client is the TLS of a connection this process opens to a node: a
// client's, or a node's towards another node (peer).
type Client struct {
	r    *reloader
	peer bool
}

// NewClient loads f (validated as a client's); nil when f is empty. A
// peer client offers PeerProto.
func NewClient(f Files, peer bool) (*Client, error) {
	if err := f.ValidateClient(); err != nil {
		return nil, err
	}
	if !f.IsSet() {
		return nil, nil
	}
	r, err := newReloader(f)
	if err != nil {
		return nil, err
	}
	return &Client{r: r, peer: peer}, nil
}

// Config is the tls.Config for dialing host (a name or an IP address):
// the server's certificate is verified against the CA as it is now, for
// host.
func (c *Client) Config(host string, alpn ...string) *tls.Config {
	protos := slices.Clone(alpn)
	if c.peer {
		protos = append(protos, PeerProto)
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: host,
		// Verified by VerifyConnection against the CA loaded now, so a
		// rotated CA file takes effect without a restart.
		InsecureSkipVerify: true,
		VerifyConnection: func(st tls.ConnectionState) error {
			raw := make([][]byte, len(st.PeerCertificates))
			for i, cert := range st.PeerCertificates {
				raw[i] = cert.Raw
			}
			_, err := verify(c.r.current().pool, raw, x509.ExtKeyUsageServerAuth, host)
			return err
		},
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if m := c.r.current(); m.pair != nil {
				return m.pair, nil
			}
			return &tls.Certificate{}, nil
		},
		NextProtos: protos,
	}
}

// Handshake runs the client side of TLS on conn to addr (host:port),
// within ctx.
func (c *Client) Handshake(ctx context.Context, conn net.Conn, addr string, alpn ...string) (*tls.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	tc := tls.Client(conn, c.Config(host, alpn...))
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	return tc, nil
}

// ErrNotThatNode: the node at an address did not present a node
// certificate for the id it claims.
var ErrNotThatNode = errors.New("not a node certificate for that id")

// VerifyNode connects to addr and checks that it presents a node
// certificate of the peer CA whose common name is id (the node's identity
// behind its gossip).
func (c *Client) VerifyNode(ctx context.Context, addr, id string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	tc, err := c.Handshake(ctx, conn, addr)
	if err != nil {
		return err
	}
	leaf := tc.ConnectionState().PeerCertificates[0]
	if RoleOf(leaf) != RoleNode || leaf.Subject.CommonName != id {
		return fmt.Errorf("%w: %s presents %q (%s)", ErrNotThatNode, addr, leaf.Subject.CommonName, RoleOf(leaf))
	}
	return nil
}

package security

import (
	"fmt"
)

// Files are the TLS files of one side (the client port, or the traffic
// between nodes): the CA that signs the certificates accepted, and this
// end's certificate and key.
type Files struct {
	CA, Cert, Key string
}

// IsSet reports whether any of the files is given.
func (f Files) IsSet() bool { return f.CA != "" || f.Cert != "" || f.Key != "" }

// Side names the two sides of a node's TLS configuration.
type Side string

const (
	SideClient Side = "client" // the client port (gRPC and the framed client stream)
	SidePeer   Side = "peer"   // everything between nodes
)

// IncompleteError refuses a TLS configuration that is half there: one
// file without the others it needs. Nothing falls back to plaintext.
type IncompleteError struct {
	Side    Side
	Missing string // "ca", "cert" or "key"
	Reason  string
}

func (e *IncompleteError) Error() string {
	return fmt.Sprintf("%s TLS: no %s: %s", e.Side, e.Missing, e.Reason)
}

// ServerConfig is a node's TLS configuration. With no files at all the
// node speaks plaintext; with any, it speaks TLS only.
type ServerConfig struct {
	Client Files
	// Peer is what nodes present to and accept from each other; when
	// unset, the Client files.
	Peer Files
	// RequireClientCert refuses clients without a certificate of the CA.
	RequireClientCert bool
}

// Enabled reports whether the node speaks TLS.
func (c ServerConfig) Enabled() bool { return c.Client.IsSet() || c.Peer.IsSet() }

// PeerFiles are the files used between nodes.
func (c ServerConfig) PeerFiles() Files {
	if c.Peer.IsSet() {
		return c.Peer
	}
	return c.Client
}

// Validate refuses every half configuration: a certificate without its
// key or a key without its certificate, a CA without a certificate, a
// certificate without the CA, peer files without client-port ones (both
// share one port), and client certificates required without TLS.
func (c ServerConfig) Validate() error {
	if !c.Enabled() {
		if c.RequireClientCert {
			return &IncompleteError{Side: SideClient, Missing: "cert", Reason: "client certificates are required but the node has no TLS certificate"}
		}
		return nil
	}
	if !c.Client.IsSet() {
		return &IncompleteError{Side: SideClient, Missing: "cert", Reason: "peer TLS is set but the client port (the same port) has no TLS certificate"}
	}
	if err := c.Client.validateServer(SideClient); err != nil {
		return err
	}
	if c.Peer.IsSet() {
		return c.Peer.validateServer(SidePeer)
	}
	return nil
}

func (f Files) validateServer(side Side) error {
	switch {
	case f.Cert == "" && f.Key != "":
		return &IncompleteError{Side: side, Missing: "cert", Reason: "a key is given without its certificate"}
	case f.Cert == "":
		return &IncompleteError{Side: side, Missing: "cert", Reason: "a CA is given without a certificate"}
	case f.Key == "":
		return &IncompleteError{Side: side, Missing: "key", Reason: "a certificate is given without its key"}
	case f.CA == "":
		return &IncompleteError{Side: side, Missing: "ca", Reason: "a certificate is given without the CA that verifies the other end"}
	}
	return nil
}

// ValidateClient checks a client's files: none (plaintext), or the CA
// with or without a certificate and key, which come together.
func (f Files) ValidateClient() error {
	switch {
	case !f.IsSet():
		return nil
	case f.Cert != "" && f.Key == "":
		return &IncompleteError{Side: SideClient, Missing: "key", Reason: "a certificate is given without its key"}
	case f.Key != "" && f.Cert == "":
		return &IncompleteError{Side: SideClient, Missing: "cert", Reason: "a key is given without its certificate"}
	case f.CA == "":
		return &IncompleteError{Side: SideClient, Missing: "ca", Reason: "a certificate is given without the CA that verifies the server"}
	}
	return nil
}

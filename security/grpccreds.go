package security

import (
	"context"
	"crypto/tls"
	"errors"
	"net"

	"google.golang.org/grpc/credentials"
)

// tlsInfo is the gRPC AuthInfo of a TLS connection.
func tlsInfo(tc *tls.Conn) credentials.AuthInfo {
	return credentials.TLSInfo{State: tc.ConnectionState(), CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}
}

// Credentials are c's gRPC transport credentials: each connection's
// server certificate is verified for the host of the address dialed.
func (c *Client) Credentials() credentials.TransportCredentials { return clientCreds{c: c} }

type clientCreds struct{ c *Client }

func (cc clientCreds) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	tc, err := cc.c.Handshake(ctx, raw, authority, "h2")
	if err != nil {
		return nil, nil, err
	}
	return tc, tlsInfo(tc), nil
}

func (clientCreds) ServerHandshake(net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("security: client credentials cannot serve")
}

func (clientCreds) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "tls", SecurityVersion: "1.2"}
}

func (cc clientCreds) Clone() credentials.TransportCredentials { return cc }

func (clientCreds) OverrideServerName(string) error { return nil } //nolint:staticcheck // part of the interface

// ServerCredentials are the gRPC credentials of connections a Listener of
// a Server accepted: the handshake already ran (or runs now) on the TLS
// connection tlsOf finds under the one gRPC is given.
func ServerCredentials(tlsOf func(net.Conn) *tls.Conn) credentials.TransportCredentials {
	return serverCreds{tlsOf: tlsOf}
}

type serverCreds struct{ tlsOf func(net.Conn) *tls.Conn }

func (serverCreds) ClientHandshake(context.Context, string, net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("security: server credentials cannot dial")
}

func (sc serverCreds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	tc := sc.tlsOf(raw)
	if tc == nil {
		return nil, nil, errors.New("security: a connection without TLS on a TLS port")
	}
	if err := tc.Handshake(); err != nil {
		return nil, nil, err
	}
	return raw, tlsInfo(tc), nil
}

func (serverCreds) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "tls", SecurityVersion: "1.2"}
}

func (sc serverCreds) Clone() credentials.TransportCredentials { return sc }

func (serverCreds) OverrideServerName(string) error { return nil } //nolint:staticcheck // part of the interface

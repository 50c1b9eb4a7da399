package nemesis

import (
	"crypto/rand"
	"encoding/base64"
	"net"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc/credentials"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/security"
)

// secureSetup is a secure run's material: a CA, a node certificate per
// slot (for its namespace address), an admin client certificate for the
// harness and a gossip key, all in dir.
type secureSetup struct {
	dir       string
	gossipKey string
	client    security.Files
	creds     *security.Client
}

// newSecureSetup writes the certificates and the gossip key for the
// nodes of net into dir.
func newSecureSetup(dir string, net *network, ids []string) (*secureSetup, error) {
	now := time.Now()
	if err := security.CreateCA(dir, now); err != nil {
		return nil, err
	}
	for i, id := range ids {
		host, _, err := netSplit(net.grpcAddr(i))
		if err != nil {
			return nil, err
		}
		if err := security.CreateNode(dir, dir, id, []string{host}, now); err != nil {
			return nil, err
		}
	}
	if err := security.CreateClient(dir, dir, "harness", true, now); err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	s := &secureSetup{dir: dir, gossipKey: filepath.Join(dir, "gossip.key"),
		client: security.Files{CA: filepath.Join(dir, security.CACertFile),
			Cert: filepath.Join(dir, security.ClientCertFile("harness")), Key: filepath.Join(dir, security.ClientKeyFile("harness"))}}
	if err := os.WriteFile(s.gossipKey, []byte(base64.StdEncoding.EncodeToString(key)), 0o600); err != nil {
		return nil, err
	}
	creds, err := security.NewClient(s.client, false)
	if err != nil {
		return nil, err
	}
	s.creds = creds
	return s, nil
}

func netSplit(addr string) (string, string, error) { return net.SplitHostPort(addr) }

// serverFlags are node id's TLS, client certificate and gossip key flags.
func (s *secureSetup) serverFlags(id string) []string {
	if s == nil {
		return nil
	}
	return []string{"--tls-ca", filepath.Join(s.dir, security.CACertFile),
		"--tls-cert", filepath.Join(s.dir, security.NodeCertFile(id)), "--tls-key", filepath.Join(s.dir, security.NodeKeyFile(id)),
		"--require-client-cert", "--gossip-key", s.gossipKey}
}

// clientOptions are the harness clients' TLS options (none when plain).
func (s *secureSetup) clientOptions() []client.Option {
	if s == nil {
		return nil
	}
	return []client.Option{client.WithTLS(s.client)}
}

// transportCreds are the gRPC credentials of the harness's own calls.
func (s *secureSetup) transportCreds() credentials.TransportCredentials {
	if s == nil {
		return insecureCreds()
	}
	return s.creds.Credentials()
}

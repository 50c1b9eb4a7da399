package security

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// File names `quorumkv cert` writes in its directory.
const (
	CACertFile = "ca.crt"
	CAKeyFile  = "ca.key"
)

// NodeCertFile and NodeKeyFile name node id's certificate and key.
func NodeCertFile(id string) string { return "node." + id + ".crt" }

// NodeKeyFile names node id's private key.
func NodeKeyFile(id string) string { return "node." + id + ".key" }

// ClientCertFile names client name's certificate.
func ClientCertFile(name string) string { return "client." + name + ".crt" }

// ClientKeyFile names client name's private key.
func ClientKeyFile(name string) string { return "client." + name + ".key" }

// Lifetimes of the certificates created.
const (
	caLifetime   = 10 * 365 * 24 * time.Hour
	leafLifetime = 2 * 365 * 24 * time.Hour
	// backdate covers clocks a little behind the one that signed.
	backdate = time.Hour
)

// ErrExists refuses to overwrite a certificate or key already there.
var ErrExists = errors.New("already exists")

// namePattern is what a node id or client name may be (it becomes a file
// name and a certificate's common name).
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// CreateCA writes a new CA certificate and key to dir (created if needed).
func CreateCA(dir string, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl, err := template("quorumkv CA", nil, now, caLifetime)
	if err != nil {
		return err
	}
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	return writePair(dir, CACertFile, CAKeyFile, der, key)
}

// CreateNode writes a certificate for node id, valid for the given hosts
// (names and IP addresses), signed by the CA in caDir, to dir. It serves
// as the node's server certificate and as its client certificate towards
// other nodes.
func CreateNode(caDir, dir, id string, hosts []string, now time.Time) error {
	if !namePattern.MatchString(id) {
		return fmt.Errorf("node id %q: want letters, digits, '.', '_' or '-'", id)
	}
	if len(hosts) == 0 {
		return errors.New("a node certificate needs at least one host")
	}
	tmpl, err := template(id, []string{unitNode}, now, leafLifetime)
	if err != nil {
		return err
	}
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	return signLeaf(caDir, dir, NodeCertFile(id), NodeKeyFile(id), tmpl)
}

// CreateClient writes a client certificate for name (an admin's when
// admin) signed by the CA in caDir, to dir.
func CreateClient(caDir, dir, name string, admin bool, now time.Time) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("client name %q: want letters, digits, '.', '_' or '-'", name)
	}
	unit := unitClient
	if admin {
		unit = unitAdmin
	}
	tmpl, err := template(name, []string{unit}, now, leafLifetime)
	if err != nil {
		return err
	}
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	return signLeaf(caDir, dir, ClientCertFile(name), ClientKeyFile(name), tmpl)
}

func template(cn string, units []string, now time.Time, life time.Duration) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"quorumkv"}, OrganizationalUnit: units},
		NotBefore:    now.Add(-backdate),
		NotAfter:     now.Add(life),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}, nil
}

func signLeaf(caDir, dir, certName, keyName string, tmpl *x509.Certificate) error {
	ca, caKey, err := loadCA(caDir)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	return writePair(dir, certName, keyName, der, key)
}

func loadCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, CACertFile))
	if err != nil {
		return nil, nil, fmt.Errorf("read the CA certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, CAKeyFile))
	if err != nil {
		return nil, nil, fmt.Errorf("read the CA key: %w", err)
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, fmt.Errorf("%s: the CA certificate or key is not PEM", dir)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("the CA certificate: %w", err)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("the CA key: %w", err)
	}
	return cert, key, nil
}

// writePair writes a certificate (0644) and its key (0600) to dir,
// refusing to overwrite either.
func writePair(dir, certName, keyName string, der []byte, key *ecdsa.PrivateKey) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	certPath, keyPath := filepath.Join(dir, certName), filepath.Join(dir, keyName)
	for _, p := range []string{certPath, keyPath} {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("%s: %w", p, ErrExists)
		}
	}
	if err := writeNew(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return err
	}
	return writeNew(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func writeNew(path string, b []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

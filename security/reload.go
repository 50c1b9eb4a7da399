package security

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// reloadEvery is the least time between two looks at the files.
const reloadEvery = time.Second

// material is a side's loaded files: the pool of its CA and its key pair
// (nil when it has no certificate).
type material struct {
	pool *x509.CertPool
	pair *tls.Certificate
}

// reloader holds one side's material and loads it again when a file's
// modification time or size changes (certificate rotation without a
// restart). A file that fails to load keeps the last good material.
type reloader struct {
	files Files

	mu      sync.Mutex
	cur     material
	stamp   string
	checked time.Time
	lastErr error
}

func newReloader(f Files) (*reloader, error) {
	r := &reloader{files: f}
	m, stamp, err := load(f)
	if err != nil {
		return nil, err
	}
	r.cur, r.stamp, r.checked = m, stamp, time.Now()
	return r, nil
}

// current returns the material, reloaded first when a file changed.
func (r *reloader) current() material {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) < reloadEvery {
		return r.cur
	}
	r.checked = time.Now()
	if stampOf(r.files) == r.stamp {
		return r.cur
	}
	m, stamp, err := load(r.files)
	if err != nil {
		r.lastErr = err
		return r.cur
	}
	r.cur, r.stamp, r.lastErr = m, stamp, nil
	return r.cur
}

// stampOf sums up the files' sizes and modification times.
func stampOf(f Files) string {
	s := ""
	for _, p := range []string{f.CA, f.Cert, f.Key} {
		if p == "" {
			s += "|"
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			s += "|?"
			continue
		}
		s += fmt.Sprintf("|%d/%d", st.Size(), st.ModTime().UnixNano())
	}
	return s
}

func load(f Files) (material, string, error) {
	stamp := stampOf(f)
	var m material
	if f.CA != "" {
		b, err := os.ReadFile(f.CA)
		if err != nil {
			return m, "", err
		}
		m.pool = x509.NewCertPool()
		if !m.pool.AppendCertsFromPEM(b) {
			return m, "", fmt.Errorf("%s: no PEM certificate", f.CA)
		}
	}
	if f.Cert != "" {
		pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			return m, "", err
		}
		m.pair = &pair
	}
	return m, stamp, nil
}

// verify checks a chain presented by the other end against pool, for the
// given usage and (when not empty) host name, and returns its leaf.
func verify(pool *x509.CertPool, raw [][]byte, usage x509.ExtKeyUsage, host string) (*x509.Certificate, error) {
	if len(raw) == 0 {
		return nil, errors.New("no certificate")
	}
	certs := make([]*x509.Certificate, len(raw))
	for i, b := range raw {
		c, err := x509.ParseCertificate(b)
		if err != nil {
			return nil, err
		}
		certs[i] = c
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, DNSName: host, KeyUsages: []x509.ExtKeyUsage{usage}})
	return certs[0], err
}

package main

import (
	"errors"

	"github.com/spf13/pflag"

	"github.com/quorumkv/quorumkv/security"
)

// tlsFlags are one side's TLS files on the command line.
type tlsFlags struct{ ca, cert, key string }

// register adds --PREFIXtls-ca (the CA that verifies the other end),
// --PREFIXtls-cert (this end's certificate, used as cert says) and
// --PREFIXtls-key.
func (t *tlsFlags) register(fl *pflag.FlagSet, prefix, ca, cert string) {
	fl.StringVar(&t.ca, prefix+"tls-ca", "", "CA certificate (PEM) that verifies "+ca)
	fl.StringVar(&t.cert, prefix+"tls-cert", "", "certificate (PEM) "+cert)
	fl.StringVar(&t.key, prefix+"tls-key", "", "private key (PEM) of --"+prefix+"tls-cert")
}

func (t tlsFlags) files() security.Files { return security.Files{CA: t.ca, Cert: t.cert, Key: t.key} }

// tlsUsage turns a half TLS configuration into a usage error (exit 2)
// naming the missing flag.
func tlsUsage(err error) error {
	var ie *security.IncompleteError
	if !errors.As(err, &ie) {
		return err
	}
	flag := "--tls-" + ie.Missing
	if ie.Side == security.SidePeer {
		flag = "--peer-tls-" + ie.Missing
	}
	return usagef("%s is missing: %s (refusing to start half-configured TLS)", flag, ie.Reason)
}

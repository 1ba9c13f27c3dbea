package provision

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// Chain is what a device must trust to accept the server: the root, and the
// intermediates for devices that do not get them from the server.
type Chain struct {
	Root          *x509.Certificate
	Intermediates []*x509.Certificate
}

// ReadChain reads the root and any intermediates from PEM or DER files. The
// root file must hold exactly one certificate, a self-issued CA.
func ReadChain(rootFile string, intermediateFiles ...string) (Chain, error) {
	roots, err := ReadCertificates(rootFile)
	if err != nil {
		return Chain{}, err
	}
	if len(roots) != 1 {
		return Chain{}, fmt.Errorf("root certificate %s: holds %d certificates, want exactly one", rootFile, len(roots))
	}
	c := Chain{Root: roots[0]}
	for _, f := range intermediateFiles {
		certs, err := ReadCertificates(f)
		if err != nil {
			return Chain{}, err
		}
		c.Intermediates = append(c.Intermediates, certs...)
	}
	if err := c.check(); err != nil {
		return Chain{}, fmt.Errorf("chain from %s: %w", rootFile, err)
	}
	return c, nil
}

// ReadCertificates reads every certificate in a PEM bundle or one DER file.
func ReadCertificates(file string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read certificate: %w", err)
	}
	certs, err := ParseCertificates(b)
	if err != nil {
		return nil, fmt.Errorf("certificate file %s: %w", file, err)
	}
	return certs, nil
}

// ParseCertificates accepts the two forms administrators have at hand: PEM
// (one or more CERTIFICATE blocks) and DER (what Windows exports as .cer).
func ParseCertificates(b []byte) ([]*x509.Certificate, error) {
	if !bytes.Contains(b, []byte("-----BEGIN")) {
		certs, err := x509.ParseCertificates(b)
		if err != nil {
			return nil, fmt.Errorf("neither PEM nor DER: %w", err)
		}
		if len(certs) == 0 {
			return nil, errors.New("no certificate found")
		}
		return certs, nil
	}
	var certs []*x509.Certificate
	for rest := b; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("unexpected PEM block %q; only CERTIFICATE blocks belong here", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no CERTIFICATE block found")
	}
	return certs, nil
}

// check catches the mistakes that produce packages devices silently ignore:
// a leaf offered as root, or a server certificate among the intermediates.
// Signatures are not verified here: Go refuses SHA-1 signatures, which is
// exactly what Windows Mobile chains use; profile.Check judges them.
func (c Chain) check() error {
	if c.Root == nil {
		return errors.New("no root certificate")
	}
	if !c.Root.IsCA || !bytes.Equal(c.Root.RawSubject, c.Root.RawIssuer) {
		return fmt.Errorf("%q is not a self-issued CA certificate; devices need the root, not a leaf or intermediate", c.Root.Subject.CommonName)
	}
	for _, ic := range c.Intermediates {
		if !ic.IsCA {
			return fmt.Errorf("%q in the intermediates is not a CA certificate", ic.Subject.CommonName)
		}
	}
	return nil
}

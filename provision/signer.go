package provision

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"go.step.sm/crypto/pemutil"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/pushca/pushca/profile"
)

// Signer is a code-signing key with its certificate first in Chain and the
// issuers after it, as they go into a signature.
type Signer struct {
	Key   crypto.Signer
	Chain []*x509.Certificate
}

// PasswordFunc supplies the password for an encrypted key or PKCS#12 file
// named in prompt: read from a file or a no-echo prompt, never a flag.
type PasswordFunc func(prompt string) ([]byte, error)

// SignatureHash is the digest a signature for p's devices must use: SHA-1
// for Windows Mobile (no WM source states SHA-256 support), SHA-256 for the
// rest.
func SignatureHash(p profile.Profile) crypto.Hash {
	if p.Legacy {
		return crypto.SHA1
	}
	return crypto.SHA256
}

// LoadSignerPEM reads a certificate (optionally followed by its issuers) and
// a PEM private key, which may be encrypted; password is asked only then.
func LoadSignerPEM(certFile, keyFile string, password PasswordFunc) (*Signer, error) {
	certs, err := ReadCertificates(certFile)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	ask := func(prompt string) ([]byte, error) {
		if password == nil {
			return nil, fmt.Errorf("signing key %s is encrypted and no password source was given", keyFile)
		}
		return password(prompt)
	}
	k, err := pemutil.Parse(b, pemutil.WithFilename(keyFile),
		pemutil.WithPasswordPrompt("Password for signing key "+keyFile, pemutil.PasswordPrompter(ask)))
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", keyFile, err)
	}
	return newSigner(k, certs, keyFile)
}

// LoadSignerPKCS12 reads a .p12/.pfx holding the key, its certificate and
// optionally the issuers. An empty password is tried first, as Windows
// exports allow one; password is asked only when that fails.
func LoadSignerPKCS12(file string, password PasswordFunc) (*Signer, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read PKCS#12: %w", err)
	}
	k, cert, cas, err := pkcs12.DecodeChain(b, "")
	if errors.Is(err, pkcs12.ErrIncorrectPassword) {
		if password == nil {
			return nil, fmt.Errorf("PKCS#12 %s is password protected and no password source was given", file)
		}
		var pw []byte
		if pw, err = password("Password for PKCS#12 " + file); err != nil {
			return nil, err
		}
		k, cert, cas, err = pkcs12.DecodeChain(b, string(pw))
	}
	if err != nil {
		return nil, fmt.Errorf("PKCS#12 %s: %w", file, err)
	}
	return newSigner(k, append([]*x509.Certificate{cert}, cas...), file)
}

func newSigner(key any, chain []*x509.Certificate, source string) (*Signer, error) {
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: %T is not a signing key", source, key)
	}
	pub, ok := s.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(chain[0].PublicKey) {
		return nil, fmt.Errorf("%s: the key does not belong to certificate %q", source, chain[0].Subject.CommonName)
	}
	return &Signer{Key: s, Chain: chain}, nil
}

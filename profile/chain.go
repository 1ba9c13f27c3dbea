package profile

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// Problem says what part of a device's decision a VerifyChain error is
// about, so a report can group the errors and say what to do about each.
type Problem int

const (
	// ProblemCertificate: a certificate itself is one the devices reject
	// (signature algorithm, key, extensions, wildcard names): Check's errors.
	ProblemCertificate Problem = iota
	// ProblemMissingIntermediate: the server sent its own certificate but
	// not the intermediate that issued it.
	ProblemMissingIntermediate
	// ProblemUntrusted: the chain does not lead to the root (another CA, a
	// bad signature, or no root given).
	ProblemUntrusted
	// ProblemValidity: a certificate has expired or is not valid yet.
	ProblemValidity
	// ProblemHost: the server certificate does not name the host.
	ProblemHost
)

func (p Problem) String() string {
	return [...]string{"certificate", "missing intermediate", "untrusted", "validity", "host name"}[p]
}

// ChainError is one VerifyChain error with its Problem; its message is the
// wrapped error's.
type ChainError struct {
	Problem Problem
	Err     error
}

func (e *ChainError) Error() string { return e.Err.Error() }
func (e *ChainError) Unwrap() error { return e.Err }

// VerifyChain checks a server chain the way a device of this profile would:
// leaf first, then intermediates; root is the certificate installed on the
// device. It checks every signature (SHA-1 ones too, which crypto/x509
// refuses to verify), issuer names, CA constraints, validity at now, the host
// name when host is not empty, and everything Check says about each
// certificate. It returns every problem found, not only the first, each a
// *ChainError; a nil root is one ProblemUntrusted error and the rest is
// still checked.
func (p Profile) VerifyChain(chain []*x509.Certificate, root *x509.Certificate, host string, now time.Time) []error {
	if len(chain) == 0 {
		return []error{&ChainError{ProblemUntrusted, errors.New("empty chain: the server sent no certificate")}}
	}
	var errs []error
	add := func(kind Problem, es ...error) {
		for _, e := range es {
			errs = append(errs, &ChainError{kind, e})
		}
	}
	leaf := chain[0]
	add(ProblemCertificate, p.Check(leaf, Leaf)...)
	for _, c := range chain[1:] {
		if root != nil && bytes.Equal(c.Raw, root.Raw) {
			continue // servers may send the root; devices ignore it
		}
		add(ProblemCertificate, p.Check(c, Intermediate)...)
	}
	path := append([]*x509.Certificate(nil), chain...)
	if root == nil {
		add(ProblemUntrusted, errors.New("no root certificate to verify against"))
	} else {
		add(ProblemCertificate, p.Check(root, Root)...)
		// Walk up from the leaf; every certificate must be signed by the
		// next, and the last by the root.
		if !bytes.Equal(path[len(path)-1].Raw, root.Raw) {
			path = append(path, root)
		}
		for i := 0; i+1 < len(path); i++ {
			err := CheckSignedBy(path[i], path[i+1])
			if err == nil {
				continue
			}
			switch {
			case i+1 == len(path)-1 && !bytes.Equal(path[i].RawIssuer, root.RawSubject):
				if path[i].IsCA {
					add(ProblemUntrusted, fmt.Errorf("chain does not reach the root %q: its top certificate %q is issued by %q, another CA",
						root.Subject.CommonName, path[i].Subject.CommonName, path[i].Issuer.CommonName))
				} else {
					add(ProblemMissingIntermediate, fmt.Errorf("chain does not reach the root %q: %q is issued by %q; is an intermediate missing from the server's chain?",
						root.Subject.CommonName, path[i].Subject.CommonName, path[i].Issuer.CommonName))
				}
			default:
				add(ProblemUntrusted, err)
			}
			break
		}
		if err := CheckSignedBy(root, root); err != nil {
			add(ProblemUntrusted, fmt.Errorf("root: %w", err))
		}
	}
	for _, c := range path {
		if now.Before(c.NotBefore) {
			add(ProblemValidity, fmt.Errorf("certificate %q is not valid before %s", c.Subject.CommonName, c.NotBefore.UTC().Format(time.RFC3339)))
		}
		if now.After(c.NotAfter) {
			add(ProblemValidity, fmt.Errorf("certificate %q expired on %s", c.Subject.CommonName, c.NotAfter.UTC().Format(time.RFC3339)))
		}
	}
	if host != "" {
		if err := p.MatchHost(leaf, host); err != nil {
			add(ProblemHost, err)
		}
	}
	return errs
}

// CheckSignedBy verifies that parent signed child and may sign certificates.
// crypto/x509 refuses SHA-1 signatures outright, so those are checked here
// with rsa.VerifyPKCS1v15 over the TBS bytes: the devices we serve need them.
func CheckSignedBy(child, parent *x509.Certificate) error {
	if !bytes.Equal(child.RawIssuer, parent.RawSubject) {
		return fmt.Errorf("certificate %q names issuer %q, not %q", child.Subject.CommonName, child.Issuer.CommonName, parent.Subject.CommonName)
	}
	if child.SignatureAlgorithm != x509.SHA1WithRSA {
		if err := child.CheckSignatureFrom(parent); err != nil {
			return fmt.Errorf("certificate %q: signature by %q: %w", child.Subject.CommonName, parent.Subject.CommonName, err)
		}
		return nil
	}
	if parent.Version == 3 && (!parent.BasicConstraintsValid || !parent.IsCA) {
		return fmt.Errorf("certificate %q: issuer %q is not a CA", child.Subject.CommonName, parent.Subject.CommonName)
	}
	if parent.KeyUsage != 0 && parent.KeyUsage&x509.KeyUsageCertSign == 0 {
		return fmt.Errorf("certificate %q: issuer %q may not sign certificates", child.Subject.CommonName, parent.Subject.CommonName)
	}
	pub, ok := parent.PublicKey.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("certificate %q: SHA1-RSA signature but issuer %q has an %s key", child.Subject.CommonName, parent.Subject.CommonName, KeyDesc(parent.PublicKey))
	}
	sum := sha1.Sum(child.RawTBSCertificate)
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA1, sum[:], child.Signature); err != nil {
		return fmt.Errorf("certificate %q: SHA1-RSA signature by %q does not verify: %w", child.Subject.CommonName, parent.Subject.CommonName, err)
	}
	return nil
}

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

// VerifyChain checks a server chain the way a device of this profile would:
// leaf first, then intermediates; root is the certificate installed on the
// device. It checks every signature (SHA-1 ones too, which crypto/x509
// refuses to verify), issuer names, CA constraints, validity at now, the host
// name when host is not empty, and everything Check says about each
// certificate. It returns every problem found, not only the first.
func (p Profile) VerifyChain(chain []*x509.Certificate, root *x509.Certificate, host string, now time.Time) []error {
	if len(chain) == 0 {
		return []error{errors.New("empty chain: the server sent no certificate")}
	}
	if root == nil {
		return []error{errors.New("no root certificate to verify against")}
	}
	var errs []error
	leaf := chain[0]
	errs = append(errs, p.Check(leaf, Leaf)...)
	for _, c := range chain[1:] {
		if bytes.Equal(c.Raw, root.Raw) {
			continue // servers may send the root; devices ignore it
		}
		errs = append(errs, p.Check(c, Intermediate)...)
	}
	errs = append(errs, p.Check(root, Root)...)

	// Walk up from the leaf; every certificate must be signed by the next,
	// and the last by the root.
	path := append([]*x509.Certificate(nil), chain...)
	if !bytes.Equal(path[len(path)-1].Raw, root.Raw) {
		path = append(path, root)
	}
	for i := 0; i+1 < len(path); i++ {
		if err := CheckSignedBy(path[i], path[i+1]); err != nil {
			if i+1 == len(path)-1 && !bytes.Equal(path[i].RawIssuer, root.RawSubject) {
				errs = append(errs, fmt.Errorf("chain does not reach the root %q: %q is issued by %q; is an intermediate missing from the server's chain?",
					root.Subject.CommonName, path[i].Subject.CommonName, path[i].Issuer.CommonName))
			} else {
				errs = append(errs, err)
			}
			break
		}
	}
	if err := CheckSignedBy(root, root); err != nil {
		errs = append(errs, fmt.Errorf("root: %w", err))
	}
	for _, c := range path {
		if now.Before(c.NotBefore) {
			errs = append(errs, fmt.Errorf("certificate %q is not valid before %s", c.Subject.CommonName, c.NotBefore.UTC().Format(time.RFC3339)))
		}
		if now.After(c.NotAfter) {
			errs = append(errs, fmt.Errorf("certificate %q expired on %s", c.Subject.CommonName, c.NotAfter.UTC().Format(time.RFC3339)))
		}
	}
	if host != "" {
		if err := p.MatchHost(leaf, host); err != nil {
			errs = append(errs, err)
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
		return fmt.Errorf("certificate %q: SHA1-RSA signature but issuer %q has a %T key", child.Subject.CommonName, parent.Subject.CommonName, parent.PublicKey)
	}
	sum := sha1.Sum(child.RawTBSCertificate)
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA1, sum[:], child.Signature); err != nil {
		return fmt.Errorf("certificate %q: SHA1-RSA signature by %q does not verify: %w", child.Subject.CommonName, parent.Subject.CommonName, err)
	}
	return nil
}

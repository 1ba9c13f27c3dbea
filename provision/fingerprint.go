package provision

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"strings"
)

// Fingerprint is a digest of a certificate's DER bytes, shown to people for
// out-of-band checks and used by Windows Mobile as the certificate's name.
type Fingerprint []byte

// SHA256 is the fingerprint pages and sheets show first: what Android and iOS
// display in their certificate details.
func SHA256(cert *x509.Certificate) Fingerprint {
	s := sha256.Sum256(cert.Raw)
	return s[:]
}

// SHA1 is the fingerprint Windows Mobile shows and its CertificateStore CSP
// uses as thumbprint; the CSP knows no other digest.
func SHA1(cert *x509.Certificate) Fingerprint {
	s := sha1.Sum(cert.Raw)
	return s[:]
}

// Plain is upper-case hex without separators, the CSP thumbprint form.
func (f Fingerprint) Plain() string {
	return strings.ToUpper(hex.EncodeToString(f))
}

// Colon is upper-case hex pairs joined by colons, the form openssl and the
// devices' certificate viewers print, easiest to read aloud.
func (f Fingerprint) Colon() string {
	p := f.Plain()
	var b strings.Builder
	for i := 0; i < len(p); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(p[i : i+2])
	}
	return b.String()
}

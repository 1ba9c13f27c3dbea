package profile

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"net"
	"strings"
	"time"
)

// Role is a certificate's place in a chain.
type Role int

// Roles in chain order from the top.
const (
	Root Role = iota
	Intermediate
	Leaf
)

func (r Role) String() string {
	return [...]string{"root", "intermediate", "server"}[r]
}

// maxExponent: Windows CryptoAPI on WM keeps the RSA public exponent in 32 bits.
const maxExponent = 1<<32 - 1

// LegacyRSABits is the one RSA key size Windows Mobile is known to work with.
const LegacyRSABits = 2048

// Check lists every reason a device of this profile would reject cert in the
// given role. An empty result means the device accepts it as far as the
// certificate itself goes; chain building and host names are checked apart.
func (p Profile) Check(cert *x509.Certificate, role Role) []error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s certificate %q: "+format, append([]any{role, cert.Subject.CommonName}, args...)...))
	}
	// Modern clients never check a root's self-signature, so a SHA-1 root
	// is fine for them; Windows Mobile is documented only with SHA-1
	// throughout, so legacy profiles check the root too.
	if role != Root || !p.AllowSHA2 {
		if err := p.CheckSignature(cert.SignatureAlgorithm); err != nil {
			add("%v", err)
		}
	}
	if err := p.CheckKey(cert.PublicKey); err != nil {
		add("%v", err)
	}
	switch role {
	case Root, Intermediate:
		if !cert.BasicConstraintsValid || !cert.IsCA {
			add("basicConstraints CA:TRUE is missing")
		}
		if cert.KeyUsage&x509.KeyUsageCertSign == 0 {
			add("keyUsage keyCertSign is missing")
		}
	case Leaf:
		if cert.IsCA {
			add("a CA certificate cannot be the server certificate")
		}
		if !hasServerAuth(cert) {
			add("extendedKeyUsage serverAuth is missing")
		}
		if _, ok := cert.PublicKey.(*rsa.PublicKey); ok && p.Legacy && cert.KeyUsage&x509.KeyUsageKeyEncipherment == 0 {
			add("keyUsage keyEncipherment is missing; TLS 1.0 RSA key exchange needs it")
		}
		if !p.Wildcards {
			for _, n := range cert.DNSNames {
				if strings.HasPrefix(n, "*") {
					add("wildcard name %q: %s devices do not match wildcards; issue for the exact host name", n, p.Name)
				}
			}
		}
		if p.MaxLeafDays > 0 {
			// Apple counts NotAfter - NotBefore, backdating included, with
			// no tolerance (HT210176).
			if d := cert.NotAfter.Sub(cert.NotBefore); d > time.Duration(p.MaxLeafDays)*24*time.Hour {
				add("valid for %s (NotAfter - NotBefore); %s devices reject more than %d days", d, p.Name, p.MaxLeafDays)
			}
		}
	}
	return errs
}

// CheckSignature says whether the profile's devices accept a certificate
// signed with alg.
func (p Profile) CheckSignature(alg x509.SignatureAlgorithm) error {
	switch alg {
	case x509.SHA1WithRSA:
		if p.AllowSHA2 {
			return fmt.Errorf("signed with %v; %s devices reject SHA-1 signatures", alg, p.Name)
		}
		return nil
	case x509.SHA256WithRSA, x509.SHA384WithRSA, x509.SHA512WithRSA:
		if !p.AllowSHA2 {
			return fmt.Errorf("signed with %v; %s devices accept only SHA-1 signed chains (error 0x80072F0D)", alg, p.Name)
		}
		return nil
	case x509.ECDSAWithSHA256, x509.ECDSAWithSHA384:
		if !p.AllowEC {
			return fmt.Errorf("signed with %v; %s devices do not support ECDSA", alg, p.Name)
		}
		return nil
	}
	return fmt.Errorf("signed with %v, which %s devices do not support", alg, p.Name)
}

// CheckKey says whether the profile's devices accept a public key.
func (p Profile) CheckKey(pub any) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if bits := k.N.BitLen(); bits < p.MinRSABits {
			return fmt.Errorf("RSA key of %d bits; %s needs at least %d", bits, p.Name, p.MinRSABits)
		}
		if p.Legacy && k.E > maxExponent {
			return fmt.Errorf("RSA public exponent %d does not fit 32 bits; %s devices reject it", k.E, p.Name)
		}
		if p.Legacy && k.N.BitLen() > LegacyRSABits {
			return fmt.Errorf("RSA key of %d bits; %s devices are known to work only with %d-bit keys", k.N.BitLen(), p.Name, LegacyRSABits)
		}
		return nil
	case *ecdsa.PublicKey:
		if !p.AllowEC {
			return fmt.Errorf("ECDSA key; %s devices support RSA keys only", p.Name)
		}
		return nil
	}
	return fmt.Errorf("%s key; %s devices support RSA%s", KeyDesc(pub), p.Name, map[bool]string{true: " and ECDSA", false: ""}[p.AllowEC])
}

// CheckName says whether a DNS or IP name is one the profile can use in a
// server certificate. Windows Mobile matches exact names only.
func (p Profile) CheckName(name string) error {
	if strings.HasPrefix(name, "*.") && !p.Wildcards {
		return fmt.Errorf("wildcard name %q: %s devices do not match wildcards; name the exact host", name, p.Name)
	}
	return nil
}

// MatchHost says whether a device of this profile would accept cert for
// host. Legacy devices compare the exact name and also read the subject CN.
func (p Profile) MatchHost(cert *x509.Certificate, host string) error {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if ip := net.ParseIP(host); ip != nil {
		for _, c := range cert.IPAddresses {
			if c.Equal(ip) {
				return nil
			}
		}
		return fmt.Errorf("server certificate has no IP SAN %s (has %v)", host, cert.IPAddresses)
	}
	for _, n := range cert.DNSNames {
		n = strings.ToLower(n)
		if n == host {
			return nil
		}
		if p.Wildcards && strings.HasPrefix(n, "*.") {
			if i := strings.IndexByte(host, '.'); i > 0 && host[i:] == n[1:] {
				return nil
			}
		}
	}
	if p.Legacy && len(cert.DNSNames) == 0 && strings.EqualFold(cert.Subject.CommonName, host) {
		return nil
	}
	return fmt.Errorf("server certificate names %v do not match %q for %s devices%s", cert.DNSNames, host, p.Name,
		map[bool]string{true: "", false: " (wildcards are not matched)"}[p.Wildcards])
}

func hasServerAuth(cert *x509.Certificate) bool {
	for _, u := range cert.ExtKeyUsage {
		if u == x509.ExtKeyUsageServerAuth || u == x509.ExtKeyUsageAny {
			return true
		}
	}
	return false
}

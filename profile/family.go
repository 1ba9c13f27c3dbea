package profile

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"strings"
)

// Family is one chain generation under a CA's single root: what pushca
// generates for the intermediate of the family and for the leaves it signs.
// Devices trust the root by identity (its self-signature is never checked by
// a TLS client, reference/trust-and-servers.md §1), so one root can carry a
// SHA-1 chain for Windows Mobile and a SHA-256 chain for iOS side by side.
type Family struct {
	Name        string
	Description string
	// KeyType and KeyBits / Curve of the intermediate and of leaves.
	KeyType string
	KeyBits int
	Curve   string
	// Signature is what the intermediate signs leaves and CRLs with.
	Signature x509.SignatureAlgorithm
	// MaxLeafDays caps a leaf's NotAfter - NotBefore, backdate included
	// (0: no cap).
	MaxLeafDays int
	// Legacy marks the family served to clients that send no
	// signature_algorithms, offer nothing above TLS 1.1 or no SHA-256
	// scheme: Windows Mobile.
	Legacy bool
	// RootSignature is the root's self-signature when the CA is created
	// with this family: Windows Mobile's check of a SHA-256 self-signature is
	// unconfirmed [U], so a CA with a legacy family keeps SHA-1 there.
	RootSignature x509.SignatureAlgorithm
}

// Family names.
const (
	FamilyLegacy    = "legacy"
	FamilyModern    = "modern"
	FamilyModernRSA = "modern-rsa"
)

// families is read-only; GetFamily and Families hand out copies (Family
// holds no slices).
var families = []Family{
	{
		Name: FamilyLegacy, Description: "RSA 2048, SHA-1 signatures: Windows Mobile 5.0-6.5",
		KeyType: KeyRSA, KeyBits: 2048, Signature: x509.SHA1WithRSA, Legacy: true,
		RootSignature: x509.SHA1WithRSA,
	},
	// ECDSA by default: nginx and Apache choose between two chains only by
	// key type (reference §2), so legacy RSA beside modern ECDSA is the pair
	// every front end can serve.
	{
		Name: FamilyModern, Description: "ECDSA P-256, SHA-256, leaves at most 825 days: iOS, Android, current clients",
		KeyType: KeyEC, Curve: "P-256", Signature: x509.ECDSAWithSHA256, MaxLeafDays: 825,
		RootSignature: x509.SHA256WithRSA,
	},
	{
		Name: FamilyModernRSA, Description: "RSA 2048, SHA-256, leaves at most 825 days: iOS, Android, for servers that need RSA",
		KeyType: KeyRSA, KeyBits: 2048, Signature: x509.SHA256WithRSA, MaxLeafDays: 825,
		RootSignature: x509.SHA256WithRSA,
	},
}

// SignatureBy is the algorithm an issuer with a key of keyType uses to
// sign the intermediate of f: the hash the family's devices accept, in the
// issuer's key's scheme.
func (f Family) SignatureBy(keyType string) x509.SignatureAlgorithm {
	switch {
	case keyType == KeyEC:
		return x509.ECDSAWithSHA256
	case f.Signature == x509.SHA1WithRSA:
		return x509.SHA1WithRSA
	}
	return x509.SHA256WithRSA
}

// KeyTypeOf is KeyEC for an ECDSA public key and KeyRSA otherwise.
func KeyTypeOf(pub any) string {
	if _, ok := pub.(*ecdsa.PublicKey); ok {
		return KeyEC
	}
	return KeyRSA
}

// FamilyOf names the family of a certificate whose family nobody recorded:
// a leaf named by hand, a leaf a server presents, or the intermediate of a
// directory made before families existed. The key type and whether the
// signature is SHA-1 tell the families apart (an ECDSA intermediate signed
// by an RSA root is modern); ok is false when none fits.
func FamilyOf(cert *x509.Certificate) (f Family, ok bool) {
	kt := KeyTypeOf(cert.PublicKey)
	sha1 := cert.SignatureAlgorithm == x509.SHA1WithRSA
	for _, f := range families {
		if f.KeyType == kt && (f.Signature == x509.SHA1WithRSA) == sha1 {
			return f, true
		}
	}
	return Family{}, false
}

// KeyDesc is a key as a person names it, "RSA 2048" or "ECDSA P-256", for
// listings, logs and reports.
func KeyDesc(pub any) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	}
	// Never a Go type name such as *dsa.PublicKey: reports show this.
	return "unknown"
}

// GetFamily returns the named family or an error listing the valid names.
func GetFamily(name string) (Family, error) {
	for _, f := range families {
		if f.Name == name {
			return f, nil
		}
	}
	return Family{}, fmt.Errorf("unknown chain family %q (valid: %s)", name, strings.Join(FamilyNames(), ", "))
}

// Families returns every family in table order.
func Families() []Family { return append([]Family(nil), families...) }

// FamilyNames returns the family names in table order.
func FamilyNames() []string {
	out := make([]string, len(families))
	for i, f := range families {
		out[i] = f.Name
	}
	return out
}

// Accepts says whether devices of p accept a chain of family f as far as
// the table can tell: key type and signature algorithm.
func (p Profile) Accepts(f Family) bool {
	if f.KeyType == KeyEC && !p.AllowEC {
		return false
	}
	return p.CheckSignature(f.Signature) == nil
}

// FamilyFor returns the family a CA holding the families named in have
// serves to devices of p: p's own family when the CA has it, else the first
// one p accepts. ok is false when none suits p.
func FamilyFor(p Profile, have []string) (f Family, ok bool) {
	for _, n := range have {
		if n == p.Family {
			f, err := GetFamily(n)
			return f, err == nil
		}
	}
	for _, n := range have {
		if f, err := GetFamily(n); err == nil && p.Accepts(f) {
			return f, true
		}
	}
	return Family{}, false
}

// FamiliesFor returns the families a CA needs to serve every profile named,
// in table order, without duplicates.
func FamiliesFor(profiles []string) ([]string, error) {
	need := map[string]bool{}
	for _, n := range profiles {
		p, err := Get(n)
		if err != nil {
			return nil, err
		}
		need[p.Family] = true
	}
	var out []string
	for _, f := range families {
		if need[f.Name] {
			out = append(out, f.Name)
		}
	}
	return out, nil
}

// ProfilesOf returns the profiles whose devices one of the families named
// serves, in table order: what a CA with those families can serve.
func ProfilesOf(have []string) []Profile {
	var out []Profile
	for _, p := range table {
		if _, ok := FamilyFor(p, have); ok {
			out = append(out, p.clone())
		}
	}
	return out
}

// ProfilesServedBy returns the profiles that accept family f: the devices
// a leaf of the family must satisfy all at once.
func ProfilesServedBy(f Family) []Profile {
	var out []Profile
	for _, p := range table {
		if p.Accepts(f) {
			out = append(out, p.clone())
		}
	}
	return out
}

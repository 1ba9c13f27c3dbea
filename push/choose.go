package push

import (
	"crypto/ecdsa"
	"crypto/tls"
	"slices"

	"github.com/pushca/pushca/profile"
)

// chain is one served certificate chain and the family it belongs to.
type chain struct {
	cert *tls.Certificate
	// family is the zero Family for a chain that fits no family of the
	// table (files named by hand); it is served as a modern one.
	family profile.Family
}

// sha256Schemes are the signature schemes that say a client checks
// SHA-256 signatures, the hash every non-legacy family signs with.
var sha256Schemes = []tls.SignatureScheme{tls.PKCS1WithSHA256, tls.PSSWithSHA256, tls.ECDSAWithP256AndSHA256}

// legacyHello says whether hello comes from a client of the generation the
// Legacy families serve (reference/trust-and-servers.md §1): TLS 1.0 and
// 1.1 clients send no signature_algorithms, and a client that offers no
// SHA-256 scheme cannot be trusted to check a SHA-256 chain.
func legacyHello(hello *tls.ClientHelloInfo) bool {
	tls12 := slices.ContainsFunc(hello.SupportedVersions, func(v uint16) bool {
		return v == tls.VersionTLS12 || v == tls.VersionTLS13 // GREASE values are neither
	})
	sha256 := slices.ContainsFunc(hello.SignatureSchemes, func(s tls.SignatureScheme) bool {
		return slices.Contains(sha256Schemes, s)
	})
	return !tls12 || !sha256
}

// Ranks of a chain for a hello, lowest preferred, added up.
const (
	rankOtherGeneration = 2 // the family's Legacy flag is not the hello's
	rankNotECDSA        = 1 // ECDSA first: smaller and cheaper to sign with
	ranks               = rankOtherGeneration + rankNotECDSA + 1
)

func rank(c *chain, legacyHello bool) int {
	r := 0
	if c.family.Legacy != legacyHello {
		r += rankOtherGeneration
	}
	if _, ok := c.cert.Leaf.PublicKey.(*ecdsa.PublicKey); !ok {
		r += rankNotECDSA
	}
	return r
}

// choose returns the chain to serve for hello: of the chains the client
// supports, the best-ranked, so one of the hello's generation (see
// legacyHello and profile.Family.Legacy), ECDSA before RSA; when it
// supports none, the best-ranked chain anyway, so that the client can at
// least report it. It returns nil only when chains is empty. The chains
// are tried best first, so a handshake usually asks SupportsCertificate
// once.
func choose(hello *tls.ClientHelloInfo, chains []chain) *chain {
	legacy := legacyHello(hello)
	var fallback *chain
	for r := range ranks {
		for i := range chains {
			c := &chains[i]
			if rank(c, legacy) != r {
				continue
			}
			if hello.SupportsCertificate(c.cert) == nil {
				return c
			}
			if fallback == nil {
				fallback = c
			}
		}
	}
	return fallback
}

package provision

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pushca/pushca/internal/testtool"
)

// testPKI is a root, an intermediate and a code-signing leaf made with
// crypto/x509, as the CA would make them, and a modern family's ECDSA
// intermediate beside the first one.
type testPKI struct {
	root, inter, signer       *x509.Certificate
	modern                    *x509.Certificate
	rootKey, interKey, sigKey *rsa.PrivateKey
}

// RSA key generation dominates test time; one set of keys serves every test
// (each test still gets certificates signed the way it asks).
var (
	keysOnce sync.Once
	keys     [3]*rsa.PrivateKey
)

// ecKey is the modern intermediates' key.
var ecKey = sync.OnceValue(func() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
})

func testKeys(t testing.TB) [3]*rsa.PrivateKey {
	t.Helper()
	keysOnce.Do(func() {
		for i := range keys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			keys[i] = k
		}
	})
	return keys
}

func newPKI(t testing.TB, alg x509.SignatureAlgorithm) testPKI {
	t.Helper()
	return newPKIWithKeys(t, alg, 0, 1)
}

// newPKIWithKeys picks which of the shared keys the root and intermediate
// use, for a second, unrelated PKI with the same names.
func newPKIWithKeys(t testing.TB, alg x509.SignatureAlgorithm, rootKey, interKey int) testPKI {
	t.Helper()
	all := testKeys(t)
	k := [3]*rsa.PrivateKey{all[rootKey], all[interKey], all[2]}
	notBefore := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	mk := func(tmpl *x509.Certificate, parent *x509.Certificate, pub *rsa.PublicKey, signer *rsa.PrivateKey) *x509.Certificate {
		tmpl.SignatureAlgorithm = alg
		tmpl.NotBefore = notBefore
		tmpl.NotAfter = notBefore.AddDate(10, 0, 0)
		return testtool.Certificate(t, tmpl, parent, pub, signer)
	}
	ca := func(serial int64, cn string) *x509.Certificate {
		return &x509.Certificate{
			SerialNumber:          big.NewInt(serial),
			Subject:               pkix.Name{CommonName: cn, Organization: []string{"pushca test"}},
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
			BasicConstraintsValid: true,
			IsCA:                  true,
		}
	}
	p := testPKI{rootKey: k[0], interKey: k[1], sigKey: k[2]}
	p.root = mk(ca(1, "pushca test root"), nil, &k[0].PublicKey, k[0])
	p.inter = mk(ca(2, "pushca test intermediate"), p.root, &k[1].PublicKey, k[0])
	// The modern family's intermediate is ECDSA signed with SHA-256 under
	// the same root, whatever the root's own signature (ca.Init's way).
	modern := ca(4, "pushca test modern intermediate")
	modern.SignatureAlgorithm = x509.SHA256WithRSA
	modern.NotBefore, modern.NotAfter = notBefore, notBefore.AddDate(10, 0, 0)
	p.modern = testtool.Certificate(t, modern, p.root, &ecKey().PublicKey, k[0])
	p.signer = mk(&x509.Certificate{
		SerialNumber: big.NewInt(3),
		Subject:      pkix.Name{CommonName: "pushca test code signing"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning, x509.ExtKeyUsageEmailProtection},
	}, p.inter, &k[2].PublicKey, k[1])
	return p
}

func (p testPKI) chain() Chain {
	return Chain{Root: p.root, Intermediates: []*x509.Certificate{p.inter}}
}

// chains are a CA of the legacy family (the PKI's intermediate) and the
// modern one.
func (p testPKI) chains() Chains {
	return Chains{
		"legacy": p.chain(),
		"modern": {Root: p.root, Intermediates: []*x509.Certificate{p.modern}},
	}
}

func writePEM(t testing.TB, name, typ string, der ...[]byte) string {
	t.Helper()
	var b []byte
	for _, d := range der {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: d})...)
	}
	return writeFile(t, name, b)
}

func writeFile(t testing.TB, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

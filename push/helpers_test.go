package push

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/internal/atomicfile"
	"github.com/pushca/pushca/provision"
)

const testHost = "mail.test"

// testCA is a root made in the test; no pushca code signs it.
type testCA struct {
	cert     *x509.Certificate
	key      crypto.Signer
	versions int
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "pushca test root"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key}
}

// rootPEM writes the root where the state directory keeps it.
func (c *testCA) writeRoot(t testing.TB, dir string) string {
	t.Helper()
	p := ca.Layout{Dir: dir}.RootCert()
	writeFile(t, p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw}))
	return p
}

// leaf issues a server certificate for testHost and 127.0.0.1 with an RSA
// (rsaKey) or ECDSA key and returns chain and key PEM.
func (c *testCA) leaf(t testing.TB, rsaKey bool, cn string) (chainPEM, keyPEM []byte) {
	t.Helper()
	var key crypto.Signer
	var err error
	if rsaKey {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     []string{testHost},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, key.Public(), c.key)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})
}

// writeServer puts a leaf in the state directory the way package ca does
// for a CA's first family: a new version directory, then the "current"
// symlink swapped by rename.
func (c *testCA) writeServer(t testing.TB, dir string, rsaKey bool, cn string) KeyPair {
	t.Helper()
	l := ca.Layout{Dir: dir}
	first := ca.Slot{}
	chain, key := c.leaf(t, rsaKey, cn)
	c.versions++
	serial := fmt.Sprint(c.versions)
	v := l.ServerVersion(testHost, serial)
	writeFile(t, filepath.Join(v, filepath.Base(l.ServerChain(testHost, first))), chain)
	writeFile(t, filepath.Join(v, filepath.Base(l.ServerKey(testHost, first))), key)
	tmp := l.ServerCurrent(testHost, first) + ".tmp"
	if err := os.Symlink(serial, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, l.ServerCurrent(testHost, first)); err != nil {
		t.Fatal(err)
	}
	return KeyPair{Cert: l.ServerChain(testHost, first), Key: l.ServerKey(testHost, first)}
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := atomicfile.MkdirAll(filepath.Dir(path)); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// testUsers opens a users file holding alice/secret at the cheapest cost.
func testUsers(t testing.TB, dir string) *Users {
	t.Helper()
	u, err := OpenUsers(filepath.Join(dir, "users"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Add("alice", "secret"); err != nil {
		t.Fatal(err)
	}
	return u
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func sha256Of(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

func fingerprint(sum []byte) string { return provision.Fingerprint(sum).Colon() }

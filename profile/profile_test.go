package profile

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pushca/pushca/internal/testtool"
)

func TestTable(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range All() {
		if seen[p.Name] {
			t.Errorf("duplicate profile %s", p.Name)
		}
		seen[p.Name] = true
		got, err := Get(p.Name)
		if err != nil || got.Name != p.Name {
			t.Errorf("Get(%s) = %v, %v", p.Name, got.Name, err)
		}
		if p.Legacy && (p.AllowSHA2 || p.Wildcards || p.MinTLS != 0x0301 || len(p.Suites) == 0) {
			t.Errorf("%s: legacy profile must be SHA-1, exact names, TLS 1.0 with RSA suites", p.Name)
		}
	}
	if _, err := Get("wm7"); err == nil || !strings.Contains(err.Error(), "wm5, wm6") {
		t.Errorf("unknown profile error should list names: %v", err)
	}
	// Get hands out copies: changing one must not change the table.
	p, _ := Get("wm6")
	p.Suites[0] = 0
	if q, _ := Get("wm6"); q.Suites[0] == 0 {
		t.Error("Get returned the table's own slice")
	}
	// Servers key device records and quirks on DeviceType; only Windows
	// Mobile says PocketPC.
	for _, p := range All() {
		if p.DeviceType == "" || p.DeviceType == "SmartPhone" || (p.DeviceType == "PocketPC") != p.Legacy {
			t.Errorf("%s: DeviceType %q", p.Name, p.DeviceType)
		}
	}
	s, err := Strictest([]string{"ios", "wm6", "wm5", "modern"})
	if err != nil || s.Name != "wm5" {
		t.Errorf("Strictest = %s, %v; want wm5", s.Name, err)
	}
}

type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func mkCert(t *testing.T, tpl *x509.Certificate, parent *testCA, key crypto.Signer) *testCA {
	t.Helper()
	tpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	if tpl.NotBefore.IsZero() {
		tpl.NotBefore, tpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	}
	p, pk := tpl, key
	if parent != nil {
		p, pk = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, p, key.Public(), pk)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{c, key}
}

func rsaKey(t *testing.T) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// chain builds root -> intermediate -> leaf signed with alg.
func chain(t *testing.T, alg x509.SignatureAlgorithm, names ...string) (root, inter, leaf *testCA) {
	caTpl := func(cn string) *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: cn}, IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, SignatureAlgorithm: alg}
	}
	root = mkCert(t, caTpl("Test Root"), nil, rsaKey(t))
	inter = mkCert(t, caTpl("Test Intermediate"), root, rsaKey(t))
	leaf = mkCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		SignatureAlgorithm: alg}, inter, rsaKey(t))
	return root, inter, leaf
}

func writePEM(t *testing.T, dir, name string, certs ...*x509.Certificate) string {
	p := filepath.Join(dir, name)
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func opensslAccepts(t *testing.T, root, inter, leaf *x509.Certificate) bool {
	dir := t.TempDir()
	_, _, err := testtool.Run(t, nil, "openssl", "verify", "-auth_level", "0",
		"-CAfile", writePEM(t, dir, "root.pem", root), "-untrusted", writePEM(t, dir, "inter.pem", inter), writePEM(t, dir, "leaf.pem", leaf))
	return err == nil
}

// tamper flips one bit of the signature and reparses.
func tamper(t *testing.T, c *x509.Certificate) *x509.Certificate {
	raw := append([]byte(nil), c.Raw...)
	raw[len(raw)-10] ^= 0x01
	out, err := x509.ParseCertificate(raw)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Our SHA-1 signature check must agree with OpenSSL's on good and bad chains.
func TestCheckSignedByAgreesWithOpenSSL(t *testing.T) {
	for _, alg := range []x509.SignatureAlgorithm{x509.SHA1WithRSA, x509.SHA256WithRSA} {
		root, inter, leaf := chain(t, alg, "mail.example.com")
		if !opensslAccepts(t, root.cert, inter.cert, leaf.cert) {
			t.Fatalf("%v: openssl refused the good chain", alg)
		}
		if err := CheckSignedBy(leaf.cert, inter.cert); err != nil {
			t.Errorf("%v: good leaf: %v", alg, err)
		}
		if err := CheckSignedBy(inter.cert, root.cert); err != nil {
			t.Errorf("%v: good intermediate: %v", alg, err)
		}
		bad := tamper(t, leaf.cert)
		if opensslAccepts(t, root.cert, inter.cert, bad) {
			t.Fatalf("%v: openssl accepted a tampered leaf", alg)
		}
		if err := CheckSignedBy(bad, inter.cert); err == nil {
			t.Errorf("%v: tampered leaf accepted", alg)
		}
		if err := CheckSignedBy(leaf.cert, root.cert); err == nil {
			t.Errorf("%v: leaf accepted as signed by the root", alg)
		}
	}
}

func TestVerifyChainSaysWhatDevicesSay(t *testing.T) {
	wm5, _ := Get("wm5")
	ios, _ := Get("ios")
	now := time.Now()
	root, inter, leaf := chain(t, x509.SHA1WithRSA, "mail.example.com")
	good := []*x509.Certificate{leaf.cert, inter.cert}
	if errs := wm5.VerifyChain(good, root.cert, "mail.example.com", now); len(errs) != 0 {
		t.Fatalf("good SHA-1 chain under wm5: %v", errs)
	}
	problem := func(name string, errs []error, want Problem) {
		t.Helper()
		for _, e := range errs {
			if ce, ok := e.(*ChainError); ok && ce.Problem == want {
				return
			}
		}
		t.Errorf("%s: want a %v problem, got %v", name, want, errs)
	}
	expect := func(name string, errs []error, want string) {
		t.Helper()
		for _, e := range errs {
			if strings.Contains(e.Error(), want) {
				return
			}
		}
		t.Errorf("%s: want an error containing %q, got %v", name, want, errs)
	}
	expect("ios on SHA-1", ios.VerifyChain(good, root.cert, "mail.example.com", now), "ios devices reject SHA-1")
	expect("missing intermediate", wm5.VerifyChain(good[:1], root.cert, "", now), "is an intermediate missing")
	problem("missing intermediate", wm5.VerifyChain(good[:1], root.cert, "", now), ProblemMissingIntermediate)
	problem("wrong host", wm5.VerifyChain(good, root.cert, "other.example.com", now), ProblemHost)
	problem("expired", wm5.VerifyChain(good, root.cert, "", now.Add(48*time.Hour)), ProblemValidity)
	problem("ios on SHA-1", ios.VerifyChain(good, root.cert, "mail.example.com", now), ProblemCertificate)
	problem("no root", wm5.VerifyChain(good, nil, "mail.example.com", now), ProblemUntrusted)
	if errs := wm5.VerifyChain(good, nil, "other.example.com", now); len(errs) != 2 {
		t.Errorf("without a root the host is still checked: %v", errs)
	}
	strangerTpl := &x509.Certificate{Subject: pkix.Name{CommonName: "Stranger Root"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, SignatureAlgorithm: x509.SHA1WithRSA}
	stranger := mkCert(t, strangerTpl, nil, rsaKey(t))
	strangerLeaf := mkCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "mail.example.com"}, SignatureAlgorithm: x509.SHA1WithRSA}, stranger, rsaKey(t))
	otherChain := wm5.VerifyChain([]*x509.Certificate{strangerLeaf.cert, stranger.cert}, root.cert, "", now)
	expect("chain of another CA", otherChain, "another CA")
	problem("chain of another CA", otherChain, ProblemUntrusted)
	expect("wrong host", wm5.VerifyChain(good, root.cert, "other.example.com", now), `do not match "other.example.com"`)
	expect("expired", wm5.VerifyChain(good, root.cert, "", now.Add(48*time.Hour)), "expired on")
	otherRoot, _, _ := chain(t, x509.SHA1WithRSA, "x")
	// Same name, other key: the signature is what tells them apart.
	expect("wrong root", wm5.VerifyChain(good, otherRoot.cert, "", now), "does not verify")

	r2, i2, l2 := chain(t, x509.SHA256WithRSA, "mail.example.com")
	expect("SHA-256 under wm5", wm5.VerifyChain([]*x509.Certificate{l2.cert, i2.cert}, r2.cert, "", now), "0x80072F0D")
	if errs := ios.VerifyChain([]*x509.Certificate{l2.cert, i2.cert}, r2.cert, "mail.example.com", now); len(errs) != 0 {
		t.Errorf("SHA-256 chain under ios: %v", errs)
	}

	_, wi, wl := chain(t, x509.SHA1WithRSA, "*.example.com")
	expect("wildcard under wm5", wm5.VerifyChain([]*x509.Certificate{wl.cert, wi.cert}, nil, "", now), "no root")
	if err := wm5.MatchHost(wl.cert, "mail.example.com"); err == nil {
		t.Error("wm5 matched a wildcard")
	}
	if err := ios.MatchHost(wl.cert, "mail.example.com"); err != nil {
		t.Errorf("ios did not match a wildcard: %v", err)
	}
	if err := ios.MatchHost(wl.cert, "a.b.example.com"); err == nil {
		t.Error("a wildcard matched two labels")
	}
}

func TestCheckKey(t *testing.T) {
	wm5, _ := Get("wm5")
	modern, _ := Get("modern")
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err := wm5.CheckKey(ec.Public()); err == nil || !strings.Contains(err.Error(), "RSA keys only") {
		t.Errorf("wm5 ECDSA: %v", err)
	}
	if err := modern.CheckKey(ec.Public()); err != nil {
		t.Errorf("modern ECDSA: %v", err)
	}
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	if err := modern.CheckKey(small.Public()); err == nil || !strings.Contains(err.Error(), "1024 bits") {
		t.Errorf("RSA 1024: %v", err)
	}
	// An exponent over 32 bits: crypto/x509 refuses to parse such keys, but
	// a key can still reach the check through other paths.
	big := &rsa.PublicKey{N: rsaKey(t).N, E: 1<<33 + 1}
	if err := wm5.CheckKey(big); err == nil || !strings.Contains(err.Error(), "32 bits") {
		t.Errorf("large exponent: %v", err)
	}
}

func TestHeartbeatSettle(t *testing.T) {
	wm, _ := Get("wm6")
	android, _ := Get("android")
	ios, _ := Get("ios")
	for _, tc := range []struct {
		name  string
		h     Heartbeat
		limit int
		want  int
		ok    bool
	}{
		{"wm open path", wm.Heartbeat, 3600, 1680, true},
		{"wm cut at 1000 s", wm.Heartbeat, 1000, 780, true},
		{"wm cut at exactly a rung", wm.Heartbeat, 1080, 1080, true},
		{"wm cut below its minimum", wm.Heartbeat, 400, 480, false},
		{"android open path", android.Heartbeat, 3600, 1010, true},
		{"android cut at 600 s", android.Heartbeat, 600, 470, true},
		{"android steps down below its start", android.Heartbeat, 400, 290, true},
		{"android cut below its minimum", android.Heartbeat, 200, 290, false},
		{"no model", ios.Heartbeat, 3600, 0, false},
	} {
		if got, ok := tc.h.Settle(tc.limit); got != tc.want || ok != tc.ok {
			t.Errorf("%s: Settle(%d) = %d, %v; want %d, %v", tc.name, tc.limit, got, ok, tc.want, tc.ok)
		}
	}
}

// TestKeyNamesAreNotGoTypes: a SHA-1 certificate whose issuer (by name)
// holds an ECDSA key was reported as "has a *ecdsa.PublicKey key".
func TestKeyNamesAreNotGoTypes(t *testing.T) {
	_, inter, leaf := chain(t, x509.SHA1WithRSA, "mail.example.com")
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	impostor := mkCert(t, &x509.Certificate{Subject: inter.cert.Subject, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, nil, ecKey)
	err = CheckSignedBy(leaf.cert, impostor.cert)
	if err == nil || !strings.Contains(err.Error(), "has an ECDSA P-256 key") || strings.Contains(err.Error(), "PublicKey") {
		t.Errorf("CheckSignedBy: %v", err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	wm6, _ := Get("wm6")
	if err := wm6.CheckKey(edKey.Public()); err == nil || !strings.HasPrefix(err.Error(), "Ed25519 key;") {
		t.Errorf("CheckKey: %v", err)
	}
	if got := KeyDesc(struct{}{}); got != "unknown" {
		t.Errorf("KeyDesc of a stranger: %q", got)
	}
}

package push

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/profile"
)

// opensslNames are OpenSSL's names of the RSA key-exchange suites the wm
// profiles list.
var opensslNames = map[uint16]string{
	tls.TLS_RSA_WITH_AES_128_CBC_SHA:  "AES128-SHA",
	tls.TLS_RSA_WITH_AES_256_CBC_SHA:  "AES256-SHA",
	tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA: "DES-CBC3-SHA",
	tls.TLS_RSA_WITH_RC4_128_SHA:      "RC4-SHA",
}

// wmOpenSSL are the s_client options of a Windows Mobile 6 hello: TLS 1.0
// and the wm6 profile's suites. Debian 12's OpenSSL 3.0 has neither 3DES
// nor RC4 in TLS (reference/trust-and-servers.md §2), so `-cipher
// DES-CBC3-SHA` alone fails there with "no cipher match"; a list naming
// every wm6 suite makes OpenSSL offer those it has.
func wmOpenSSL(t testing.TB) []string {
	t.Helper()
	wm6, err := profile.Get("wm6")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, id := range wm6.Suites {
		n, ok := opensslNames[id]
		if !ok {
			t.Fatalf("no OpenSSL name for wm6 suite %s", tls.CipherSuiteName(id))
		}
		names = append(names, n)
	}
	return []string{"-tls1", "-cipher", strings.Join(names, ":") + ":@SECLEVEL=0"}
}

// TestTwoFamiliesEndToEnd serves a CA with a legacy and a modern family,
// as `serve --host` does with no other flag, and lets openssl be the
// client and the judge: a Windows Mobile style TLS 1.0 hello gets the SHA-1
// RSA chain, which `openssl verify -auth_level 0` accepts and level 1
// refuses; a default hello gets the ECDSA SHA-256 chain, which verifies at
// the default level; both end at the one root. The device records say which
// family each device got, and the start log lists both chains.
func TestTwoFamiliesEndToEnd(t *testing.T) {
	testtool.Path(t, "openssl")
	var logs testtool.Buffer
	ts := startCAServer(t, []string{profile.FamilyLegacy, profile.FamilyModern}, "", nil, func(cfg *Config) {
		cfg.Log = slog.New(slog.NewTextHandler(io.MultiWriter(&logs, t.Output()), nil))
	})
	tmp := t.TempDir()
	pemFile := func(name string, c *x509.Certificate) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	text := func(path string) string {
		return string(testtool.MustRun(t, nil, "openssl", "x509", "-in", path, "-noout", "-text"))
	}
	verify := func(leaf, inter string, level ...string) (string, error) {
		args := append([]string{"verify", "-CAfile", ts.rootPath, "-untrusted", inter, "-verify_hostname", testHost}, level...)
		out, errb, err := testtool.Run(t, nil, "openssl", append(args, leaf)...)
		return string(out) + string(errb), err
	}
	rootSubject := strings.TrimPrefix(strings.TrimSpace(string(testtool.MustRun(t, nil, "openssl", "x509", "-in", ts.rootPath, "-noout", "-subject"))), "subject=")

	legacy := ts.servedChain(t, wmOpenSSL(t)...)
	legacyLeaf, legacyInter := pemFile("legacy-leaf.pem", legacy[0]), pemFile("legacy-inter.pem", legacy[1])
	for name, path := range map[string]string{"leaf": legacyLeaf, "intermediate": legacyInter} {
		if txt := text(path); !strings.Contains(txt, "Signature Algorithm: sha1WithRSAEncryption") || !strings.Contains(txt, "Public Key Algorithm: rsaEncryption") {
			t.Errorf("the TLS 1.0 client got a legacy %s that is not SHA-1 RSA:\n%s", name, txt)
		}
	}
	if out, err := verify(legacyLeaf, legacyInter, "-auth_level", "0"); err != nil || !strings.Contains(out, ": OK") {
		t.Errorf("openssl verify -auth_level 0 of the legacy chain: %v\n%s", err, out)
	}
	if out, err := verify(legacyLeaf, legacyInter, "-auth_level", "1"); err == nil {
		t.Errorf("openssl verify -auth_level 1 accepted the SHA-1 chain:\n%s", out)
	}

	modern := ts.servedChain(t)
	modernLeaf, modernInter := pemFile("modern-leaf.pem", modern[0]), pemFile("modern-inter.pem", modern[1])
	if txt := text(modernLeaf); !strings.Contains(txt, "Signature Algorithm: ecdsa-with-SHA256") || !strings.Contains(txt, "NIST CURVE: P-256") {
		t.Errorf("the default client got a leaf that is not ECDSA P-256 signed with SHA-256:\n%s", txt)
	}
	if txt := text(modernInter); !strings.Contains(txt, "Signature Algorithm: sha256WithRSAEncryption") || !strings.Contains(txt, "NIST CURVE: P-256") {
		t.Errorf("the modern intermediate is not an ECDSA P-256 key signed with SHA-256:\n%s", txt)
	}
	if out, err := verify(modernLeaf, modernInter); err != nil || !strings.Contains(out, ": OK") {
		t.Errorf("openssl verify of the modern chain at the default level: %v\n%s", err, out)
	}

	// Both verified against a CAfile holding the root alone: both end there.
	for name, inter := range map[string]string{"legacy": legacyInter, "modern": modernInter} {
		issuer := strings.TrimPrefix(strings.TrimSpace(string(testtool.MustRun(t, nil, "openssl", "x509", "-in", inter, "-noout", "-issuer"))), "issuer=")
		if issuer != rootSubject {
			t.Errorf("the %s intermediate is issued by %q, not the root %q", name, issuer, rootSubject)
		}
	}
	if legacy[1].Equal(modern[1]) {
		t.Error("both hellos got the same intermediate")
	}

	// Devices: a TLS 1.0 one with the wm6 suites and a current one.
	wm6, err := profile.Get("wm6")
	if err != nil {
		t.Fatal(err)
	}
	wm := ts.client("12.1", "WM6DEVICE", false)
	wmTLS := wm.HTTP.Transport.(*http.Transport).TLSClientConfig
	wmTLS.MinVersion, wmTLS.MaxVersion, wmTLS.CipherSuites = tls.VersionTLS10, tls.VersionTLS10, wm6.Suites
	// Go refuses SHA-1 signatures; openssl verified this chain above, so
	// the device only checks that it was given that leaf.
	wmTLS.InsecureSkipVerify = true
	wmTLS.VerifyConnection = func(cs tls.ConnectionState) error {
		if !cs.PeerCertificates[0].Equal(legacy[0]) {
			return errors.New("not the legacy leaf openssl verified")
		}
		return nil
	}
	current := ts.client("14.1", "IPHONE1", false)
	for _, d := range []struct {
		id, family string
		serial     string
		provision  func(context.Context) error
	}{
		{"WM6DEVICE", profile.FamilyLegacy, legacy[0].SerialNumber.String(), func(ctx context.Context) error { _, err := wm.Provision(ctx); return err }},
		{"IPHONE1", profile.FamilyModern, modern[0].SerialNumber.String(), func(ctx context.Context) error { _, err := current.Provision(ctx); return err }},
	} {
		if err := d.provision(context.Background()); err != nil {
			t.Fatalf("%s: %v", d.id, err)
		}
		dev, ok, _ := ts.devices.Get(context.Background(), "alice", d.id)
		if !ok || dev.Family != d.family || dev.Cert != d.serial {
			t.Errorf("device %s: record says chain %q, certificate %s; want %s, %s", d.id, dev.Family, dev.Cert, d.family, d.serial)
		}
	}

	log := logs.String()
	if n := strings.Count(log, "serving ActiveSync over TLS"); n != 1 {
		t.Errorf("the start log line appears %d times, want once:\n%s", n, log)
	}
	for _, want := range []string{
		`versions="TLS 1.0 to TLS 1.3"`, "TLS_RSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256",
		"chain1.family=legacy", "chain1.signature=SHA1-RSA", `chain1.key="RSA 2048"`,
		"chain2.family=modern", "chain2.signature=ECDSA-SHA256", `chain2.key="ECDSA P-256"`, `chain2.subject="CN=` + testHost + `"`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the start log lacks %s:\n%s", want, log)
		}
	}
}

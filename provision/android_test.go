package provision

import (
	"bytes"
	"crypto/x509"
	"strings"
	"testing"

	"github.com/pushca/pushca/internal/testtool"
)

// opensslFingerprint is openssl's colon form, e.g. "AB:CD:...".
func opensslFingerprint(t *testing.T, der []byte, alg string) string {
	t.Helper()
	out := string(testtool.MustRun(t, der, "openssl", "x509", "-inform", "DER", "-noout", "-fingerprint", "-"+alg))
	return strings.TrimSpace(out[strings.Index(out, "=")+1:])
}

func TestFingerprintsMatchOpenSSL(t *testing.T) {
	p := newPKI(t, x509.SHA256WithRSA)
	for _, c := range []*x509.Certificate{p.root, p.inter} {
		s256, s1 := opensslFingerprint(t, c.Raw, "sha256"), opensslFingerprint(t, c.Raw, "sha1")
		if got := SHA256(c).Colon(); got != s256 {
			t.Errorf("SHA256 colon %s, openssl %s", got, s256)
		}
		if got := SHA1(c).Colon(); got != s1 {
			t.Errorf("SHA1 colon %s, openssl %s", got, s1)
		}
		if got := SHA256(c).Plain(); got != strings.ReplaceAll(s256, ":", "") || len(got) != 64 {
			t.Errorf("SHA256 plain %s", got)
		}
		if got := SHA1(c).Plain(); got != strings.ReplaceAll(s1, ":", "") || len(got) != 40 {
			t.Errorf("SHA1 plain %s", got)
		}
	}
}

func TestAndroidPackage(t *testing.T) {
	p := newPKI(t, x509.SHA256WithRSA)
	pkg, err := Android(p.chain(), "corp-root.crt")
	if err != nil {
		t.Fatal(err)
	}
	// openssl reads the .crt as DER and it is the root, unchanged.
	if der := testtool.MustRun(t, pkg.CRT, "openssl", "x509", "-inform", "DER", "-outform", "DER"); !bytes.Equal(der, p.root.Raw) {
		t.Fatal(".crt is not the root's DER")
	}
	text := string(pkg.Instructions)
	for _, want := range []string{
		opensslFingerprint(t, p.root.Raw, "sha256"),
		opensslFingerprint(t, p.root.Raw, "sha1"),
		"corp-root.crt",
		"Settings > Security > Encryption & credentials > Install a certificate\n   > CA certificate",
		"Android 11",
		"2034-03-01",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("instructions lack %q:\n%s", want, text)
		}
	}
	if _, err := Android(Chain{Root: p.inter}, "x.crt"); err == nil {
		t.Error("an intermediate was accepted as the Android root")
	}
}

package provision

import (
	"crypto"
	"crypto/x509"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/profile"
)

func signerFiles(t *testing.T, p testPKI) (certs, key string) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(p.sigKey)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, "signer.pem", "CERTIFICATE", p.signer.Raw, p.inter.Raw), writePEM(t, "key.pem", "PRIVATE KEY", der)
}

func fixedPassword(pw string, calls *int) PasswordFunc {
	return func(string) ([]byte, error) {
		*calls++
		return []byte(pw), nil
	}
}

func TestLoadSignerPEM(t *testing.T) {
	p := newPKI(t, x509.SHA1WithRSA)
	certs, key := signerFiles(t, p)
	calls := 0
	s, err := LoadSignerPEM(certs, key, fixedPassword("unused", &calls))
	if err != nil {
		t.Fatal(err)
	}
	if calls != 0 || len(s.Chain) != 2 || !s.Chain[0].Equal(p.signer) {
		t.Fatalf("plain key: %d password calls, chain of %d", calls, len(s.Chain))
	}

	// An encrypted PKCS#8 key made by openssl, as an administrator would.
	enc := filepath.Join(t.TempDir(), "enc.pem")
	testtool.MustRun(t, nil, "openssl", "pkey", "-in", key, "-aes256", "-passout", "pass:s3cret", "-out", enc)
	if s, err = LoadSignerPEM(certs, enc, fixedPassword("s3cret", &calls)); err != nil || calls != 1 {
		t.Fatalf("encrypted key: %v after %d password calls", err, calls)
	}
	if _, err := LoadSignerPEM(certs, enc, fixedPassword("wrong", &calls)); err == nil {
		t.Fatal("wrong password accepted")
	}
	if _, err := LoadSignerPEM(certs, enc, nil); err == nil || !strings.Contains(err.Error(), enc) {
		t.Fatalf("encrypted key without password source: %v (want an error naming the file)", err)
	}

	rootKey, _ := x509.MarshalPKCS8PrivateKey(p.rootKey)
	other := writePEM(t, "other.pem", "PRIVATE KEY", rootKey)
	if _, err := LoadSignerPEM(certs, other, nil); err == nil {
		t.Fatal("a key that does not match the certificate was accepted")
	}
}

func TestLoadSignerPKCS12(t *testing.T) {
	p := newPKI(t, x509.SHA256WithRSA)
	_, key := signerFiles(t, p)
	inter := writePEM(t, "inter.pem", "CERTIFICATE", p.inter.Raw)
	leaf := writePEM(t, "leaf.pem", "CERTIFICATE", p.signer.Raw)
	dir := t.TempDir()
	for _, tc := range []struct {
		name, pass string
		calls      int
	}{{"protected", "s3cret", 1}, {"empty password", "", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			p12 := filepath.Join(dir, tc.name+".p12")
			testtool.MustRun(t, nil, "openssl", "pkcs12", "-export", "-inkey", key, "-in", leaf, "-certfile", inter,
				"-passout", "pass:"+tc.pass, "-out", p12)
			calls := 0
			s, err := LoadSignerPKCS12(p12, fixedPassword(tc.pass, &calls))
			if err != nil {
				t.Fatal(err)
			}
			if calls != tc.calls {
				t.Errorf("password asked %d times, want %d", calls, tc.calls)
			}
			if len(s.Chain) != 2 || !s.Chain[0].Equal(p.signer) || !s.Chain[1].Equal(p.inter) {
				t.Fatalf("chain of %d from PKCS#12", len(s.Chain))
			}
			if tc.pass != "" {
				if _, err := LoadSignerPKCS12(p12, fixedPassword("wrong", &calls)); err == nil {
					t.Fatal("wrong PKCS#12 password accepted")
				}
				failing := func(string) ([]byte, error) { return nil, errors.New("no terminal") }
				if _, err := LoadSignerPKCS12(p12, failing); err == nil {
					t.Fatal("a failing password source was ignored")
				}
			}
		})
	}
}

func TestSignatureHash(t *testing.T) {
	for name, want := range map[string]crypto.Hash{"wm5": crypto.SHA1, "wm6": crypto.SHA1, "wm65": crypto.SHA1, "ios": crypto.SHA256, "android": crypto.SHA256} {
		p, err := profile.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := SignatureHash(p); got != want {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
}

package export

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushca/pushca/internal/atomicfile"
)

// OpenSSL, not the library that wrote them, says what protects each PFX:
// TripleDES-SHA1 with a SHA-1 MAC for Windows Server 2016 and older, AES-256
// with PBKDF2 for 2019 and later; and both give back the key and the chain
// they were made from.
func TestPFXAlgorithmsAndRoundTripByOpenSSL(t *testing.T) {
	h := readHost(t, "legacy", "modern")
	pw := "pfx pässword"
	pwFile := passwordFile(t, pw)
	for _, tc := range []struct {
		format Format
		info   []string // openssl pkcs12 -info options
		want   []string
		not    string
	}{
		{PFXLegacy, []string{"-legacy"}, []string{"MAC: sha1", "Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC", "PKCS7 Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC"}, "AES"},
		{PFX, nil, []string{"MAC: sha256", "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC", "PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC"}, "TripleDES"},
	} {
		t.Run(string(tc.format), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			files, err := Write(context.Background(), h, Options{Format: tc.format, Out: out, Password: []byte(pw)})
			if err != nil {
				t.Fatal(err)
			}
			if len(files) != 2 {
				t.Fatalf("files %+v, want one PFX per family", files)
			}
			assertPrivate(t, out, files)
			for i, f := range files {
				ch := h.Chains[i]
				if f.Family != ch.Family.Name || f.Kind != KindPFX || !strings.HasSuffix(f.Path, "mail.test."+ch.Family.Name+".pfx") {
					t.Errorf("file %+v", f)
				}
				args := append([]string{"pkcs12", "-info", "-in", f.Path, "-passin", "file:" + pwFile, "-nodes"}, tc.info...)
				info := openssl(t, args...)
				// Only openssl's own lines name algorithms: the base64 of
				// a key or certificate holds "AES" now and then.
				said := outsidePEM(info)
				for _, w := range tc.want {
					if !strings.Contains(said, w) {
						t.Errorf("%s: openssl pkcs12 -info lacks %q:\n%s", f.Path, w, info)
					}
				}
				if strings.Contains(said, tc.not) {
					t.Errorf("%s: openssl pkcs12 -info names %s:\n%s", f.Path, tc.not, info)
				}
				assertSameKeyAndChain(t, info, ch)
			}
		})
	}
	if _, err := Write(context.Background(), h, Options{Format: PFX, Out: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "password") {
		t.Errorf("PFX without a password: %v", err)
	}
}

// outsidePEM is text without its PEM blocks.
func outsidePEM(text string) string {
	var out strings.Builder
	inside := false
	for line := range strings.Lines(text) {
		switch {
		case strings.HasPrefix(line, "-----BEGIN "):
			inside = true
		case strings.HasPrefix(line, "-----END "):
			inside = false
		case !inside:
			out.WriteString(line)
		}
	}
	return out.String()
}

// assertSameKeyAndChain compares what openssl extracted (PEM key and
// certificates) with the chain exported: same public key, same
// certificates.
func assertSameKeyAndChain(t *testing.T, extracted string, ch Chain) {
	t.Helper()
	var key crypto.Signer
	var certs []*x509.Certificate
	rest := []byte(extracted)
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		switch blk.Type {
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			key = k.(crypto.Signer)
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			certs = append(certs, c)
		}
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if key == nil || !key.Public().(equaler).Equal(ch.Leaf().PublicKey) {
		t.Errorf("%s: the PFX's key is not the leaf's", ch.Family.Name)
	}
	if len(certs) != len(ch.Certs) {
		t.Fatalf("%s: PFX holds %d certificates, want %d (leaf and intermediate)", ch.Family.Name, len(certs), len(ch.Certs))
	}
	for _, want := range ch.Certs {
		found := false
		for _, c := range certs {
			found = found || bytes.Equal(c.Raw, want.Raw)
		}
		if !found {
			t.Errorf("%s: PFX lacks %s", ch.Family.Name, want.Subject)
		}
	}
}

// assertPrivate checks the modes of everything an export wrote, and that
// no temporary file is left beside them.
func assertPrivate(t *testing.T, dir string, files []File) {
	t.Helper()
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != atomicfile.DirMode {
		t.Errorf("%s: %v %v, want a 0700 directory", dir, st.Mode(), err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(files) {
		t.Errorf("%s holds %d entries, want the %d files written", dir, len(entries), len(files))
	}
	for _, f := range files {
		if st, err := os.Stat(f.Path); err != nil || st.Mode().Perm() != atomicfile.FileMode {
			t.Errorf("%s: %v %v, want 0600", f.Path, st.Mode(), err)
		}
	}
}

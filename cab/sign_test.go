package cab

import (
	"bytes"
	"crypto"
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
	"strings"
	"testing"
	"time"

	"github.com/pushca/pushca/internal/testtool"
)

// testPKI is a throwaway root, intermediate and code-signing leaf.
type testPKI struct {
	root, inter, leaf *x509.Certificate
	key, interKey     *rsa.PrivateKey
	dir               string // root.pem, chain.pem (leaf, intermediate), key.pem
}

func newPKI(t testing.TB, alg x509.SignatureAlgorithm) testPKI {
	t.Helper()
	now := time.Now()
	issue := func(tmpl, parent *x509.Certificate, parentKey *rsa.PrivateKey) (*x509.Certificate, *rsa.PrivateKey) {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		if parent == nil {
			parent, parentKey = tmpl, key
		}
		serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
		if err != nil {
			t.Fatal(err)
		}
		tmpl.SerialNumber = serial
		tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(24*time.Hour)
		tmpl.SignatureAlgorithm = alg
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
		if err != nil {
			t.Fatalf("issue %s with %v: %v", tmpl.Subject.CommonName, alg, err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c, key
	}
	ca := func(cn string) *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: cn}, IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	}
	var p testPKI
	var rootKey *rsa.PrivateKey
	p.root, rootKey = issue(ca("pushca test root"), nil, nil)
	p.inter, p.interKey = issue(ca("pushca test intermediate"), p.root, rootKey)
	p.leaf, p.key = issue(codeSigning("pushca test code signing"), p.inter, p.interKey)

	p.dir = t.TempDir()
	pemFile := func(name, typ string, ders ...[]byte) {
		var b bytes.Buffer
		for _, d := range ders {
			pem.Encode(&b, &pem.Block{Type: typ, Bytes: d})
		}
		if err := os.WriteFile(filepath.Join(p.dir, name), b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pemFile("root.pem", "CERTIFICATE", p.root.Raw)
	pemFile("chain.pem", "CERTIFICATE", p.leaf.Raw, p.inter.Raw)
	pemFile("key.pem", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(p.key))
	return p
}

func codeSigning(cn string) *x509.Certificate {
	return &x509.Certificate{Subject: pkix.Name{CommonName: cn}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}
}

func (p testPKI) path(name string) string { return filepath.Join(p.dir, name) }

func (p testPKI) roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.root)
	return pool
}

func (p testPKI) sign(t testing.TB, cab []byte, hash crypto.Hash) []byte {
	t.Helper()
	signed, err := Sign(cab, p.key, []*x509.Certificate{p.leaf, p.inter}, hash)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func hashName(h crypto.Hash) string { return strings.ReplaceAll(h.String(), "-", "") }

// osslVerify runs osslsigncode verify against the test root and returns
// its output and whether it said "Signature verification: ok".
func osslVerify(t *testing.T, p testPKI, cab []byte) (string, bool) {
	t.Helper()
	out, errb, err := testtool.Run(t, nil, "osslsigncode", "verify", "-CAfile", p.path("root.pem"), "-in", writeTemp(t, "signed.cab", cab))
	text := string(out) + string(errb)
	return text, err == nil && strings.Contains(text, "Signature verification: ok")
}

// TestSignOsslsigncode signs stored and MSZIP, one- and five-block
// cabinets with SHA-1 and SHA-256 digests, under a SHA-256 chain, and has
// osslsigncode verify them against the root alone (so the intermediate must
// come from our signature); cabextract must still test them, and the
// signature our reader finds must be the one osslsigncode extracts.
func TestSignOsslsigncode(t *testing.T) {
	p := newPKI(t, x509.SHA256WithRSA)
	for _, set := range []fileSet{fileSets()[0], fileSets()[3]} {
		for _, c := range []Compression{None, MSZIP} {
			for _, hash := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
				t.Run(set.name+"/"+c.String()+"/"+hashName(hash), func(t *testing.T) {
					unsigned, err := Build(set.files, Options{Compression: c, Time: goldenTime})
					if err != nil {
						t.Fatal(err)
					}
					signed := p.sign(t, unsigned, hash)
					out, ok := osslVerify(t, p, signed)
					if !ok {
						t.Fatalf("osslsigncode verify failed:\n%s", out)
					}
					if !strings.Contains(out, "Message digest algorithm  : "+hashName(hash)) {
						t.Errorf("osslsigncode reports another digest than %s:\n%s", hashName(hash), out)
					}
					path := writeTemp(t, "signed.cab", signed)
					checkExtracted(t, path, set.files)

					cab, err := Read(signed)
					if err != nil {
						t.Fatalf("Read: %v", err)
					}
					checkFiles(t, "signed cabinet", cab.Files, withTime(set.files, goldenTime))
					sigPath := filepath.Join(t.TempDir(), "sig.der")
					testtool.MustRun(t, nil, "osslsigncode", "extract-signature", "-in", path, "-out", sigPath)
					extracted, err := os.ReadFile(sigPath)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(cab.Signature, extracted) {
						t.Errorf("Read's Signature (%d bytes) differs from osslsigncode's extract-signature (%d bytes)", len(cab.Signature), len(extracted))
					}
					if err := Verify(signed, p.roots()); err != nil {
						t.Errorf("Verify: %v", err)
					}
				})
			}
		}
	}
}

func withTime(files []File, tm time.Time) []File {
	out := append([]File(nil), files...)
	for i := range out {
		out[i].Time = tm
	}
	return out
}

// TestSignLikeOsslsigncode has osslsigncode sign the same cabinet and
// compares: the cabinet part (header reserve, moved offsets) must be equal
// but for the signature length, and so must the signed indirect data with
// its digest.
func TestSignLikeOsslsigncode(t *testing.T) {
	p := newPKI(t, x509.SHA256WithRSA)
	unsigned, err := Build(fileSets()[4].files, Options{Compression: MSZIP, Time: goldenTime})
	if err != nil {
		t.Fatal(err)
	}
	for _, hash := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
		t.Run(hashName(hash), func(t *testing.T) {
			ours := p.sign(t, unsigned, hash)
			if !bytes.Equal(ours, p.sign(t, unsigned, hash)) {
				t.Error("signing twice with an RSA key gave different bytes")
			}
			out := filepath.Join(t.TempDir(), "theirs.cab")
			testtool.MustRun(t, nil, "osslsigncode", "sign", "-certs", p.path("chain.pem"), "-key", p.path("key.pem"),
				"-h", strings.ToLower(hashName(hash)), "-in", writeTemp(t, "unsigned.cab", unsigned), "-out", out)
			theirs, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			hOurs, err := parseHeader(ours)
			if err != nil {
				t.Fatal(err)
			}
			hTheirs, err := parseHeader(theirs)
			if err != nil {
				t.Fatal(err)
			}
			if hOurs.sigPos != hTheirs.sigPos {
				t.Fatalf("signature at %d, osslsigncode puts it at %d", hOurs.sigPos, hTheirs.sigPos)
			}
			a, b := bytes.Clone(ours[:hOurs.sigPos]), bytes.Clone(theirs[:hTheirs.sigPos])
			copy(a[48:52], b[48:52]) // the signature lengths differ
			if !bytes.Equal(a, b) {
				t.Errorf("signed cabinet differs from osslsigncode's before the signature\nours   %x\ntheirs %x", a[:120], b[:120])
			}
			sOurs, err := Read(ours)
			if err != nil {
				t.Fatal(err)
			}
			sTheirs, err := Read(theirs)
			if err != nil {
				t.Fatalf("Read of osslsigncode's cabinet: %v", err)
			}
			idcOurs, err := indirectData(sOurs.Signature)
			if err != nil {
				t.Fatal(err)
			}
			idcTheirs, err := indirectData(sTheirs.Signature)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(idcOurs.MessageDigest.Digest, idcTheirs.MessageDigest.Digest) ||
				!bytes.Equal(idcOurs.Data.Value.FullBytes, idcTheirs.Data.Value.FullBytes) ||
				!idcOurs.Data.Type.Equal(idcTheirs.Data.Type) {
				t.Errorf("indirect data differs from osslsigncode's:\nours   %+v\ntheirs %+v", idcOurs, idcTheirs)
			}
			if err := Verify(theirs, p.roots()); err != nil {
				t.Errorf("Verify of osslsigncode's signature: %v", err)
			}
		})
	}
}

// TestSignTampered changes one data byte after signing and clears that
// block's checksum, so the cabinet stays readable but the digest no longer
// matches: osslsigncode and Verify must both refuse it.
func TestSignTampered(t *testing.T) {
	p := newPKI(t, x509.SHA256WithRSA)
	unsigned, err := Build(goldenFiles(), Options{Time: goldenTime})
	if err != nil {
		t.Fatal(err)
	}
	signed := p.sign(t, unsigned, crypto.SHA256)
	at := firstFolder(t, signed).blocks[0].at
	le.PutUint32(signed[at:], 0)
	signed[at+dataHeaderSize+1] ^= 0x20
	if _, err := Read(signed); err != nil {
		t.Fatalf("tampered cabinet no longer reads: %v", err)
	}
	if out, ok := osslVerify(t, p, signed); ok || !strings.Contains(out, "MISMATCH") {
		t.Errorf("osslsigncode accepted the tampered cabinet or gave another reason:\n%s", out)
	}
	if err := Verify(signed, p.roots()); err == nil || !strings.Contains(err.Error(), "changed after signing") {
		t.Errorf("Verify: err = %v, want a digest mismatch", err)
	}
}

// TestSignSHA1Chain is the Windows Mobile case: a chain signed with SHA-1
// and a SHA-1 digest. osslsigncode accepts it; Go's x509 refuses SHA-1
// certificate signatures, so Verify must fail on the chain, and only there.
func TestSignSHA1Chain(t *testing.T) {
	p := newPKI(t, x509.SHA1WithRSA)
	unsigned, err := Build(goldenFiles(), Options{Time: goldenTime})
	if err != nil {
		t.Fatal(err)
	}
	signed := p.sign(t, unsigned, crypto.SHA1)
	if out, ok := osslVerify(t, p, signed); !ok {
		t.Fatalf("osslsigncode verify failed:\n%s", out)
	}
	checkExtracted(t, writeTemp(t, "signed.cab", signed), goldenFiles())
	if err := Verify(signed, p.roots()); err == nil || !strings.Contains(err.Error(), "insecure algorithm SHA1-RSA") {
		t.Errorf("Verify: err = %v, want Go's refusal of the SHA-1 chain", err)
	}
}

// TestSignECDSA signs with a P-256 leaf under the RSA intermediate, for
// modern Windows (Windows Mobile has no ECDSA): osslsigncode must verify it.
func TestSignECDSA(t *testing.T) {
	p := newPKI(t, x509.SHA256WithRSA)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := codeSigning("pushca test ECDSA code signing")
	tmpl.SerialNumber = big.NewInt(7)
	tmpl.NotBefore, tmpl.NotAfter = p.inter.NotBefore, p.inter.NotAfter
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.inter, &key.PublicKey, p.interKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	unsigned, err := Build(goldenFiles(), Options{Time: goldenTime})
	if err != nil {
		t.Fatal(err)
	}
	signed, err := Sign(unsigned, key, []*x509.Certificate{leaf, p.inter}, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if out, ok := osslVerify(t, p, signed); !ok {
		t.Fatalf("osslsigncode verify failed:\n%s", out)
	}
	if err := Verify(signed, p.roots()); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

// TestSignRefuses checks what Sign must not sign.
func TestSignRefuses(t *testing.T) {
	p := newPKI(t, x509.SHA256WithRSA)
	unsigned := mustHex(t, goldenHex)
	signed := p.sign(t, unsigned, crypto.SHA256)
	chain := []*x509.Certificate{p.leaf, p.inter}
	for _, c := range []struct {
		name  string
		cab   []byte
		key   crypto.Signer
		chain []*x509.Certificate
		hash  crypto.Hash
		want  string
	}{
		{"signed twice", signed, p.key, chain, crypto.SHA256, "already has a header reserve"},
		{"trailing bytes", append(bytes.Clone(unsigned), 0), p.key, chain, crypto.SHA256, "1 bytes follow"},
		{"wrong key", unsigned, p.interKey, chain, crypto.SHA256, "key does not match"},
		{"no chain", unsigned, p.key, nil, crypto.SHA256, "no signing certificate"},
		{"SHA-512", unsigned, p.key, chain, crypto.SHA512, "use SHA-1 or SHA-256"},
		{"not a cabinet", []byte("MZ"), p.key, chain, crypto.SHA256, "not a cabinet"},
	} {
		if _, err := Sign(c.cab, c.key, c.chain, c.hash); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
	if err := Verify(unsigned, p.roots()); err == nil || !strings.Contains(err.Error(), "not signed") {
		t.Errorf("Verify of an unsigned cabinet: %v", err)
	}
	if err := Verify(signed, x509.NewCertPool()); err == nil || !strings.Contains(err.Error(), "unknown authority") {
		t.Errorf("Verify against other roots: %v", err)
	}
}

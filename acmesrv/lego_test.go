package acmesrv_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-acme/lego/v4/certcrypto"

	"github.com/pushca/pushca/acmesrv"
	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/internal/acmetest"
	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/profile"
)

// lego gets a certificate from every family's directory with each
// challenge, and each is the family's: signed by its intermediate with its
// signature algorithm (openssl reads SHA-1/RSA-2048 for legacy, SHA-256
// for the modern families), accepted by every device profile the family
// serves, and in the CA's inventory with source acme.
func TestLegoObtainsEachFamilysLeaf(t *testing.T) {
	e := startACME(t)
	keyTypes := map[string]certcrypto.KeyType{"legacy": certcrypto.RSA2048, "modern": certcrypto.EC256, "modern-rsa": certcrypto.RSA2048}
	openssl := map[string][]string{
		"legacy":     {"Signature Algorithm: sha1WithRSAEncryption", "Public-Key: (2048 bit)"},
		"modern":     {"Signature Algorithm: ecdsa-with-SHA256", "Public-Key: (256 bit)"},
		"modern-rsa": {"Signature Algorithm: sha256WithRSAEncryption", "Public-Key: (2048 bit)"},
	}
	issued := map[string]string{} // serial -> family
	hosts := map[string]string{}  // serial -> name
	for _, f := range e.ca.Families() {
		for _, ch := range []string{"http-01", "tls-alpn-01"} {
			name := strings.ReplaceAll(f.Name+"-"+ch, "-", "") + ".acme.test"
			t.Run(f.Name+"/"+ch, func(t *testing.T) {
				res, err := e.obtain(t, f.Name, ch, keyTypes[f.Name], name)
				if err != nil {
					t.Fatalf("lego: %v", err)
				}
				chain := acmetest.Chain(t, res.Certificate)
				if len(chain) != 2 {
					t.Fatalf("bundle of %d certificates, want leaf and intermediate", len(chain))
				}
				leaf := chain[0]
				if err := profile.CheckSignedBy(leaf, e.ca.Intermediate(f.Name)); err != nil {
					t.Errorf("not signed by the %s intermediate: %v", f.Name, err)
				}
				if leaf.SignatureAlgorithm != f.Signature || leaf.Subject.CommonName != name {
					t.Errorf("signature %v, CN %q; want %v, %q", leaf.SignatureAlgorithm, leaf.Subject.CommonName, f.Signature, name)
				}
				for _, p := range profile.ProfilesServedBy(f) {
					if errs := p.Check(leaf, profile.Leaf); len(errs) > 0 {
						t.Errorf("profile %s refuses the ACME leaf: %v", p.Name, errs)
					}
				}
				pemFile := filepath.Join(t.TempDir(), "cert.pem")
				if err := os.WriteFile(pemFile, res.Certificate, 0o600); err != nil {
					t.Fatal(err)
				}
				text := string(testtool.MustRun(t, nil, "openssl", "x509", "-in", pemFile, "-noout", "-text"))
				for _, want := range openssl[f.Name] {
					if !strings.Contains(text, want) {
						t.Errorf("openssl does not show %q:\n%s", want, text)
					}
				}
				issued[leaf.SerialNumber.String()], hosts[leaf.SerialNumber.String()] = f.Name, name
			})
		}
	}
	recs, err := e.ca.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if fam, ok := issued[r.Serial]; ok {
			if r.Source != ca.SourceACME || r.Family != fam || r.Host != hosts[r.Serial] || r.State != ca.StateActive {
				t.Errorf("listed as %+v; want source acme, family %s, host %s, active", r, fam, hosts[r.Serial])
			}
			delete(issued, r.Serial)
		}
	}
	if len(issued) > 0 {
		t.Errorf("ACME certificates missing from the inventory: %v", issued)
	}
}

// What a family's devices would reject is refused with the ACME error for
// it and the family's reason: a wildcard where devices match exact names,
// at the order; an ECDSA key where they take RSA only, at finalize. A
// wildcard a family allows needs dns-01, which is not offered, and an
// unknown family's directory names the ones there are.
func TestRefusalsAreACMEErrors(t *testing.T) {
	e := startACME(t)
	for _, tc := range []struct {
		family, name string
		key          certcrypto.KeyType
		want         []string
	}{
		{"legacy", "*.acme.test", certcrypto.RSA2048, []string{"urn:ietf:params:acme:error:rejectedIdentifier", "wildcard name *.acme.test; the legacy chain family's devices match exact names only"}},
		{"legacy", "ec.acme.test", certcrypto.EC256, []string{"urn:ietf:params:acme:error:badCSR", "ECDSA key; the legacy chain family's devices support RSA keys only"}},
		{"legacy", "big.acme.test", certcrypto.RSA4096, []string{"urn:ietf:params:acme:error:badCSR", "RSA key of 4096 bits; the legacy chain family's devices are known to work only with 2048-bit keys"}},
		{"modern", "*.acme.test", certcrypto.EC256, []string{"urn:ietf:params:acme:error:rejectedIdentifier", "only with dns-01"}},
	} {
		t.Run(tc.family+"/"+tc.name+"/"+string(tc.key), func(t *testing.T) {
			res, err := e.obtain(t, tc.family, "http-01", tc.key, tc.name)
			if err == nil {
				t.Fatalf("issued %s", acmetest.Chain(t, res.Certificate)[0].Subject)
			}
			t.Logf("lego: %v", err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("lego's error lacks %q: %v", w, err)
				}
			}
		})
	}
	resp, err := e.client.Get(e.url + acmesrv.Prefix + "/nosuch/directory")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var problem struct{ Type, Detail string }
	if err := json.NewDecoder(resp.Body).Decode(&problem); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != "application/problem+json" ||
		!strings.Contains(problem.Detail, "/acme/legacy/directory, /acme/modern/directory, /acme/modern-rsa/directory") {
		t.Errorf("unknown family: %d %s %+v", resp.StatusCode, resp.Header.Get("Content-Type"), problem)
	}
}

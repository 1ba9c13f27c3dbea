package ca

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushca/pushca/internal/testtool"
)

// verifyCRLChain runs `openssl verify -crl_check_all`: a CRL for the leaf
// from the intermediate and one for the intermediate from the root, as a
// client that checks the whole chain needs them.
func verifyCRLChain(t *testing.T, legacy bool, root, inter, leaf string, crls ...string) (string, error) {
	t.Helper()
	args := []string{"verify", "-crl_check_all"}
	if legacy {
		args = append(args, "-auth_level", "0")
	}
	for _, crl := range crls {
		pem := filepath.Join(t.TempDir(), "crl.pem")
		testtool.MustRun(t, nil, "openssl", "crl", "-inform", "DER", "-in", crl, "-out", pem)
		args = append(args, "-CRLfile", pem)
	}
	args = append(args, "-CAfile", root, "-untrusted", inter, leaf)
	out, errb, err := testtool.Run(t, nil, "openssl", args...)
	return string(out) + string(errb), err
}

// copyFile keeps a file as it is now, for a check after it changes.
func copyFile(t *testing.T, path string) string {
	t.Helper()
	cp := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(cp, testtool.ReadFile(t, path), 0o600); err != nil {
		t.Fatal(err)
	}
	return cp
}

// With a CRL URL, each intermediate names the root's CRL, so `openssl
// verify -crl_check_all` finds a CRL for every link of the chain: it passes
// for a live leaf, and fails once the leaf, or its intermediate, is revoked.
func TestCRLChainChecksWithOpenSSL(t *testing.T) {
	ctx := context.Background()
	const url = "http://mail.example.com/pushca.crl"
	c := newCAWith(t, InitOptions{Families: []string{"legacy", "modern"}, Password: testPassword, CRLURL: url})
	l := c.layout
	for _, s := range c.Slots() {
		t.Run(s.Family, func(t *testing.T) {
			legacy := s.Family == "legacy"
			cdp := string(testtool.MustRun(t, nil, "openssl", "x509", "-in", l.IntermediateCert(s), "-noout", "-ext", "crlDistributionPoints"))
			if !strings.Contains(cdp, "http://mail.example.com/pushca-root.crl") {
				t.Fatalf("intermediate's distribution point is not the root CRL:\n%s", cdp)
			}
			live, err := one(c.Issue(ctx, IssueRequest{Host: "live.example.com", Families: []string{s.Family}}))
			if err != nil {
				t.Fatal(err)
			}
			gone, err := one(c.Issue(ctx, IssueRequest{Host: "gone.example.com", Families: []string{s.Family}}))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Revoke(ctx, "gone.example.com", "key-compromise", 1, s.Family); err != nil {
				t.Fatal(err)
			}
			inter := copyFile(t, l.IntermediateCert(s))
			leafCRL := copyFile(t, l.CRL(s))
			if out, err := verifyCRLChain(t, legacy, l.RootCert(), inter, live.CertFile, l.RootCRL(), leafCRL); err != nil {
				t.Fatalf("a live leaf fails -crl_check_all: %v\n%s", err, out)
			}
			if out, err := verifyCRLChain(t, legacy, l.RootCert(), inter, gone.CertFile, l.RootCRL(), leafCRL); err == nil || !strings.Contains(out, "revoked") {
				t.Errorf("a revoked leaf: %v\n%s", err, out)
			}
			// Without the root's CRL the chain cannot be checked at all.
			if out, err := verifyCRLChain(t, legacy, l.RootCert(), inter, live.CertFile, leafCRL); err == nil {
				t.Errorf("-crl_check_all passed with no CRL for the intermediate:\n%s", out)
			}
			oldSerial := c.issuer(s.Family).inter.SerialNumber.String()
			if _, _, err := c.RevokeIntermediate(ctx, testPassword, oldSerial, "", 0, false); err == nil || !strings.Contains(err.Error(), "rotate it first") {
				t.Errorf("revoking a family's current intermediate without --force: %v", err)
			}
			if err := c.RotateIntermediate(ctx, testPassword, 0, s.Family); err != nil {
				t.Fatal(err)
			}
			rec, crl, err := c.RevokeIntermediate(ctx, testPassword, oldSerial, "ca-compromise", 2, false)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Family != s.Family || crl.Path != l.RootCRL() {
				t.Errorf("revoked %+v, CRL %s", rec, crl.Path)
			}
			out, err := verifyCRLChain(t, legacy, l.RootCert(), inter, live.CertFile, l.RootCRL(), leafCRL)
			if err == nil || !strings.Contains(out, "revoked") {
				t.Errorf("a leaf under a revoked intermediate: %v\n%s", err, out)
			}
			text := string(testtool.MustRun(t, nil, "openssl", "crl", "-inform", "DER", "-in", l.RootCRL(), "-noout", "-text"))
			if !strings.Contains(text, "CA Compromise") {
				t.Errorf("root CRL lacks the reason:\n%s", text)
			}
			if _, _, err := c.RevokeIntermediate(ctx, testPassword, oldSerial, "", 0, false); err == nil || !strings.Contains(err.Error(), "already revoked") {
				t.Errorf("second revocation: %v", err)
			}
			// The next root CRL keeps it, numbered higher.
			before := readCRL(l.RootCRL())
			if _, err := c.RootCRL(ctx, testPassword); err != nil {
				t.Fatal(err)
			}
			after := readCRL(l.RootCRL())
			if after.Number.Cmp(before.Number) <= 0 || len(after.RevokedCertificateEntries) < len(before.RevokedCertificateEntries) {
				t.Errorf("root CRL %v → %v, entries %d → %d", before.Number, after.Number, len(before.RevokedCertificateEntries), len(after.RevokedCertificateEntries))
			}
		})
	}
	c.Close()
	r, err := OpenReader(ctx, l.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if p, err := r.Check(ctx); err != nil || len(p) != 0 {
		t.Errorf("ca check after revoking intermediates: %q %v", p, err)
	}
}

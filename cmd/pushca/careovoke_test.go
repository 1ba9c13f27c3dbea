package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/internal/testtool"
)

// An operator who rotates an intermediate they fear is compromised and
// revokes it: `ca rotate-intermediate` names the old serial and the
// command, `ca revoke-intermediate` puts it in the root's CRL, `ca crl
// --out` publishes that beside the families' CRLs, and openssl then refuses
// a certificate under the old intermediate.
func TestRevokeARotatedIntermediate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	env := passwordEnv(t, "fleet password")
	mustPushca(t, env, "--dir", dir, "init", "--host", "mail.example.com", "--profiles", "ios", "--crl-url", "http://mail.example.com/pushca.crl")
	l := ca.Layout{Dir: dir}
	oldInter := filepath.Join(t.TempDir(), "old-inter.pem")
	if err := os.WriteFile(oldInter, testtool.ReadFile(t, l.IntermediateCert(ca.Slot{})), 0o600); err != nil {
		t.Fatal(err)
	}
	oldLeaf := filepath.Join(t.TempDir(), "old-leaf.pem")
	if err := os.WriteFile(oldLeaf, testtool.ReadFile(t, l.ServerCert("mail.example.com", ca.Slot{})), 0o600); err != nil {
		t.Fatal(err)
	}
	oldCRL := filepath.Join(t.TempDir(), "old-crl.der")
	if err := os.WriteFile(oldCRL, testtool.ReadFile(t, l.CRL(ca.Slot{})), 0o600); err != nil {
		t.Fatal(err)
	}

	if r := runPushca(t, env, "--dir", dir, "ca", "revoke-intermediate"); r.code == 0 || !strings.Contains(r.stderr, "exactly one SERIAL") {
		t.Errorf("no serial: exit %d\n%s", r.code, r.stderr)
	}
	out := mustPushca(t, env, "--dir", dir, "ca", "rotate-intermediate")
	m := regexp.MustCompile(`pushca ca revoke-intermediate (\d+) --reason ca-compromise`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("rotate-intermediate does not say how to revoke the old one:\n%s", out)
	}
	out = mustPushca(t, env, "--dir", dir, "ca", "revoke-intermediate", m[1], "--reason", "ca-compromise")
	if !strings.Contains(out, "revoked the modern intermediate") || !strings.Contains(out, l.RootCRL()) {
		t.Errorf("revoke-intermediate output:\n%s", out)
	}
	if r := runPushca(t, env, "--dir", dir, "ca", "revoke-intermediate", m[1]); r.code == 0 || !strings.Contains(r.stderr, "already revoked") {
		t.Errorf("second revocation: exit %d\n%s", r.code, r.stderr)
	}
	pub := filepath.Join(t.TempDir(), "pushca.crl")
	out = mustPushca(t, env, "--dir", dir, "ca", "crl", "--out", pub)
	if !strings.Contains(out, "root CRL copied to "+strings.TrimSuffix(pub, ".crl")+"-root.crl") {
		t.Errorf("ca crl --out does not publish the root CRL:\n%s", out)
	}
	text := string(testtool.MustRun(t, nil, "openssl", "crl", "-inform", "DER", "-in", strings.TrimSuffix(pub, ".crl")+"-root.crl", "-noout", "-text"))
	if !strings.Contains(text, "CA Compromise") {
		t.Errorf("published root CRL:\n%s", text)
	}
	pemOf := func(der string) string {
		p := der + ".pem"
		testtool.MustRun(t, nil, "openssl", "crl", "-inform", "DER", "-in", der, "-out", p)
		return p
	}
	_, errb, err := testtool.Run(t, nil, "openssl", "verify", "-crl_check_all", "-CRLfile", pemOf(oldCRL), "-CRLfile", pemOf(l.RootCRL()),
		"-CAfile", l.RootCert(), "-untrusted", oldInter, oldLeaf)
	if err == nil || !strings.Contains(string(errb), "revoked") {
		t.Errorf("openssl accepted a leaf under the revoked intermediate: %v\n%s", err, errb)
	}
	if out := mustPushca(t, env, "--dir", dir, "ca", "check"); strings.Contains(out, "root CRL") {
		t.Errorf("ca check:\n%s", out)
	}
}

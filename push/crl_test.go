package push

import (
	"context"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/internal/testtool"
)

// TestCRLOnPlainHTTP fetches the CRL from the enrollment listener with curl
// and lets openssl judge it: it parses as DER, names the revoked
// certificate, and `openssl verify -crl_check` accepts the served leaf and
// refuses the revoked one. The issued leaf names the URL as its CRL
// distribution point.
func TestCRLOnPlainHTTP(t *testing.T) {
	testtool.Path(t, "curl")
	testtool.Path(t, "openssl")
	const url = "http://" + testHost + CRLPath
	tmp := t.TempDir()
	pemFile := func(name string, der []byte) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var revokedSerial, revokedLeaf, interFile string
	ts := startCAServer(t, url, func(authority *ca.CA) {
		ctx := context.Background()
		is, err := authority.Issue(ctx, ca.IssueRequest{Host: "lost.test", Days: 1})
		if err != nil {
			t.Fatal(err)
		}
		revokedLeaf, revokedSerial = pemFile("lost.pem", is.Chain[0].Raw), is.Record.Serial
		interFile = pemFile("inter.pem", authority.Intermediate().Raw)
		if _, err := authority.Revoke(ctx, "lost.test", "keyCompromise", 1); err != nil {
			t.Fatal(err)
		}
	}, nil)
	leaf := ca.Layout{Dir: ts.dir}.ServerCert(testHost)

	crlDER := filepath.Join(tmp, "crl.der")
	headers := testtool.MustRun(t, nil, "curl", "-sS", "--max-time", "30", "-D", "-", "-o", crlDER, "http://"+ts.HTTPAddr()+CRLPath)
	if !strings.HasPrefix(string(headers), "HTTP/1.1 200") || !strings.Contains(string(headers), "Content-Type: application/pkix-crl") {
		t.Fatalf("CRL response headers:\n%s", headers)
	}
	text := string(testtool.MustRun(t, nil, "openssl", "crl", "-inform", "DER", "-in", crlDER, "-noout", "-text"))
	if !strings.Contains(text, "Certificate Revocation List") || !strings.Contains(text, "Key Compromise") {
		t.Fatalf("openssl crl:\n%s", text)
	}
	serialHex := strings.TrimSpace(string(testtool.MustRun(t, nil, "openssl", "x509", "-in", revokedLeaf, "-noout", "-serial")))
	if !strings.Contains(strings.ReplaceAll(text, ":", ""), strings.TrimPrefix(serialHex, "serial=")) {
		t.Fatalf("the CRL does not list serial %s (%s):\n%s", serialHex, revokedSerial, text)
	}
	ext := string(testtool.MustRun(t, nil, "openssl", "x509", "-in", leaf, "-noout", "-ext", "crlDistributionPoints"))
	if !strings.Contains(ext, "URI:"+url) {
		t.Fatalf("the served leaf's CRL distribution points:\n%s", ext)
	}

	crlPEM := filepath.Join(tmp, "crl.pem")
	testtool.MustRun(t, nil, "openssl", "crl", "-inform", "DER", "-in", crlDER, "-out", crlPEM)
	verify := func(cert string) (string, error) {
		out, errb, err := testtool.Run(t, nil, "openssl", "verify", "-crl_check", "-CAfile", ts.rootPath, "-untrusted", interFile, "-CRLfile", crlPEM, cert)
		return string(out) + string(errb), err
	}
	if out, err := verify(leaf); err != nil || !strings.Contains(out, ": OK") {
		t.Fatalf("openssl verify -crl_check of the served leaf: %v\n%s", err, out)
	}
	if out, err := verify(revokedLeaf); err == nil || !strings.Contains(out, "certificate revoked") {
		t.Fatalf("openssl verify -crl_check of the revoked leaf: %v\n%s", err, out)
	}
}

// TestCRLMissingOrDamaged: no file is a 404 that says what to run, and a
// damaged file is never served.
func TestCRLMissingOrDamaged(t *testing.T) {
	ts := startServer(t, HeartbeatBounds{1, 3540})
	get := func() (int, string) {
		resp, err := http.Get("http://" + ts.HTTPAddr() + CRLPath)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, readAll(t, resp)
	}
	if code, body := get(); code != 404 || !strings.Contains(body, "pushca ca crl") {
		t.Fatalf("without a CRL: %d %s", code, body)
	}
	writeFile(t, ca.Layout{Dir: ts.dir}.CRL(), []byte("not a CRL"))
	if code, body := get(); code != 503 || strings.Contains(body, "not a CRL") {
		t.Fatalf("with a damaged CRL: %d %s", code, body)
	}
}

// TestAutoRenewGeneratesCRL: a state directory without a CRL gets one as
// soon as serve --auto-renew starts, and the listener serves it.
func TestAutoRenewGeneratesCRL(t *testing.T) {
	testtool.Path(t, "curl")
	testtool.Path(t, "openssl")
	var crlPath string
	ts := startCAServer(t, "", func(authority *ca.CA) {
		crlPath = authority.Layout().CRL()
		if err := os.Remove(crlPath); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}, func(cfg *Config) {
		pw := []byte(testCAPassword)
		cfg.AutoRenew = &AutoRenew{Renew: RenewWithCA(cfg.Dir, testHost, pw, cfg.Log), CRL: CRLWithCA(cfg.Dir, pw, cfg.Log)}
	})
	waitFor(t, func() bool { return exists(crlPath) })
	out := filepath.Join(t.TempDir(), "crl.der")
	testtool.MustRun(t, nil, "curl", "-sSf", "--max-time", "30", "-o", out, "http://"+ts.HTTPAddr()+CRLPath)
	text := string(testtool.MustRun(t, nil, "openssl", "crl", "-inform", "DER", "-in", out, "-noout", "-text"))
	if !strings.Contains(text, "Next Update") || !strings.Contains(text, "No Revoked Certificates") {
		t.Fatalf("openssl crl:\n%s", text)
	}
}

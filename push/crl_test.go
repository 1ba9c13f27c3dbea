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
	"github.com/pushca/pushca/profile"
	"github.com/pushca/pushca/push/enroll"
)

// TestCRLOnPlainHTTP fetches each chain family's CRL from the enrollment
// listener with curl and lets openssl judge it: it parses as DER, names the
// certificate revoked in that family, and `openssl verify -crl_check_all`,
// given the root's CRL served beside it, accepts the served leaf and
// refuses the revoked one. Each issued leaf
// names its family's URL as its CRL distribution point.
func TestCRLOnPlainHTTP(t *testing.T) {
	testtool.Path(t, "curl")
	testtool.Path(t, "openssl")
	const url = "http://" + testHost + enroll.CRLPath
	tmp := t.TempDir()
	pemFile := func(name string, der []byte) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	type revoked struct{ serial, leaf, inter string }
	lost := map[string]revoked{} // by family
	var slots []ca.Slot
	ts := startCAServer(t, []string{profile.FamilyLegacy, profile.FamilyModern}, url, func(authority *ca.CA) {
		ctx := context.Background()
		issued, err := authority.Issue(ctx, ca.IssueRequest{Host: "lost.test", Days: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, is := range issued {
			f := is.Record.Family
			lost[f] = revoked{is.Record.Serial, pemFile(f+"-lost.pem", is.Chain[0].Raw), pemFile(f+"-inter.pem", authority.Intermediate(f).Raw)}
		}
		if recs, err := authority.Revoke(ctx, "lost.test", "keyCompromise", 1); err != nil || len(recs) != 2 {
			t.Fatalf("revoked %d certificates of lost.test, want one per family: %v", len(recs), err)
		}
		slots = authority.Slots()
	}, nil)

	for _, sl := range slots {
		t.Run(sl.Family, func(t *testing.T) {
			// OpenSSL refuses SHA-1 signatures above level 0, on CRLs too.
			level := []string{}
			if sl.Family == profile.FamilyLegacy {
				level = []string{"-auth_level", "0"}
			}
			leaf := ca.Layout{Dir: ts.dir}.ServerCert(testHost, sl)
			crlDER := filepath.Join(tmp, sl.Family+"-crl.der")
			headers := testtool.MustRun(t, nil, "curl", "-sS", "--max-time", "30", "-D", "-", "-o", crlDER, "http://"+ts.HTTPAddr()+enroll.CRLPathFor(sl))
			if !strings.HasPrefix(string(headers), "HTTP/1.1 200") || !strings.Contains(string(headers), "Content-Type: application/pkix-crl") {
				t.Fatalf("CRL response headers:\n%s", headers)
			}
			text := string(testtool.MustRun(t, nil, "openssl", "crl", "-inform", "DER", "-in", crlDER, "-noout", "-text"))
			if !strings.Contains(text, "Certificate Revocation List") || !strings.Contains(text, "Key Compromise") {
				t.Fatalf("openssl crl:\n%s", text)
			}
			gone := lost[sl.Family]
			serialHex := strings.TrimSpace(string(testtool.MustRun(t, nil, "openssl", "x509", "-in", gone.leaf, "-noout", "-serial")))
			if !strings.Contains(strings.ReplaceAll(text, ":", ""), strings.TrimPrefix(serialHex, "serial=")) {
				t.Fatalf("the CRL does not list serial %s (%s):\n%s", serialHex, gone.serial, text)
			}
			if n := strings.Count(text, "Serial Number:"); n != 1 {
				t.Fatalf("the CRL lists %d serials, want only its own family's one:\n%s", n, text)
			}
			ext := string(testtool.MustRun(t, nil, "openssl", "x509", "-in", leaf, "-noout", "-ext", "crlDistributionPoints"))
			if want := "URI:http://" + testHost + enroll.CRLPathFor(sl); !strings.Contains(ext, want+"\n") {
				t.Fatalf("the served leaf's CRL distribution points lack %s:\n%s", want, ext)
			}

			// The intermediate names the root's CRL, served beside the
			// families': with both, OpenSSL checks the whole chain.
			ext = string(testtool.MustRun(t, nil, "openssl", "x509", "-in", gone.inter, "-noout", "-ext", "crlDistributionPoints"))
			if want := "URI:http://" + testHost + enroll.RootCRLPath; !strings.Contains(ext, want+"\n") {
				t.Fatalf("the intermediate's CRL distribution points lack %s:\n%s", want, ext)
			}
			rootDER := filepath.Join(tmp, sl.Family+"-root-crl.der")
			testtool.MustRun(t, nil, "curl", "-sSf", "--max-time", "30", "-o", rootDER, "http://"+ts.HTTPAddr()+enroll.RootCRLPath)
			crlPEM := filepath.Join(tmp, sl.Family+"-crl.pem")
			testtool.MustRun(t, nil, "openssl", "crl", "-inform", "DER", "-in", crlDER, "-out", crlPEM)
			rootPEM := filepath.Join(tmp, sl.Family+"-root-crl.pem")
			testtool.MustRun(t, nil, "openssl", "crl", "-inform", "DER", "-in", rootDER, "-out", rootPEM)
			verify := func(cert string) (string, error) {
				args := append([]string{"verify", "-crl_check_all", "-CAfile", ts.rootPath, "-untrusted", gone.inter, "-CRLfile", crlPEM, "-CRLfile", rootPEM}, level...)
				out, errb, err := testtool.Run(t, nil, "openssl", append(args, cert)...)
				return string(out) + string(errb), err
			}
			if out, err := verify(leaf); err != nil || !strings.Contains(out, ": OK") {
				t.Fatalf("openssl verify -crl_check_all of the served leaf: %v\n%s", err, out)
			}
			if out, err := verify(gone.leaf); err == nil || !strings.Contains(out, "certificate revoked") {
				t.Fatalf("openssl verify -crl_check_all of the revoked leaf: %v\n%s", err, out)
			}
		})
	}
}

// TestCRLMissingOrDamaged: no file is a 404 that says what to run, and a
// damaged file is never served.
func TestCRLMissingOrDamaged(t *testing.T) {
	ts := startCAServer(t, []string{profile.FamilyModern}, "", func(authority *ca.CA) {
		if err := os.Remove(authority.Layout().CRL(ca.Slot{})); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}, nil)
	get := func() (int, string) {
		resp, err := http.Get("http://" + ts.HTTPAddr() + enroll.CRLPath)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, testtool.ReadBody(t, resp)
	}
	if code, body := get(); code != 404 || !strings.Contains(body, "pushca ca crl") {
		t.Fatalf("without a CRL: %d %s", code, body)
	}
	writeFile(t, ca.Layout{Dir: ts.dir}.CRL(ca.Slot{}), []byte("not a CRL"))
	if code, body := get(); code != 503 || strings.Contains(body, "not a CRL") {
		t.Fatalf("with a damaged CRL: %d %s", code, body)
	}
}

// TestAutoRenewGeneratesCRL: a state directory without CRLs gets one per
// chain family as soon as serve --auto-renew starts, and the listener
// serves each.
func TestAutoRenewGeneratesCRL(t *testing.T) {
	testtool.Path(t, "curl")
	testtool.Path(t, "openssl")
	var slots []ca.Slot
	var l ca.Layout
	ts := startCAServer(t, []string{profile.FamilyLegacy, profile.FamilyModern}, "", func(authority *ca.CA) {
		slots, l = authority.Slots(), authority.Layout()
		for _, sl := range slots {
			if err := os.Remove(l.CRL(sl)); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
		}
	}, func(cfg *Config) {
		pw := []byte(testCAPassword)
		cfg.AutoRenew = &AutoRenew{Renew: RenewWithCA(cfg.Dir, testHost, pw, cfg.Log), CRL: CRLWithCA(cfg.Dir, pw, cfg.Log)}
	})
	for _, sl := range slots {
		testtool.WaitFor(t, func() bool { return exists(l.CRL(sl)) })
		out := filepath.Join(t.TempDir(), "crl.der")
		testtool.MustRun(t, nil, "curl", "-sSf", "--max-time", "30", "-o", out, "http://"+ts.HTTPAddr()+enroll.CRLPathFor(sl))
		text := string(testtool.MustRun(t, nil, "openssl", "crl", "-inform", "DER", "-in", out, "-noout", "-text"))
		if !strings.Contains(text, "Next Update") || !strings.Contains(text, "No Revoked Certificates") {
			t.Fatalf("%s: openssl crl:\n%s", sl.Family, text)
		}
	}
}

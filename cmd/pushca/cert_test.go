package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/internal/testtool"
)

func TestCertLifecycleThroughTheBinary(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	env := passwordEnv(t, "fleet password")
	out := mustPushca(t, env, "--dir", dir, "init", "--host", "mail.example.com", "--profile", "wm6", "--san", "autodiscover.example.com")
	if !strings.Contains(out, "profile wm6") || !strings.Contains(out, "SHA1-RSA") {
		t.Errorf("init output:\n%s", out)
	}
	l := ca.Layout{Dir: dir}
	testtool.MustRun(t, nil, "openssl", "verify", "-auth_level", "0", "-CAfile", l.RootCert(), "-untrusted", l.IntermediateCert(), l.ServerCert("mail.example.com"))

	// Flags after the argument, as users type them.
	var issued struct {
		ca.Record
		ChainFile string `json:"chainFile"`
	}
	out = mustPushca(t, env, "--dir", dir, "cert", "issue", "push.example.com", "--ip", "127.0.0.1", "--days", "10", "--json")
	if err := json.Unmarshal([]byte(out), &issued); err != nil {
		t.Fatalf("issue --json: %v\n%s", err, out)
	}
	if issued.Host != "push.example.com" || len(issued.IPs) != 1 || issued.Profile != "wm6" {
		t.Errorf("issued %+v", issued.Record)
	}
	san := string(testtool.MustRun(t, nil, "openssl", "x509", "-in", issued.ChainFile, "-noout", "-ext", "subjectAltName"))
	if !strings.Contains(san, "IP Address:127.0.0.1") {
		t.Errorf("--ip after the argument was lost: %s", san)
	}

	var recs []ca.Record
	if err := json.Unmarshal([]byte(mustPushca(t, env, "--dir", dir, "cert", "list", "--json")), &recs); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("list: %+v", recs)
	}

	if r := runPushca(t, env, "--dir", dir, "cert", "status", "--within", "30d"); r.code != 3 || !strings.Contains(r.stdout, "push.example.com") {
		t.Errorf("status within 30d: exit %d (want 3)\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runPushca(t, env, "--dir", dir, "cert", "status", "--within", "5d"); r.code != 0 {
		t.Errorf("status within 5d: exit %d (want 0)\n%s", r.code, r.stderr)
	}

	mustPushca(t, env, "--dir", dir, "cert", "renew", "push.example.com")
	mustPushca(t, env, "--dir", dir, "cert", "rotate", "mail.example.com")
	out = mustPushca(t, env, "--dir", dir, "cert", "revoke", "push.example.com", "--reason", "superseded")
	if !strings.Contains(out, "revoked") {
		t.Errorf("revoke output: %s", out)
	}
	crl := string(testtool.MustRun(t, nil, "openssl", "crl", "-inform", "DER", "-in", l.CRL(), "-noout", "-text"))
	if !strings.Contains(crl, "Superseded") {
		t.Errorf("CRL lacks the revocation:\n%s", crl)
	}
	out = mustPushca(t, env, "--dir", dir, "ca", "rotate-intermediate", "--json")
	var rot struct {
		Intermediate string      `json:"intermediate"`
		Reissued     []ca.Record `json:"reissued"`
	}
	if err := json.Unmarshal([]byte(out), &rot); err != nil || !strings.HasSuffix(rot.Intermediate, "G2") || len(rot.Reissued) != 1 || rot.Reissued[0].Host != "mail.example.com" {
		t.Errorf("rotate-intermediate: %v %s", err, out)
	}
	issuer := string(testtool.MustRun(t, nil, "openssl", "x509", "-in", l.ServerCert("mail.example.com"), "-noout", "-issuer"))
	if !strings.Contains(issuer, "G2") {
		t.Errorf("server certificate not reissued under the new intermediate: %s", issuer)
	}
	testtool.MustRun(t, nil, "openssl", "verify", "-auth_level", "0", "-CAfile", l.RootCert(), "-untrusted", l.ServerChain("mail.example.com"), l.ServerCert("mail.example.com"))
	out = mustPushca(t, env, "--dir", dir, "ca", "inspect", "--json")
	var info map[string]any
	if err := json.Unmarshal([]byte(out), &info); err != nil || info["profile"] != "wm6" {
		t.Errorf("inspect: %v %s", err, out)
	}
}

func TestBadInputExitsNonZeroWithReason(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	env := passwordEnv(t, "right")
	mustPushca(t, env, "--dir", dir, "init", "--host", "mail.example.com")
	cases := []struct {
		env  []string
		args []string
		want string
	}{
		{nil, []string{"cert", "list"}, "no CA password"},
		{passwordEnv(t, "wrong"), []string{"cert", "list"}, "wrong CA password"},
		{env, []string{"cert", "issue", "mail.example.com"}, "already has an active certificate"},
		{env, []string{"cert", "issue", "*.example.com"}, "do not match wildcards"},
		{env, []string{"cert", "issue", "a.example.com", "--ip", "300.1.1.1"}, `--ip "300.1.1.1"`},
		{env, []string{"cert", "issue", "a.example.com", "--profile", "ios"}, "ios devices reject SHA-1"},
		{env, []string{"cert", "issue", "a.example.com", "--csr", "/nonexistent.csr"}, "--csr /nonexistent.csr"},
		{env, []string{"cert", "status", "--within", "soon"}, `--within "soon"`},
		{env, []string{"cert", "revoke", "nobody.example.com"}, "neither a serial number"},
		{env, []string{"init", "--host", "x.example.com"}, "already holds a CA"},
		{[]string{"PUSHCA_PASSWORD_FILE=/nonexistent/pw"}, []string{"cert", "list"}, "read password file /nonexistent/pw"},
	}
	for _, tc := range cases {
		r := runPushca(t, tc.env, append([]string{"--dir", dir}, tc.args...)...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("pushca %v: exit %d, stderr %q; want non-zero and %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	if r := runPushca(t, env, "--dir", filepath.Join(t.TempDir(), "none"), "cert", "list"); r.code == 0 || !strings.Contains(r.stderr, "pushca init") {
		t.Errorf("uninitialised dir: exit %d %q", r.code, r.stderr)
	}
}

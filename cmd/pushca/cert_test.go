package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/internal/testtool"
)

func TestCertLifecycleThroughTheBinary(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	env := passwordEnv(t, "fleet password")
	out := mustPushca(t, env, "--dir", dir, "init", "--host", "mail.example.com", "--profiles", "wm6,ios", "--san", "autodiscover.example.com")
	for _, want := range []string{"chain families legacy, modern", "(legacy family, RSA 2048, SHA1-RSA)", "(modern family, ECDSA P-256, ECDSA-SHA256)"} {
		if !strings.Contains(out, want) {
			t.Errorf("init output lacks %q:\n%s", want, out)
		}
	}
	l := ca.Layout{Dir: dir}
	slots, err := ca.ReadSlots(dir)
	if err != nil || len(slots) != 2 {
		t.Fatalf("slots: %v %v", slots, err)
	}
	legacy, modern := slots[0], slots[1]
	testtool.MustRun(t, nil, "openssl", "verify", "-auth_level", "0", "-CAfile", l.RootCert(), "-untrusted", l.IntermediateCert(legacy), l.ServerCert("mail.example.com", legacy))
	testtool.MustRun(t, nil, "openssl", "verify", "-CAfile", l.RootCert(), "-untrusted", l.IntermediateCert(modern), l.ServerCert("mail.example.com", modern))

	// Flags after the argument, as users type them.
	var issued []struct {
		ca.Record
		ChainFile string `json:"chainFile"`
	}
	out = mustPushca(t, env, "--dir", dir, "cert", "issue", "push.example.com", "--ip", "127.0.0.1", "--days", "10", "--json")
	if err := json.Unmarshal([]byte(out), &issued); err != nil {
		t.Fatalf("issue --json: %v\n%s", err, out)
	}
	if len(issued) != 2 || issued[0].Family != "legacy" || issued[1].Family != "modern" {
		t.Fatalf("issued %+v", issued)
	}
	for _, is := range issued {
		if is.Host != "push.example.com" || len(is.IPs) != 1 {
			t.Errorf("issued %+v", is.Record)
		}
		san := string(testtool.MustRun(t, nil, "openssl", "x509", "-in", is.ChainFile, "-noout", "-ext", "subjectAltName"))
		if !strings.Contains(san, "IP Address:127.0.0.1") {
			t.Errorf("--ip after the argument was lost: %s", san)
		}
	}

	var recs []ca.Record
	if err := json.Unmarshal([]byte(mustPushca(t, env, "--dir", dir, "cert", "list", "--json")), &recs); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 {
		t.Fatalf("list: %+v", recs)
	}
	if table := mustPushca(t, env, "--dir", dir, "cert", "list"); !strings.Contains(table, "FAMILY") || strings.Count(table, "modern") != 2 {
		t.Errorf("cert list does not show the family:\n%s", table)
	}

	if r := runPushca(t, env, "--dir", dir, "cert", "status", "--within", "30d"); r.code != 3 || !strings.Contains(r.stdout, "push.example.com") {
		t.Errorf("status within 30d: exit %d (want 3)\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runPushca(t, env, "--dir", dir, "cert", "status", "--within", "5d"); r.code != 0 {
		t.Errorf("status within 5d: exit %d (want 0)\n%s", r.code, r.stderr)
	}

	if out := mustPushca(t, env, "--dir", dir, "cert", "renew", "push.example.com", "--family", "modern"); strings.Count(out, "issued") != 1 || !strings.Contains(out, "modern family") {
		t.Errorf("renew --family modern:\n%s", out)
	}
	if out := mustPushca(t, env, "--dir", dir, "cert", "rotate", "mail.example.com"); strings.Count(out, "issued") != 2 {
		t.Errorf("rotate of both families:\n%s", out)
	}
	out = mustPushca(t, env, "--dir", dir, "cert", "revoke", "push.example.com", "--reason", "superseded", "--family", "legacy")
	if !strings.Contains(out, "revoked") || !strings.Contains(out, "legacy family") || strings.Contains(out, "modern family") {
		t.Errorf("revoke output: %s", out)
	}
	crl := string(testtool.MustRun(t, nil, "openssl", "crl", "-inform", "DER", "-in", l.CRL(legacy), "-noout", "-text"))
	if !strings.Contains(crl, "Superseded") {
		t.Errorf("legacy CRL lacks the revocation:\n%s", crl)
	}
	if crl := string(testtool.MustRun(t, nil, "openssl", "crl", "-inform", "DER", "-in", l.CRL(modern), "-noout", "-text")); !strings.Contains(crl, "No Revoked Certificates") {
		t.Errorf("modern CRL lists a legacy revocation:\n%s", crl)
	}
	out = mustPushca(t, env, "--dir", dir, "ca", "rotate-intermediate", "--json")
	var rot struct {
		Rotated []struct {
			Family       string `json:"family"`
			Intermediate string `json:"intermediate"`
		} `json:"rotated"`
		Reissued []ca.Record `json:"reissued"`
	}
	// mail.example.com in both families, push.example.com in modern only.
	if err := json.Unmarshal([]byte(out), &rot); err != nil || len(rot.Rotated) != 2 || !strings.HasSuffix(rot.Rotated[0].Intermediate, "G2") || len(rot.Reissued) != 3 {
		t.Errorf("rotate-intermediate: %v %s", err, out)
	}
	for _, s := range slots {
		issuer := string(testtool.MustRun(t, nil, "openssl", "x509", "-in", l.ServerCert("mail.example.com", s), "-noout", "-issuer"))
		if !strings.Contains(issuer, s.Family+" Intermediate CA G2") {
			t.Errorf("%s server certificate not reissued under the new intermediate: %s", s.Family, issuer)
		}
	}
	testtool.MustRun(t, nil, "openssl", "verify", "-auth_level", "0", "-CAfile", l.RootCert(), "-untrusted", l.ServerChain("mail.example.com", legacy), l.ServerCert("mail.example.com", legacy))
	out = mustPushca(t, env, "--dir", dir, "ca", "inspect", "--json")
	var info struct {
		Profiles      []string `json:"profiles"`
		Intermediates []struct {
			Family string `json:"family"`
		} `json:"intermediates"`
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil || strings.Join(info.Profiles, ",") != "wm5,wm6,wm65,ios,android,modern" || len(info.Intermediates) != 2 {
		t.Errorf("inspect: %v %s", err, out)
	}
}

// A CA made for Windows Mobile alone takes iPhones later: add-family puts
// a modern intermediate under the same root and issues the host's leaf.
func TestAddFamilyThroughTheBinary(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	env := passwordEnv(t, "fleet password")
	mustPushca(t, env, "--dir", dir, "init", "--host", "mail.example.com", "--profile", "wm5")
	l := ca.Layout{Dir: dir}
	root := string(testtool.ReadFile(t, l.RootCert()))
	if r := runPushca(t, env, "--dir", dir, "cert", "issue", "a.example.com", "--profile", "ios"); r.code == 0 || !strings.Contains(r.stderr, "pushca ca add-family modern") {
		t.Errorf("ios leaf under a wm5 CA: exit %d %q", r.code, r.stderr)
	}
	out := mustPushca(t, env, "--dir", dir, "ca", "add-family", "modern", "--host", "mail.example.com")
	if !strings.Contains(out, "added the modern chain family") || !strings.Contains(out, "modern family, ECDSA P-256") {
		t.Errorf("add-family output:\n%s", out)
	}
	if string(testtool.ReadFile(t, l.RootCert())) != root {
		t.Error("add-family changed the root")
	}
	slots, err := ca.ReadSlots(dir)
	if err != nil || len(slots) != 2 || slots[1].Family != "modern" {
		t.Fatalf("slots after add-family: %v %v", slots, err)
	}
	testtool.MustRun(t, nil, "openssl", "verify", "-CAfile", l.RootCert(), "-untrusted", l.IntermediateCert(slots[1]), l.ServerCert("mail.example.com", slots[1]))
	if r := runPushca(t, env, "--dir", dir, "ca", "add-family", "modern"); r.code == 0 || !strings.Contains(r.stderr, "already has the modern chain family") {
		t.Errorf("second add-family: exit %d %q", r.code, r.stderr)
	}
	if r := runPushca(t, env, "--dir", dir, "ca", "add-family", "sha3"); r.code == 0 || !strings.Contains(r.stderr, "unknown chain family") {
		t.Errorf("unknown family: exit %d %q", r.code, r.stderr)
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
		{nil, []string{"cert", "renew", "mail.example.com"}, "no CA password"},
		{passwordEnv(t, "wrong"), []string{"cert", "renew", "mail.example.com"}, "wrong CA password"},
		{env, []string{"cert", "issue", "mail.example.com"}, "already has an active certificate"},
		{env, []string{"cert", "issue", "*.example.com"}, "do not match wildcards"},
		{env, []string{"cert", "issue", "a.example.com", "--ip", "300.1.1.1"}, `--ip "300.1.1.1"`},
		{env, []string{"cert", "issue", "a.example.com", "--profile", "ios"}, "no chain family its devices accept"},
		{env, []string{"cert", "issue", "a.example.com", "--family", "modern"}, "no modern chain family"},
		{env, []string{"init", "--profiles", "wm5,wm7"}, `--profiles: unknown device profile "wm7"`},
		{env, []string{"cert", "issue", "a.example.com", "--csr", "/nonexistent.csr"}, "--csr /nonexistent.csr"},
		{env, []string{"cert", "status", "--within", "soon"}, `--within "soon"`},
		{env, []string{"cert", "revoke", "nobody.example.com"}, "neither a serial number"},
		{env, []string{"init", "--host", "x.example.com"}, "already holds a CA"},
		{[]string{"PUSHCA_PASSWORD_FILE=/nonexistent/pw"}, []string{"cert", "issue", "a.example.com"}, "read password file /nonexistent/pw"},
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

// A damaged database stops every command with the file and the way out,
// and no Go panic reaches the operator.
func TestDamagedDatabaseThroughTheBinary(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	env := passwordEnv(t, "fleet password")
	mustPushca(t, env, "--dir", dir, "init", "--host", "mail.example.com", "--profiles", "wm5,ios")
	backup := filepath.Join(t.TempDir(), "backup.tar.gz")
	mustPushca(t, nil, "--dir", dir, "ca", "backup", "--out", backup)
	db := ca.Layout{Dir: dir}.DB()
	for name, damage := range map[string]func() error{
		"empty":     func() error { return os.Truncate(db, 0) },
		"truncated": func() error { return os.Truncate(db, 4096) },
	} {
		if err := damage(); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"cert", "list"}, {"ca", "crl"}, {"cert", "issue", "new.example.com"}, {"cert", "renew", "mail.example.com"}} {
			r := runPushca(t, env, append([]string{"--dir", dir}, args...)...)
			if r.code == 0 || !strings.Contains(r.stderr, db) || !strings.Contains(r.stderr, "ca restore BACKUP --force") || strings.Contains(r.stderr, "goroutine") {
				t.Errorf("%s database, pushca %v: exit %d\n%s", name, args, r.code, r.stderr)
			}
		}
	}
	// The backup taken before the damage restores a directory that passes
	// ca check and on which the CA signs again.
	if r := runPushca(t, nil, "--dir", dir, "ca", "restore", backup); r.code == 0 || !strings.Contains(r.stderr, "--force") {
		t.Errorf("restore over the damaged directory without --force: exit %d %q", r.code, r.stderr)
	}
	if out := mustPushca(t, nil, "--dir", dir, "ca", "restore", backup, "--force"); !strings.Contains(out, "moved the previous") || !strings.Contains(out, "agree") {
		t.Errorf("restore --force:\n%s", out)
	}
	mustPushca(t, env, "--dir", dir, "cert", "renew", "mail.example.com")
}

// Monitoring needs no CA secret: cert list, cert status and ca inspect run
// with no password file and no terminal, and only cert status's own
// verdict exits 3 (urfave/cli's unknown-command code was 3 too).
func TestReadOnlyCommandsNeedNoPassword(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	mustPushca(t, passwordEnv(t, "fleet password"), "--dir", dir, "init", "--host", "mail.example.com", "--profiles", "wm5,ios", "--days", "10")
	if out := mustPushca(t, nil, "--dir", dir, "cert", "list"); strings.Count(out, "mail.example.com") != 2 {
		t.Errorf("cert list without a password:\n%s", out)
	}
	if out := mustPushca(t, nil, "--dir", dir, "ca", "inspect"); !strings.Contains(out, "modern intermediate") {
		t.Errorf("ca inspect without a password:\n%s", out)
	}
	if r := runPushca(t, nil, "--dir", dir, "cert", "status", "--within", "5d"); r.code != 0 {
		t.Errorf("status within 5d: exit %d\n%s", r.code, r.stderr)
	}
	if r := runPushca(t, nil, "--dir", dir, "cert", "status", "--within", "30d"); r.code != 3 || strings.Count(r.stdout, "mail.example.com") != 2 {
		t.Errorf("status within 30d: exit %d (want 3)\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"cert", "statsu"}, exitUsage}, {[]string{"cert", "status", "--bogus"}, exitUsage},
		{[]string{"certs", "status"}, exitUsage}, {[]string{"cert", "status", "--within", "soon"}, 1},
	} {
		if r := runPushca(t, nil, append([]string{"--dir", dir}, tc.args...)...); r.code != tc.code {
			t.Errorf("pushca %v: exit %d, want %d (3 means expiring to cron)", tc.args, r.code, tc.code)
		}
	}
	if r := runPushca(t, nil, "--dir", filepath.Join(t.TempDir(), "none"), "cert", "status"); r.code != 1 || !strings.Contains(r.stderr, "pushca init") {
		t.Errorf("status of no CA: exit %d %q", r.code, r.stderr)
	}
	if out := mustPushca(t, nil, "--dir", dir, "ca", "check"); !strings.Contains(out, "agree") {
		t.Errorf("ca check of a sound directory:\n%s", out)
	}
	mustPushca(t, passwordEnv(t, "fleet password"), "--dir", dir, "cert", "revoke", "mail.example.com", "--family", "modern")
	if err := os.Remove(ca.Layout{Dir: dir}.CRL(ca.Slot{Family: "legacy"})); err != nil {
		t.Fatal(err)
	}
	if r := runPushca(t, nil, "--dir", dir, "ca", "check"); r.code != 0 {
		t.Errorf("ca check with no revocation in the missing legacy CRL: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	mustPushca(t, passwordEnv(t, "fleet password"), "--dir", dir, "cert", "revoke", "mail.example.com", "--family", "legacy")
	if err := os.Remove(ca.Layout{Dir: dir}.CRL(ca.Slot{Family: "legacy"})); err != nil {
		t.Fatal(err)
	}
	if r := runPushca(t, nil, "--dir", dir, "ca", "check"); r.code != 1 || !strings.Contains(r.stdout, "MISMATCH legacy CRL") {
		t.Errorf("ca check with the legacy CRL gone: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

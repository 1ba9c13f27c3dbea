package main

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/internal/testtool"
)

// currentSerials are the serials the "current" links of host name, per
// family.
func currentSerials(t *testing.T, dir, host string) map[string]string {
	t.Helper()
	slots, err := ca.ReadSlots(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, s := range slots {
		out[s.Family] = leafSerial(t, ca.Layout{Dir: dir}.ServerCert(host, s))
	}
	return out
}

func leafSerial(t *testing.T, file string) string {
	t.Helper()
	blk, _ := pem.Decode(testtool.ReadFile(t, file))
	if blk == nil {
		t.Fatalf("%s: no PEM", file)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.SerialNumber.String()
}

// A renewal's deploy hook runs once per family after the write, with the
// files in its environment and the CA closed (it runs pushca cert list
// itself); a failing hook makes pushca exit with the hook's code and leaves
// the new certificates in place.
func TestDeployHooks(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	env := passwordEnv(t, "hook test")
	mustPushca(t, env, "--dir", dir, "init", "--host", "mail.test", "--profiles", "wm6,ios", "--days", "10")
	markers := t.TempDir()
	env = append(env, "MARKERS="+markers, "PUSHCA_BIN="+pushcaBin)
	hook := `env | grep '^PUSHCA_' | sort > "$MARKERS/$PUSHCA_HOST.$PUSHCA_FAMILY" && "$PUSHCA_BIN" cert list > /dev/null`
	before := currentSerials(t, dir, "mail.test")
	r := runPushca(t, env, "--dir", dir, "cert", "renew", "mail.test", "--exec", hook, "--json")
	if r.code != 0 {
		t.Fatalf("renew --exec: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	after := currentSerials(t, dir, "mail.test")
	absDir, _ := filepath.Abs(dir)
	for _, fam := range []string{"legacy", "modern"} {
		vars := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(string(testtool.ReadFile(t, filepath.Join(markers, "mail.test."+fam)))), "\n") {
			k, v, _ := strings.Cut(line, "=")
			vars[k] = v
		}
		if vars["PUSHCA_HOST"] != "mail.test" || vars["PUSHCA_FAMILY"] != fam || vars["PUSHCA_DIR"] != absDir || vars["PUSHCA_ROOT"] != (ca.Layout{Dir: absDir}).RootCert() {
			t.Errorf("%s hook environment: %v", fam, vars)
		}
		if vars["PUSHCA_SERIAL"] != after[fam] || after[fam] == before[fam] || leafSerial(t, vars["PUSHCA_CHAIN"]) != after[fam] || leafSerial(t, vars["PUSHCA_CERT"]) != after[fam] {
			t.Errorf("%s hook saw serial %s, chain %s; renewed %s -> %s", fam, vars["PUSHCA_SERIAL"], vars["PUSHCA_CHAIN"], before[fam], after[fam])
		}
		if _, err := os.Stat(vars["PUSHCA_KEY"]); err != nil {
			t.Errorf("%s hook's PUSHCA_KEY: %v", fam, err)
		}
	}
	if strings.Contains(r.stdout, "PUSHCA_") || !strings.Contains(r.stderr, "deploy hook for mail.test (modern family) done") {
		t.Errorf("hook output belongs on stderr, --json on stdout:\nstdout: %s\nstderr: %s", r.stdout, r.stderr)
	}

	// --all picks what expires within --within; the hook's failure is
	// pushca's exit code, and the renewal stands.
	before = after
	r = runPushca(t, env, "--dir", dir, "cert", "renew", "--all", "--within", "30d", "--exec", "exit 7")
	if r.code != 7 || strings.Count(r.stderr, "exited with code 7; the new certificate stays in place") != 2 {
		t.Errorf("failing hook: exit %d (want 7)\n%s", r.code, r.stderr)
	}
	after = currentSerials(t, dir, "mail.test")
	for fam, s := range after {
		if s == before[fam] || !strings.Contains(r.stdout, "issued "+s) {
			t.Errorf("%s: serial %s after the failed hook (before %s); want the new certificate in place\n%s", fam, s, before[fam], r.stdout)
		}
	}
	if out := mustPushca(t, env, "--dir", dir, "cert", "renew", "--all", "--within", "5d", "--exec", "exit 9"); !strings.Contains(out, "no active certificate expires within 5d") {
		t.Errorf("renew --all with nothing due:\n%s", out)
	}

	// rotate takes the hook too, for the families asked for.
	mustPushca(t, env, "--dir", dir, "cert", "rotate", "mail.test", "--family", "modern", "--exec", `echo "$PUSHCA_FAMILY" > "$MARKERS/rotated"`)
	if got := strings.TrimSpace(string(testtool.ReadFile(t, filepath.Join(markers, "rotated")))); got != "modern" {
		t.Errorf("rotate hook ran for %q", got)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"cert", "renew", "--all", "mail.test"}, "give no HOST"},
		{[]string{"cert", "renew", "mail.test", "--within", "5d"}, "--within goes with --all"},

		{[]string{"cert", "renew", "--all", "--within", "soon"}, `--within "soon"`},
	} {
		if r := runPushca(t, env, append([]string{"--dir", dir}, tc.args...)...); r.code != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("pushca %v: exit %d %q, want %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	if r := runPushca(t, env, "--dir", dir, "cert", "renew"); r.code != exitUsage || !strings.Contains(r.stderr, "or --all") {
		t.Errorf("cert renew without a host: exit %d %q", r.code, r.stderr)
	}
}

package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/provision"
)

// cliPKI is a CA made by `pushca init` with the legacy and modern chain
// families, and beside it a code-signing certificate under a SHA-1 root of
// its own (signRoot), with an openssl-encrypted key and a PKCS#12.
type cliPKI struct {
	dir, signRoot, signCert, signKey, p12, passFile string
	root                                            *x509.Certificate
}

var (
	cliKeysOnce sync.Once
	cliKeys     [3]*rsa.PrivateKey
)

// initCA makes a CA with `pushca init --profiles profiles` and returns its
// state directory, the environment holding its password, and its root.
func initCA(t *testing.T, profiles string) (string, []string, *x509.Certificate) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	env := passwordEnv(t, "cli test CA")
	mustPushca(t, env, "--dir", dir, "init", "--profiles", profiles, "--host", "mail.test")
	roots, err := provision.ReadCertificates(ca.Layout{Dir: dir}.RootCert())
	if err != nil {
		t.Fatal(err)
	}
	return dir, env, roots[0]
}

// intermediateSHA1 is the SHA-1 thumbprint openssl reads from a chain
// family's intermediate in dir, as the CertificateStore CSP names it.
func intermediateSHA1(t *testing.T, dir, family string) string {
	t.Helper()
	slots, err := ca.ReadSlots(dir)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(slots, func(s ca.Slot) bool { return s.Family == family })
	if i < 0 {
		t.Fatalf("no %s family in %s", family, dir)
	}
	return testtool.SHA1Thumbprint(t, ca.Layout{Dir: dir}.IntermediateCert(slots[i]))
}

func newCLIPKI(t *testing.T) cliPKI {
	t.Helper()
	cliKeysOnce.Do(func() {
		for i := range cliKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			cliKeys[i] = k
		}
	})
	nb := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	mk := func(serial int64, cn string, isCA bool, parent *x509.Certificate, pub, signer *rsa.PrivateKey) *x509.Certificate {
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: nb, NotAfter: nb.AddDate(10, 0, 0), SignatureAlgorithm: x509.SHA1WithRSA,
			BasicConstraintsValid: true, IsCA: isCA,
		}
		if isCA {
			tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		} else {
			tmpl.KeyUsage = x509.KeyUsageDigitalSignature
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning, x509.ExtKeyUsageEmailProtection}
		}
		return testtool.Certificate(t, tmpl, parent, &pub.PublicKey, signer)
	}
	k := cliKeys
	root := mk(1, "cli test signing root", true, nil, k[0], k[0])
	inter := mk(2, "cli test signing intermediate", true, root, k[1], k[0])
	sig := mk(3, "cli test signer", false, inter, k[2], k[1])

	var p cliPKI
	p.dir, _, p.root = initCA(t, "wm5,ios")
	pemFile := func(path, typ string, der ...[]byte) string {
		var b []byte
		for _, d := range der {
			b = append(b, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: d})...)
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	work := t.TempDir()
	p.signRoot = pemFile(filepath.Join(work, "signing-root.pem"), "CERTIFICATE", root.Raw)
	p.signCert = pemFile(filepath.Join(work, "signer.pem"), "CERTIFICATE", sig.Raw, inter.Raw)
	keyDER, err := x509.MarshalPKCS8PrivateKey(k[2])
	if err != nil {
		t.Fatal(err)
	}
	plainKey := pemFile(filepath.Join(work, "plain.key"), "PRIVATE KEY", keyDER)
	p.passFile = filepath.Join(work, "pass.txt")
	if err := os.WriteFile(p.passFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.signKey = filepath.Join(work, "signer.key")
	testtool.MustRun(t, nil, "openssl", "pkey", "-in", plainKey, "-aes256", "-passout", "file:"+p.passFile, "-out", p.signKey)
	leaf := pemFile(filepath.Join(work, "leaf.pem"), "CERTIFICATE", sig.Raw)
	interPEM := pemFile(filepath.Join(work, "inter.pem"), "CERTIFICATE", inter.Raw)
	p.p12 = filepath.Join(work, "signer.p12")
	testtool.MustRun(t, nil, "openssl", "pkcs12", "-export", "-inkey", plainKey, "-in", leaf, "-certfile", interPEM,
		"-passout", "file:"+p.passFile, "-out", p.p12)
	return p
}

// run executes the CLI in-process as main does (flags after arguments
// allowed) and returns stdout, stderr and the error.
func run(t *testing.T, dir string, args ...string) (string, string, error) {
	t.Helper()
	app := newApp()
	// Until main.go lists these commands, the test adds them itself.
	for _, cmd := range []*cli.Command{packageCommand(), qrCommand()} {
		if findCommand(app.Commands, cmd.Name) == nil {
			app.Commands = append(app.Commands, cmd)
		}
	}
	var out, errb bytes.Buffer
	app.Writer, app.ErrWriter = &out, &errb
	err := app.Run(interspersed(app, append([]string{"pushca", "--dir", dir}, args...)))
	return out.String(), errb.String(), err
}

func mustRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, errb, err := run(t, dir, args...)
	if err != nil {
		t.Fatalf("pushca %v: %v\n%s", args, err, errb)
	}
	return out
}

func TestPackageWMFromStateDir(t *testing.T) {
	p := newCLIPKI(t)
	out := filepath.Join(t.TempDir(), "jdoe.cab")
	user := `a"b<c>&d' é`
	stdout := mustRun(t, p.dir, "package", "wm", "--server", "mail.example.com", "--user", user, "--domain", "CORP", "--out", out, "--json")
	var r artefactReport
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("--json output %q: %v", stdout, err)
	}
	if r.File != out || r.Signed || r.Compression != "none" || r.Profile != "wm5" {
		t.Fatalf("report %+v", r)
	}
	fi, err := os.Stat(out)
	if err != nil || fi.Mode().Perm() != 0o644 || int(fi.Size()) != r.Size {
		t.Fatalf("output file %v %v, report size %d", fi, err, r.Size)
	}
	doc := testtool.CABSetup(t, out)
	if got := testtool.XPath(t, doc, `//characteristic[@type="Connection"]/parm[@name="User"]/@value`); got != user {
		t.Fatalf("User %q, want %q", got, user)
	}
	fp := string(testtool.MustRun(t, p.root.Raw, "openssl", "x509", "-inform", "DER", "-noout", "-fingerprint", "-sha1"))
	want := strings.ReplaceAll(strings.TrimSpace(fp[strings.Index(fp, "=")+1:]), ":", "")
	if got := testtool.XPath(t, doc, `//characteristic[@type="ROOT"]/characteristic[1]/@type`); got != want {
		t.Fatalf("ROOT thumbprint %q, openssl %q", got, want)
	}
	// Windows Mobile gets its own family's intermediate, not the modern one.
	if n, got, want := testtool.XPath(t, doc, `count(//characteristic[@type="CA"]/characteristic)`), testtool.XPath(t, doc, `//characteristic[@type="CA"]/characteristic[1]/@type`), intermediateSHA1(t, p.dir, "legacy"); n != "1" || got != want {
		t.Fatalf("CA store holds %s entries, the first %q; want the legacy intermediate %q alone", n, got, want)
	}
}

// A package for a device kind the CA has no chain family for is refused,
// naming the command that adds the family, and nothing is written.
func TestPackageRefusesKindsTheCALacks(t *testing.T) {
	legacy, _, _ := initCA(t, "wm5")
	modern, _, _ := initCA(t, "ios")
	out := t.TempDir()
	for _, tc := range []struct {
		dir  string
		args []string
		want string
	}{
		{legacy, []string{"ios", "--root-only", "--out", filepath.Join(out, "r.mobileconfig")}, "ios devices need the modern chain family, which this CA lacks; add it with `pushca --dir " + legacy + " ca add-family modern`"},
		{legacy, []string{"android", "--out", filepath.Join(out, "r.crt")}, "android devices need the modern chain family"},
		{modern, []string{"wm", "--certs-only", "--profile", "wm6", "--out", filepath.Join(out, "r.cab")}, "wm6 devices need the legacy chain family, which this CA lacks; add it with `pushca --dir " + modern + " ca add-family legacy`"},
	} {
		_, _, err := run(t, tc.dir, append([]string{"package"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("package %v: %v, want %q", tc.args, err, tc.want)
		}
	}
	if left, _ := os.ReadDir(out); len(left) > 0 {
		t.Errorf("refused packages were written: %v", left)
	}
	// The kinds the CA does serve still package.
	mustRun(t, legacy, "package", "wm", "--certs-only", "--out", filepath.Join(out, "ok.cab"))
	mustRun(t, modern, "package", "ios", "--root-only", "--out", filepath.Join(out, "ok.mobileconfig"))
}

func TestPackageWMOptionsAndErrors(t *testing.T) {
	p := newCLIPKI(t)
	dir := t.TempDir()
	// Unconfirmed parms appear only when asked; MSZIP only where allowed.
	out := filepath.Join(dir, "a.cab")
	mustRun(t, p.dir, "package", "wm", "--profile", "wm6", "--mszip", "--account-only", "--server", "mail.example.com", "--user", "jdoe",
		"--peak-frequency", "-1", "--save-password", "--use-ssl=false", "--peak-days", "Sat,Thu", "--disable", "tasks", "--out", out)
	doc := testtool.CABSetup(t, out)
	for expr, want := range map[string]string{
		`//parm[@name="PeakFrequency"]/@value`:                         "-1",
		`//parm[@name="SavePassword"]/@value`:                          "1",
		`//parm[@name="UseSSL"]/@value`:                                "0",
		`//characteristic[@type="PeakDays"]/parm[@name="Thr"]/@value`:  "1",
		`//characteristic[@type="PeakDays"]/parm[@name="Mon"]/@value`:  "0",
		`//characteristic[@type="Tasks"]/parm[@name="Enabled"]/@value`: "0",
		`count(//characteristic[@type="CertificateStore"])`:            "0",
	} {
		if got := testtool.XPath(t, doc, expr); got != want {
			t.Errorf("%s = %q, want %q", expr, got, want)
		}
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--server", "m.example.com", "--user", "u", "--mszip"}, "wm5"},
		{[]string{"--certs-only", "--account-only"}, "--certs-only"},
		{[]string{"--server", "m.example.com"}, "--user"},
		{[]string{"--certs-only", "--root", filepath.Join(dir, "missing.pem")}, "missing.pem"},
		{[]string{"--certs-only", "--out", filepath.Join(dir, "x.cpf")}, "--out"},
		{[]string{"--certs-only", "--profile", "ios"}, "--profile"},
		{[]string{"--server", "https://m.example.com/", "--user", "u"}, "host name only"},
		{[]string{"--server", "m.example.com", "--user", "u", "--peak-start", "25:00"}, "peak start"},
		{[]string{"--certs-only", "--sign-cert", p.signCert}, "--sign-key"},
		{[]string{"--certs-only", "--sign-p12", p.p12, "--password-file", filepath.Join(dir, "nopass")}, "nopass"},
	} {
		_, _, err := run(t, p.dir, append([]string{"package", "wm"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("package wm %v: error %v, want one naming %q", tc.args, err, tc.want)
		}
	}
	if _, _, err := run(t, dir, "package", "wm", "--certs-only"); err == nil || !strings.Contains(err.Error(), "pushca init") {
		t.Errorf("empty state directory: %v, want a hint to run pushca init", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.cpf")); err == nil {
		t.Error("a refused package was written")
	}
}

func TestPackageWMSigned(t *testing.T) {
	p := newCLIPKI(t)
	dir := t.TempDir()
	for name, sign := range map[string][]string{
		"p12": {"--sign-p12", p.p12},
		"pem": {"--sign-cert", p.signCert, "--sign-key", p.signKey},
	} {
		out := filepath.Join(dir, name+".cpf")
		args := append([]string{"package", "wm", "--certs-only", "--profile", "wm6", "--password-file", p.passFile, "--out", out}, sign...)
		mustRun(t, p.dir, args...)
		testtool.CABSetup(t, out)
		v := testtool.MustRun(t, nil, "osslsigncode", "verify", "-CAfile", p.signRoot, "-in", out)
		if !strings.Contains(string(v), "Signature verification: ok") {
			t.Fatalf("%s: osslsigncode:\n%s", name, v)
		}
	}
	_, _, err := run(t, p.dir, "package", "wm", "--certs-only", "--sign-p12", p.p12, "--password-file", p.passFile, "--out", filepath.Join(dir, "signed.cab"))
	if err == nil || !strings.Contains(err.Error(), ".cpf") {
		t.Fatalf("signed package under a .cab name: %v", err)
	}
}

func TestPackageIOS(t *testing.T) {
	p := newCLIPKI(t)
	dir := t.TempDir()
	plain := filepath.Join(dir, "jdoe.mobileconfig")
	user := `j<doe>&"x"`
	mustRun(t, p.dir, "package", "ios", "--server", "mail.example.com", "--user", user, "--email", "jdoe@example.com", "--out", plain)
	b, err := os.ReadFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	got := testtool.MustRun(t, b, "python3", "-c", `import plistlib,sys
p = plistlib.loads(sys.stdin.buffer.read())
eas = [c for c in p["PayloadContent"] if c["PayloadType"] == "com.apple.eas.account"][0]
assert "Password" not in eas
sys.stdout.write(eas["UserName"] + "|" + eas["Host"] + "|" + eas["EmailAddress"])`)
	if want := user + "|mail.example.com|jdoe@example.com"; string(got) != want {
		t.Fatalf("plistlib read %q, want %q", got, want)
	}

	signed := filepath.Join(dir, "signed.mobileconfig")
	mustRun(t, p.dir, "package", "ios", "--root-only", "--sign-cert", p.signCert, "--sign-key", p.signKey, "--password-file", p.passFile, "--out", signed)
	content := filepath.Join(dir, "content.plist")
	testtool.MustRun(t, nil, "openssl", "cms", "-verify", "-inform", "DER", "-in", signed, "-CAfile", p.signRoot, "-auth_level", "0", "-out", content)
	testtool.MustRun(t, nil, "python3", "-c", "import plistlib,sys; plistlib.load(open(sys.argv[1],'rb'))", content)

	if _, _, err := run(t, p.dir, "package", "ios", "--server", "mail.example.com"); err == nil || !strings.Contains(err.Error(), "--user") {
		t.Fatalf("missing --user: %v", err)
	}
}

func TestPackageAndroid(t *testing.T) {
	p := newCLIPKI(t)
	out := filepath.Join(t.TempDir(), "corp.crt")
	var r artefactReport
	if err := json.Unmarshal([]byte(mustRun(t, p.dir, "package", "android", "--out", out, "--json")), &r); err != nil {
		t.Fatal(err)
	}
	der, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(testtool.MustRun(t, der, "openssl", "x509", "-inform", "DER", "-outform", "DER"), p.root.Raw) {
		t.Fatal(".crt is not the root's DER")
	}
	fp := string(testtool.MustRun(t, der, "openssl", "x509", "-inform", "DER", "-noout", "-fingerprint", "-sha256"))
	fp = strings.TrimSpace(fp[strings.Index(fp, "=")+1:])
	txt, err := os.ReadFile(r.Instructions)
	if err != nil || !strings.Contains(string(txt), fp) || r.RootSHA256 != fp {
		t.Fatalf("instructions %s (%v) or report %q lack fingerprint %s", r.Instructions, err, r.RootSHA256, fp)
	}
}

func TestQRCommand(t *testing.T) {
	dir := t.TempDir()
	u := "https://mail.example.com/enroll?user=jdoe"
	png, svg := filepath.Join(dir, "q.png"), filepath.Join(dir, "q.svg")
	mustRun(t, dir, "qr", u, "--png", png, "--svg", svg)
	if got := strings.TrimSpace(string(testtool.MustRun(t, nil, "zbarimg", "--raw", "-q", png))); got != u {
		t.Fatalf("zbarimg read %q", got)
	}
	testtool.MustRun(t, nil, "xmllint", "--noout", svg)
	if term := mustRun(t, dir, "qr", u); !strings.Contains(term, "█") {
		t.Fatalf("terminal output %q", term)
	}
	for _, bad := range []string{"ftp://x/", "mail.example.com", strings.Repeat("https://x/", 100)} {
		if _, _, err := run(t, dir, "qr", bad); err == nil {
			t.Errorf("qr %q accepted", bad)
		}
	}
}

// TestQRFileSaysWhatItWrote: qr --png and --svg printed nothing on success.
func TestQRFileSaysWhatItWrote(t *testing.T) {
	dir := t.TempDir()
	png, svg := filepath.Join(dir, "q.png"), filepath.Join(dir, "q.svg")
	out := mustRun(t, dir, "qr", "https://enroll.example.com/", "--png", png, "--scale", "5", "--svg", svg)
	pngInfo, _ := os.Stat(png)
	svgInfo, _ := os.Stat(svg)
	want := fmt.Sprintf("wrote %s (PNG, %d bytes, 5 pixels a module)\nwrote %s (SVG, %d bytes)\n", png, pngInfo.Size(), svg, svgInfo.Size())
	if out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
}

func TestPackageHelpHasExamples(t *testing.T) {
	for _, cmd := range [][]string{{"package", "wm"}, {"package", "ios"}, {"package", "android"}, {"qr"}} {
		out := mustRun(t, t.TempDir(), append(cmd, "--help")...)
		if !strings.Contains(out, "pushca "+strings.Join(cmd, " ")) {
			t.Errorf("%v --help has no usage example:\n%s", cmd, out)
		}
	}
}

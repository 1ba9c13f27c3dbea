package ca

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.step.sm/crypto/x509util"

	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/profile"
)

var testPassword = []byte("correct horse battery staple")

// newCA initialises a CA of the given chain families in a fresh directory
// and opens it.
func newCA(t testing.TB, families ...string) *CA {
	t.Helper()
	return newCAWith(t, InitOptions{Families: families, Password: testPassword})
}

// one returns the only certificate an operation on a one-family CA issued.
func one(is []*Issued, err error) (*Issued, error) {
	if err != nil {
		return nil, err
	}
	if len(is) != 1 {
		return nil, fmt.Errorf("issued %d certificates, want 1", len(is))
	}
	return is[0], nil
}

// firstSlot is the slot of the CA's first family.
func firstSlot(c *CA) Slot { return c.Slots()[0] }

// initialized holds one state directory per InitOptions, made once: RSA key
// generation under -race costs seconds, and most tests only need a fresh
// copy of an initialised CA.
var initialized = struct {
	sync.Mutex
	root string
	dirs map[string]string
}{dirs: map[string]string{}}

func TestMain(m *testing.M) {
	code := m.Run()
	if initialized.root != "" {
		os.RemoveAll(initialized.root)
	}
	os.Exit(code)
}

func newCAWith(t testing.TB, opt InitOptions) *CA {
	t.Helper()
	dir := initializedCopy(t, opt)
	c, err := Open(context.Background(), dir, testPassword)
	if err != nil {
		t.Fatalf("open %v: %v", opt.Families, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// initializedCopy is a fresh copy of a state directory initialised with
// opt, not yet opened.
func initializedCopy(t testing.TB, opt InitOptions) string {
	t.Helper()
	initialized.Lock()
	key := strings.Join(opt.Families, ",") + "|" + opt.CRLURL
	src, ok := initialized.dirs[key]
	if !ok {
		if initialized.root == "" {
			r, err := os.MkdirTemp("", "pushca-ca-test-")
			if err != nil {
				initialized.Unlock()
				t.Fatal(err)
			}
			initialized.root = r
		}
		src = filepath.Join(initialized.root, fmt.Sprint(len(initialized.dirs)))
		if err := Init(context.Background(), src, opt); err != nil {
			initialized.Unlock()
			t.Fatalf("init %v: %v", opt.Families, err)
		}
		initialized.dirs[key] = src
	}
	initialized.Unlock()
	dir := filepath.Join(t.TempDir(), "state")
	testtool.MustRun(t, nil, "cp", "-a", src, dir)
	return dir
}

// opensslVerify runs `openssl verify` on a server certificate of the
// family of slot s; legacy chains need -auth_level 0 because OpenSSL 3
// refuses SHA-1 at its default level.
func opensslVerify(t *testing.T, c *CA, s Slot, certFile string, extra ...string) error {
	t.Helper()
	args := []string{"verify"}
	if f, _ := profile.GetFamily(s.Family); f.Legacy {
		args = append(args, "-auth_level", "0")
	}
	args = append(args, extra...)
	args = append(args, "-CAfile", c.layout.RootCert(), "-untrusted", c.layout.IntermediateCert(s), certFile)
	out, errb, err := testtool.Run(t, nil, "openssl", args...)
	if err != nil {
		return fmt.Errorf("%v: %s %s", err, out, errb)
	}
	if !strings.Contains(string(out), ": OK") {
		return fmt.Errorf("openssl verify did not say OK: %s", out)
	}
	return nil
}

func TestIssueEveryFamilyAcceptedByOpenSSL(t *testing.T) {
	type want struct{ sig, key string }
	rsa2048 := "Public-Key: (2048 bit)"
	cases := map[string]struct{ root, inter, leaf want }{
		"legacy":     {want{"sha1WithRSAEncryption", rsa2048}, want{"sha1WithRSAEncryption", rsa2048}, want{"sha1WithRSAEncryption", rsa2048}},
		"modern":     {want{"sha256WithRSAEncryption", rsa2048}, want{"sha256WithRSAEncryption", "Public-Key: (256 bit)"}, want{"ecdsa-with-SHA256", "Public-Key: (256 bit)"}},
		"modern-rsa": {want{"sha256WithRSAEncryption", rsa2048}, want{"sha256WithRSAEncryption", rsa2048}, want{"sha256WithRSAEncryption", rsa2048}},
	}
	for _, f := range profile.Families() {
		t.Run(f.Name, func(t *testing.T) {
			c := newCA(t, f.Name)
			is, err := one(c.Issue(context.Background(), IssueRequest{
				Host: "Mail.Example.COM.", DNS: []string{"autodiscover.example.com"}, IPs: []net.IP{net.ParseIP("127.0.0.1")},
			}))
			if err != nil {
				t.Fatal(err)
			}
			if is.Record.Host != "mail.example.com" || is.Record.Family != f.Name {
				t.Errorf("record: host %q, family %q", is.Record.Host, is.Record.Family)
			}
			if err := opensslVerify(t, c, firstSlot(c), is.CertFile); err != nil {
				t.Fatal(err)
			}
			w := cases[f.Name]
			for file, w := range map[string]want{c.layout.RootCert(): w.root, c.layout.IntermediateCert(firstSlot(c)): w.inter, is.CertFile: w.leaf} {
				text := string(testtool.MustRun(t, nil, "openssl", "x509", "-in", file, "-noout", "-text"))
				if strings.Count(text, "Signature Algorithm: "+w.sig) != 2 {
					t.Errorf("%s: want signature %s twice in:\n%s", file, w.sig, text)
				}
				if !strings.Contains(text, w.key) {
					t.Errorf("%s: want %q", file, w.key)
				}
			}
			leaf := string(testtool.MustRun(t, nil, "openssl", "x509", "-in", is.CertFile, "-noout", "-subject", "-ext", "subjectAltName,extendedKeyUsage"))
			for _, s := range []string{"CN = mail.example.com", "DNS:mail.example.com", "DNS:autodiscover.example.com", "IP Address:127.0.0.1", "TLS Web Server Authentication"} {
				if !strings.Contains(leaf, s) {
					t.Errorf("leaf lacks %q:\n%s", s, leaf)
				}
			}
			// The chain file is what a server sends: leaf then intermediate.
			chain := testtool.MustRun(t, nil, "openssl", "crl2pkcs7", "-nocrl", "-certfile", is.ChainFile)
			subjects := string(testtool.MustRun(t, chain, "openssl", "pkcs7", "-print_certs", "-noout"))
			if strings.Index(subjects, "subject=CN = mail.example.com") > strings.Index(subjects, "subject=CN = pushca "+f.Name+" Intermediate CA") {
				t.Errorf("chain order wrong:\n%s", subjects)
			}
			// The key belongs to the certificate (openssl compares the moduli/points).
			pubFromCert := testtool.MustRun(t, nil, "openssl", "x509", "-in", is.CertFile, "-noout", "-pubkey")
			pubFromKey := testtool.MustRun(t, nil, "openssl", "pkey", "-in", is.KeyFile, "-pubout")
			if string(pubFromCert) != string(pubFromKey) {
				t.Error("server key does not match its certificate")
			}
		})
	}
}

func TestCAKeysEncryptedAndPrivate(t *testing.T) {
	c := newCA(t, "legacy")
	if _, err := c.Issue(context.Background(), IssueRequest{Host: "mail.example.com"}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{c.layout.RootKey(), c.layout.IntermediateKey(firstSlot(c))} {
		if _, _, err := testtool.Run(t, nil, "openssl", "pkey", "-in", k, "-passin", "pass:wrong", "-noout"); err == nil {
			t.Errorf("openssl read %s with a wrong password", k)
		}
		if _, _, err := testtool.Run(t, nil, "openssl", "pkey", "-in", k, "-passin", "pass:", "-noout"); err == nil {
			t.Errorf("openssl read %s without a password", k)
		}
		testtool.MustRun(t, nil, "openssl", "pkey", "-in", k, "-passin", "pass:"+string(testPassword), "-noout")
		asn := string(testtool.MustRun(t, nil, "openssl", "asn1parse", "-in", k))
		if !strings.Contains(asn, "PBES2") {
			t.Errorf("%s is not PBES2-encrypted:\n%s", k, asn)
		}
	}
	err := filepath.WalkDir(c.layout.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, st.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// snapshot hashes every file of a state directory so a test can prove a
// failed command changed nothing.
func snapshot(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	m := map[string][32]byte{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		m[p] = sha256.Sum256(b)
		return nil
	})
	return m
}

func sameSnapshot(t *testing.T, before, after map[string][32]byte) {
	t.Helper()
	if len(before) != len(after) {
		t.Errorf("file count changed: %d -> %d", len(before), len(after))
	}
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s changed", k)
		}
	}
}

func TestBadStateRefusedAndLeftAlone(t *testing.T) {
	ctx := context.Background()
	c := newCA(t, "legacy")
	if _, err := c.Issue(ctx, IssueRequest{Host: "mail.example.com"}); err != nil {
		t.Fatal(err)
	}
	dir := c.layout.Dir
	c.Close()
	before := snapshot(t, dir)

	if _, err := Open(ctx, dir, []byte("wrong")); !errors.Is(err, ErrWrongPassword) {
		t.Errorf("wrong password: err = %v, want ErrWrongPassword", err)
	}
	if err := Init(ctx, dir, InitOptions{Families: []string{"legacy"}, Password: testPassword}); err == nil || !strings.Contains(err.Error(), "already holds a CA") {
		t.Errorf("init over a CA: err = %v", err)
	}
	sameSnapshot(t, before, snapshot(t, dir))

	cases := []struct {
		name   string
		damage func(l Layout)
		want   string
	}{
		{"missing key", func(l Layout) { os.Remove(l.IntermediateKey(Slot{})) }, "intermediate_ca_key is missing"},
		{"corrupt key", func(l Layout) {
			os.WriteFile(l.IntermediateKey(Slot{}), []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"), 0o600)
		}, "intermediate_ca_key"},
		{"plain key", func(l Layout) {
			k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			der, _ := x509.MarshalPKCS8PrivateKey(k)
			os.WriteFile(l.IntermediateKey(Slot{}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
		}, "not encrypted"},
		{"other version", func(l Layout) { os.WriteFile(l.State(), []byte(`{"format": 99, "profile": "wm5"}`), 0o600) }, "format version 99"},
		{"broken state", func(l Layout) { os.WriteFile(l.State(), []byte(`{`), 0o600) }, "pushca.json: invalid JSON"},
		{"not initialised", func(l Layout) { os.Remove(l.State()) }, "not a pushca state directory"},
		{"missing root", func(l Layout) { os.Remove(l.RootCert()) }, "root_ca.crt is missing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			copyDir := filepath.Join(t.TempDir(), "copy")
			testtool.MustRun(t, nil, "cp", "-a", dir, copyDir)
			l := Layout{Dir: copyDir}
			tc.damage(l)
			snap := snapshot(t, copyDir)
			_, err := Open(ctx, copyDir, testPassword)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
			sameSnapshot(t, snap, snapshot(t, copyDir))
		})
	}
}

func TestInitRefusesNonEmptyAndUnwritable(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o600)
	if err := Init(ctx, dir, InitOptions{Families: []string{"legacy"}, Password: testPassword}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("non-empty dir: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "notes.txt")); string(b) != "mine" {
		t.Error("existing file damaged")
	}
	// A parent that cannot hold a directory (root ignores permission bits,
	// so a file in the way stands for "unwritable" everywhere).
	blocked := filepath.Join(dir, "notes.txt", "state")
	if err := Init(ctx, blocked, InitOptions{Families: []string{"legacy"}, Password: testPassword}); err == nil || !strings.Contains(err.Error(), "notes.txt") {
		t.Errorf("init under a file: %v", err)
	}
	if err := Init(ctx, filepath.Join(dir, "x"), InitOptions{Families: []string{"wm7"}, Password: testPassword}); err == nil || !strings.Contains(err.Error(), "unknown chain family") {
		t.Errorf("bad profile: %v", err)
	}
	if err := Init(ctx, filepath.Join(dir, "y"), InitOptions{Families: []string{"legacy"}}); err == nil || !strings.Contains(err.Error(), "password") {
		t.Errorf("no password: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("failed inits left files behind: %v", ents)
	}
}

func TestRefusesWhatDevicesReject(t *testing.T) {
	ctx := context.Background()
	c := newCA(t, "legacy")
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecCSR, err := x509util.CreateCertificateRequest("mail.example.com", []string{"mail.example.com"}, ecKey)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		req  IssueRequest
		want string
	}{
		{IssueRequest{Host: "*.example.com"}, "do not match wildcards"},
		{IssueRequest{Host: "mail.example.com", DNS: []string{"*.example.com"}}, "do not match wildcards"},
		{IssueRequest{Host: "mail.example.com", CSR: ecCSR}, "RSA keys only"},
		{IssueRequest{Host: "mail.example.com", Profile: "ios"}, "profile ios: this CA has no chain family its devices accept (it has legacy); add one with `pushca ca add-family modern`"},
		{IssueRequest{Host: "mail.example.com", Families: []string{"modern"}}, "this CA has no modern chain family"},
		{IssueRequest{Host: "mail.example.com", Families: []string{"sha3"}}, "unknown chain family"},
		{IssueRequest{Host: "bad_host.example.com"}, `label "bad_host"`},
		{IssueRequest{Host: "-bad.example.com"}, "hyphen"},
		{IssueRequest{Host: strings.Repeat("a", 64) + ".example.com"}, "longer than 63"},
		{IssueRequest{Host: "../../etc"}, "label"},
		{IssueRequest{Host: ""}, "empty"},
		{IssueRequest{Host: "mail.example.com", Days: -1}, "at least 1 day"},
		{IssueRequest{Host: "mail.example.com", Days: 20 * 365}, "outlive the intermediate"},
	}
	for _, tc := range cases {
		_, err := c.Issue(ctx, tc.req)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want %q", tc.req.Host, err, tc.want)
		}
	}
	recs, _ := c.List(ctx)
	if len(recs) != 0 {
		t.Errorf("refused requests left records: %v", recs)
	}

	ios := newCA(t, "modern-rsa")
	if _, err := ios.Issue(ctx, IssueRequest{Host: "mail.example.com", Days: 826}); err == nil || !strings.Contains(err.Error(), "825") {
		t.Errorf("ios 826 days: %v", err)
	}
	if _, err := ios.Issue(ctx, IssueRequest{Host: "*.example.com"}); err != nil {
		t.Errorf("ios wildcard refused: %v", err)
	}
	// An android leaf under an ios CA shares the SHA-256 RSA chain.
	if _, err := ios.Issue(ctx, IssueRequest{Host: "android.example.com", Profile: "android"}); err != nil {
		t.Errorf("android under ios CA: %v", err)
	}
}

func TestDuplicateIssueAndForce(t *testing.T) {
	ctx := context.Background()
	c := newCA(t, "legacy")
	first, err := one(c.Issue(ctx, IssueRequest{Host: "mail.example.com"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Issue(ctx, IssueRequest{Host: "mail.example.com"}); err == nil || !strings.Contains(err.Error(), "already has an active certificate") {
		t.Fatalf("duplicate: %v", err)
	}
	second, err := one(c.Issue(ctx, IssueRequest{Host: "mail.example.com", Force: true}))
	if err != nil {
		t.Fatal(err)
	}
	states := recordStates(t, c)
	if states[first.Record.Serial] != StateSuperseded || states[second.Record.Serial] != StateActive {
		t.Errorf("states = %v", states)
	}
}

func recordStates(t *testing.T, c *CA) map[string]string {
	t.Helper()
	recs, err := c.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, r := range recs {
		m[r.Serial] = r.State
	}
	return m
}

func pubPEM(t *testing.T, certFile string) string {
	return string(testtool.MustRun(t, nil, "openssl", "x509", "-in", certFile, "-noout", "-pubkey"))
}

func TestRenewKeepsKeyRotateReplacesIt(t *testing.T) {
	ctx := context.Background()
	for _, prof := range []string{"legacy", "modern"} {
		t.Run(prof, func(t *testing.T) {
			c := newCA(t, prof)
			first, err := one(c.Issue(ctx, IssueRequest{Host: "mail.example.com", Days: 30}))
			if err != nil {
				t.Fatal(err)
			}
			key0 := pubPEM(t, first.CertFile)
			renewed, err := one(c.Renew(ctx, "mail.example.com"))
			if err != nil {
				t.Fatal(err)
			}
			if renewed.Record.Serial == first.Record.Serial {
				t.Fatal("renew kept the serial")
			}
			if pubPEM(t, renewed.CertFile) != key0 {
				t.Error("renew changed the key")
			}
			if renewed.Record.Signature != first.Record.Signature {
				t.Errorf("renew changed the signature algorithm: %s -> %s", first.Record.Signature, renewed.Record.Signature)
			}
			if d := renewed.Record.NotAfter.Sub(renewed.Record.NotBefore); d < 29*24*time.Hour || d > 31*24*time.Hour {
				t.Errorf("renewed lifetime %v, want the original 30 days", d)
			}
			if err := opensslVerify(t, c, firstSlot(c), renewed.CertFile); err != nil {
				t.Fatal(err)
			}
			rotated, err := one(c.Rotate(ctx, "mail.example.com", nil))
			if err != nil {
				t.Fatal(err)
			}
			if pubPEM(t, rotated.CertFile) == key0 {
				t.Error("rotate kept the key")
			}
			if err := opensslVerify(t, c, firstSlot(c), rotated.CertFile); err != nil {
				t.Fatal(err)
			}
			// The old versions stay on disk (a server mid-switch may still read
			// them); only the link moved.
			if _, err := os.Stat(filepath.Join(c.layout.ServerVersion("mail.example.com", first.Record.Serial), keyFile)); err != nil {
				t.Errorf("old version removed: %v", err)
			}
			states := recordStates(t, c)
			if states[first.Record.Serial] != StateSuperseded || states[renewed.Record.Serial] != StateSuperseded || states[rotated.Record.Serial] != StateActive {
				t.Errorf("states = %v", states)
			}
			if _, err := c.Renew(ctx, "nobody.example.com"); err == nil || !strings.Contains(err.Error(), "no active certificate") {
				t.Errorf("renew unknown host: %v", err)
			}
		})
	}
}

func TestIssueFromCSRWritesNoKey(t *testing.T) {
	ctx := context.Background()
	c := newCA(t, "modern-rsa")
	csr, csrKey := opensslCSR(t, "ignored.example.org")
	is, err := one(c.Issue(ctx, IssueRequest{Host: "mail.example.com", CSR: csr}))
	if err != nil {
		t.Fatal(err)
	}
	if is.KeyFile != "" {
		t.Errorf("a key file was reported for a CSR issuance: %s", is.KeyFile)
	}
	if _, err := os.Stat(filepath.Join(c.layout.ServerVersion("mail.example.com", is.Record.Serial), keyFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("key file written for a CSR issuance: %v", err)
	}
	// The names are the CA's choice, not the CSR's.
	subj := string(testtool.MustRun(t, nil, "openssl", "x509", "-in", is.CertFile, "-noout", "-subject"))
	if !strings.Contains(subj, "mail.example.com") || strings.Contains(subj, "ignored") {
		t.Errorf("subject %s", subj)
	}
	if pubPEM(t, is.CertFile) != string(testtool.MustRun(t, nil, "openssl", "pkey", "-in", csrKey, "-pubout")) {
		t.Error("certificate key is not the CSR's key")
	}
	if err := opensslVerify(t, c, firstSlot(c), is.CertFile); err != nil {
		t.Fatal(err)
	}
	forged := *csr
	forged.Signature = append([]byte(nil), csr.Signature...)
	forged.Signature[10] ^= 1
	if _, err := c.Issue(ctx, IssueRequest{Host: "forged.example.com", CSR: &forged}); err == nil || !strings.Contains(err.Error(), "CSR signature does not verify") {
		t.Errorf("CSR with a damaged signature: %v", err)
	}
	if _, err := c.Rotate(ctx, "mail.example.com", nil); err == nil || !strings.Contains(err.Error(), "came from a CSR") {
		t.Errorf("rotate of a CSR certificate without a CSR: %v", err)
	}
	if _, err := c.Renew(ctx, "mail.example.com"); err != nil {
		t.Errorf("renew of a CSR certificate: %v", err)
	}
}

func TestRevokeWritesCRLThatOpenSSLChecks(t *testing.T) {
	for _, url := range []string{"", "http://pki.example.com/pushca.crl"} {
		t.Run("url="+url, func(t *testing.T) { testRevokeCRL(t, url) })
	}
}

func testRevokeCRL(t *testing.T, crlURL string) {
	ctx := context.Background()
	c := newCAWith(t, InitOptions{Families: []string{"modern-rsa"}, Password: testPassword, CRLURL: crlURL})
	keep, err := one(c.Issue(ctx, IssueRequest{Host: "keep.example.com"}))
	if err != nil {
		t.Fatal(err)
	}
	gone, err := one(c.Issue(ctx, IssueRequest{Host: "gone.example.com"}))
	if err != nil {
		t.Fatal(err)
	}
	code, _ := ReasonCode("key-compromise")
	rs, err := c.Revoke(ctx, "gone.example.com", "key-compromise", code)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Serial != gone.Record.Serial || rs[0].State != StateRevoked {
		t.Fatalf("revoked %+v", rs)
	}
	if _, err := c.Revoke(ctx, gone.Record.Serial, "again", 0); err == nil || !strings.Contains(err.Error(), "already revoked") {
		t.Errorf("second revoke: %v", err)
	}
	crlPEM := filepath.Join(t.TempDir(), "crl.pem")
	testtool.MustRun(t, nil, "openssl", "crl", "-inform", "DER", "-in", c.layout.CRL(firstSlot(c)), "-out", crlPEM)
	text := string(testtool.MustRun(t, nil, "openssl", "crl", "-in", crlPEM, "-noout", "-text", "-CAfile", c.layout.IntermediateCert(firstSlot(c))))
	if !strings.Contains(text, fmt.Sprintf("%X", gone.Chain[0].SerialNumber)) || !strings.Contains(text, "Key Compromise") {
		t.Errorf("CRL lacks the revoked serial or reason:\n%s", text)
	}
	// The CRL is signed by the intermediate: openssl checks its signature.
	_, errb, err := testtool.Run(t, nil, "openssl", "crl", "-in", crlPEM, "-noout", "-CAfile", c.layout.IntermediateCert(firstSlot(c)))
	if err != nil || !strings.Contains(string(errb), "verify OK") {
		t.Errorf("openssl did not verify the CRL: %v %s", err, errb)
	}
	if err := opensslVerify(t, c, firstSlot(c), gone.CertFile, "-crl_check", "-CRLfile", crlPEM); err == nil {
		t.Error("openssl accepted a revoked certificate with the CRL")
	}
	if err := opensslVerify(t, c, firstSlot(c), keep.CertFile, "-crl_check", "-CRLfile", crlPEM); err != nil {
		t.Errorf("openssl refused a good certificate with the CRL: %v", err)
	}
	if crlURL != "" {
		cdp := string(testtool.MustRun(t, nil, "openssl", "x509", "-in", keep.CertFile, "-noout", "-ext", "crlDistributionPoints"))
		if !strings.Contains(cdp, crlURL) || !strings.Contains(text, "Issuing Distribution Point") {
			t.Errorf("CRL URL missing from certificate or CRL:\n%s\n%s", cdp, text)
		}
	}
	if _, err := ReasonCode("bored"); err == nil {
		t.Error("unknown reason accepted")
	}
}

func TestCrashBetweenWritesIsRepaired(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		stage     string
		wantState string
	}{
		{"recorded", StateAbandoned},
		{"key-written", StateAbandoned},
		{"files-written", StateActive},
	} {
		t.Run(tc.stage, func(t *testing.T) {
			c2 := crashIssue(t, "legacy", tc.stage)
			notes, err := c2.Repair(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(notes) != 1 {
				t.Fatalf("repair notes = %q, want one", notes)
			}
			recs, _ := c2.List(ctx)
			if len(recs) != 1 || recs[0].State != tc.wantState {
				t.Fatalf("records after repair: %+v", recs)
			}
			if tc.wantState == StateActive {
				if err := opensslVerify(t, c2, firstSlot(c2), c2.layout.ServerCert("mail.example.com", firstSlot(c2))); err != nil {
					t.Fatal(err)
				}
				return
			}
			if _, err := os.Stat(c2.layout.ServerVersion("mail.example.com", recs[0].Serial)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("partial files left: %v", err)
			}
			// The host is free again and a re-run succeeds.
			if _, err := c2.Issue(ctx, IssueRequest{Host: "mail.example.com"}); err != nil {
				t.Fatalf("re-run after repair: %v", err)
			}
			// The abandoned certificate is on the CRL: its key may exist in a
			// crash dump, so nobody may ever use it.
			crl, err := x509.ParseRevocationList(testtool.ReadFile(t, c2.layout.CRL(firstSlot(c2))))
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, e := range crl.RevokedCertificateEntries {
				found = found || e.SerialNumber.String() == recs[0].Serial
			}
			if !found {
				t.Error("abandoned certificate not on the CRL")
			}
			if again, _ := c2.Repair(ctx); len(again) != 0 {
				t.Errorf("second repair did something: %q", again)
			}
		})
	}
}

// TestCrashBeforeRecordLeavesNothing: a crash between signing and the
// pending record leaves the certificate in neither the inventory nor
// step-ca's tables (it is written with the record, see stepDB), nothing to
// repair, and the host free.
func TestCrashBeforeRecordLeavesNothing(t *testing.T) {
	ctx := context.Background()
	c2 := crashIssue(t, "modern", "signed")
	if notes, err := c2.Repair(ctx); err != nil || len(notes) != 0 {
		t.Fatalf("repair: %q, %v", notes, err)
	}
	if recs, _ := c2.List(ctx); len(recs) != 0 {
		t.Fatalf("records after a crash before the record: %+v", recs)
	}
	if certs, err := c2.step.List([]byte("x509_certs")); err != nil || len(certs) != 0 {
		t.Fatalf("step-ca certificates after a crash before the record: %d, %v", len(certs), err)
	}
	is, err := one(c2.Issue(ctx, IssueRequest{Host: "mail.example.com"}))
	if err != nil {
		t.Fatalf("re-run: %v", err)
	}
	if _, err := c2.db.GetCertificate(is.Record.Serial); err != nil {
		t.Errorf("the re-run's certificate is not in step-ca's table: %v", err)
	}
}

// opensslCSR makes an RSA 2048 key and a request for cn with openssl and
// returns the parsed request and the key's file.
func opensslCSR(t *testing.T, cn string) (*x509.CertificateRequest, string) {
	t.Helper()
	dir := t.TempDir()
	key, req := filepath.Join(dir, "k.pem"), filepath.Join(dir, "r.csr")
	testtool.MustRun(t, nil, "openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-subj", "/CN="+cn, "-out", req)
	blk, _ := pem.Decode(testtool.ReadFile(t, req))
	if blk == nil {
		t.Fatalf("openssl wrote no PEM request to %s", req)
	}
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return csr, key
}

// crashIssue issues for mail.example.com on a new CA of profile name, with
// a simulated crash at stage, and returns the CA opened again from disk,
// not yet repaired.
func crashIssue(t *testing.T, name, stage string) *CA {
	t.Helper()
	ctx := context.Background()
	c := newCA(t, name)
	crash := errors.New("simulated crash")
	c.failpoint = func(s string) error {
		if s == stage {
			return crash
		}
		return nil
	}
	if _, err := c.Issue(ctx, IssueRequest{Host: "mail.example.com"}); !errors.Is(err, crash) {
		t.Fatalf("err = %v, want the simulated crash", err)
	}
	c.Close()
	c2, err := Open(ctx, c.layout.Dir, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c2.Close() })
	return c2
}

func TestExpiringAndInventoryAcrossReopen(t *testing.T) {
	ctx := context.Background()
	c := newCA(t, "legacy")
	for _, h := range []string{"a.example.com", "b.example.com"} {
		days := 10
		if h == "b.example.com" {
			days = 100
		}
		if _, err := c.Issue(ctx, IssueRequest{Host: h, Days: days}); err != nil {
			t.Fatal(err)
		}
	}
	dir := c.layout.Dir
	c.Close()
	c2, err := Open(ctx, dir, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	recs, _ := c2.List(ctx)
	var hosts []string
	for _, r := range recs {
		hosts = append(hosts, r.Host)
	}
	sort.Strings(hosts)
	if strings.Join(hosts, ",") != "a.example.com,b.example.com" {
		t.Errorf("inventory after reopen: %v", hosts)
	}
	exp, _ := c2.Expiring(ctx, time.Now(), 30*24*time.Hour)
	if len(exp) != 1 || exp[0].Host != "a.example.com" {
		t.Errorf("expiring within 30 days: %+v", exp)
	}
	exp, _ = c2.Expiring(ctx, time.Now(), 5*24*time.Hour)
	if len(exp) != 0 {
		t.Errorf("expiring within 5 days: %+v", exp)
	}
}

func TestSecondOpenFailsClearly(t *testing.T) {
	c := newCA(t, "legacy")
	_, err := Open(context.Background(), c.layout.Dir, testPassword)
	if err == nil || !strings.Contains(err.Error(), "in use by another pushca process") {
		t.Fatalf("second open: %v", err)
	}
}

// An international host name is issued as its punycode form, the one
// name devices and packages carry (profile.HostName), and a wildcard keeps
// its label.
func TestInternationalHostNameIsPunycode(t *testing.T) {
	c := newCA(t, "modern")
	is, err := one(c.Issue(context.Background(), IssueRequest{Host: "Bücher.Example", DNS: []string{"*.bücher.example"}}))
	if err != nil {
		t.Fatal(err)
	}
	if is.Record.Host != "xn--bcher-kva.example" || !slices.Equal(is.Chain[0].DNSNames, []string{"xn--bcher-kva.example", "*.xn--bcher-kva.example"}) {
		t.Errorf("issued %q with %v", is.Record.Host, is.Chain[0].DNSNames)
	}
	for _, bad := range []string{"../etc", "*.10.0.0.1", "a_b.example"} {
		if _, err := c.Issue(context.Background(), IssueRequest{Host: bad}); err == nil {
			t.Errorf("%q issued", bad)
		}
	}
}

package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-acme/lego/v4/certcrypto"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/internal/acmetest"
	"github.com/pushca/pushca/internal/testtool"
)

// acmeServer is `pushca acme serve` on a legacy+modern CA, for localhost,
// validating http-01 and tls-alpn-01 on loopback ports of the test's.
type acmeServer struct {
	srv               *child
	dir               string
	env               []string
	dirs              map[string]string // family -> directory URL
	http01, tlsALPN01 string
	root              string
}

func startACMEServe(t *testing.T) *acmeServer {
	t.Helper()
	a := &acmeServer{dir: filepath.Join(t.TempDir(), "state"), env: passwordEnv(t, "acme password"), dirs: map[string]string{},
		http01: loopbackPort(t), tlsALPN01: loopbackPort(t)}
	mustPushca(t, a.env, "--dir", a.dir, "init", "--host", "localhost", "--profiles", "wm6,ios")
	a.root = ca.Layout{Dir: a.dir}.RootCert()
	a.srv = startPushca(t, a.env, "--dir", a.dir, "acme", "serve", "--host", "localhost", "--listen", "127.0.0.1:0",
		"--http-01-port", a.http01, "--tls-alpn-01-port", a.tlsALPN01)
	lines := a.srv.waitFor(t, func(lines []string) bool { return len(lines) >= 2 })
	for _, l := range lines {
		label, url, _ := strings.Cut(l, ": ")
		if fam, ok := strings.CutPrefix(label, "ACME "); ok {
			a.dirs[fam] = url
		}
	}
	if a.dirs["legacy"] == "" || a.dirs["modern"] == "" {
		t.Fatalf("acme serve printed %q", lines)
	}
	return a
}

func loopbackPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// list stops the server (the database is one process's) and returns
// `pushca cert list --json` by serial.
func (a *acmeServer) list(t *testing.T) map[string]ca.Record {
	t.Helper()
	a.srv.stop(t, syscall.SIGTERM)
	var recs []ca.Record
	if err := json.Unmarshal([]byte(mustPushca(t, a.env, "--dir", a.dir, "cert", "list", "--json")), &recs); err != nil {
		t.Fatal(err)
	}
	out := map[string]ca.Record{}
	for _, r := range recs {
		out[r.Serial] = r
	}
	return out
}

// opensslShows fails the test unless `openssl x509 -text` of the PEM file
// shows every string of want.
func opensslShows(t *testing.T, pemFile string, want ...string) {
	t.Helper()
	text := string(testtool.MustRun(t, nil, "openssl", "x509", "-in", pemFile, "-noout", "-text"))
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("openssl x509 -text %s lacks %q:\n%s", pemFile, w, text)
		}
	}
}

// `pushca acme serve` gives lego a certificate per family, validated on
// the ports its flags name, and `pushca cert list` lists them with source
// acme.
func TestACMEServeWithLego(t *testing.T) {
	a := startACMEServe(t)
	roots := x509.NewCertPool()
	roots.AddCert(acmetest.Chain(t, testtool.ReadFile(t, a.root))[0])
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	want := map[string]string{}
	for fam, o := range map[string]acmetest.Order{
		"legacy": {Challenge: "http-01", Port: a.http01, Key: certcrypto.RSA2048},
		"modern": {Challenge: "tls-alpn-01", Port: a.tlsALPN01, Key: certcrypto.EC256},
	} {
		o.Directory, o.Client, o.Names = a.dirs[fam], client, []string{"localhost"}
		res, err := acmetest.Obtain(t, o)
		if err != nil {
			t.Fatalf("lego, %s family, %s: %v\nserver: %s", fam, o.Challenge, err, a.srv.stderr.String())
		}
		want[acmetest.Chain(t, res.Certificate)[0].SerialNumber.String()] = fam
	}
	listed := a.list(t)
	for serial, fam := range want {
		if r := listed[serial]; r.Source != ca.SourceACME || r.Family != fam || r.Host != "localhost" {
			t.Errorf("cert list has %s as %+v, want source acme, family %s", serial, r, fam)
		}
	}
}

// Debian's certbot, as an admin runs it: a certificate from each family
// (openssl shows SHA-1/RSA-2048 for legacy, SHA-256 for modern), both in
// `pushca cert list` with source acme; a wildcard and an ECDSA key under
// legacy refused with the ACME error.
func TestACMEServeWithCertbot(t *testing.T) {
	certbot := testtool.Path(t, "certbot")
	a := startACMEServe(t)
	work := t.TempDir()
	run := func(name, family string, args ...string) (logs string, err error) {
		logs = filepath.Join(work, "logs-"+name)
		args = append([]string{"certonly", "--standalone", "--non-interactive", "--agree-tos", "--register-unsafely-without-email",
			"--server", a.dirs[family], "--preferred-challenges", "http", "--http-01-port", a.http01, "--http-01-address", "127.0.0.1",
			"--config-dir", filepath.Join(work, "config"), "--work-dir", filepath.Join(work, "work"), "--logs-dir", logs,
			"--cert-name", name}, args...)
		_, stderr, err := testtool.Run(t, nil, certbot, args...)
		if err != nil {
			b, _ := os.ReadFile(filepath.Join(logs, "letsencrypt.log"))
			return string(b), err
		}
		return string(stderr), nil
	}
	t.Setenv("REQUESTS_CA_BUNDLE", a.root)
	if out, err := run("legacy", "legacy", "-d", "localhost", "--key-type", "rsa", "--rsa-key-size", "2048"); err != nil {
		t.Fatalf("certbot, legacy: %v\n%s\nserver: %s", err, out, a.srv.stderr.String())
	}
	if out, err := run("modern", "modern", "-d", "localhost", "--key-type", "ecdsa"); err != nil {
		t.Fatalf("certbot, modern: %v\n%s\nserver: %s", err, out, a.srv.stderr.String())
	}
	live := filepath.Join(work, "config", "live")
	opensslShows(t, filepath.Join(live, "legacy", "cert.pem"), "Signature Algorithm: sha1WithRSAEncryption", "Public-Key: (2048 bit)")
	opensslShows(t, filepath.Join(live, "modern", "cert.pem"), "Signature Algorithm: ecdsa-with-SHA256")
	// certbot 2.1 on Python 3.11 prints "AttributeError: can't set
	// attribute" for every ACME error; its log has the error itself.
	for name, tc := range map[string]struct{ args, want []string }{
		"wildcard": {[]string{"-d", "*.localhost"}, []string{"urn:ietf:params:acme:error:rejectedIdentifier", "wildcard name *.localhost; the legacy chain family's devices match exact names only"}},
		"ecdsa":    {[]string{"-d", "localhost", "--key-type", "ecdsa"}, []string{"urn:ietf:params:acme:error:badCSR", "ECDSA key; the legacy chain family's devices support RSA keys only"}},
	} {
		logs, err := run(name, "legacy", tc.args...)
		if err == nil {
			t.Errorf("certbot %v under legacy succeeded", tc.args)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(logs, w) {
				t.Errorf("certbot %v under legacy: its log lacks %q:\n%s", tc.args, w, logs)
			}
		}
	}
	listed := a.list(t)
	for _, fam := range []string{"legacy", "modern"} {
		leaf := acmetest.Chain(t, testtool.ReadFile(t, filepath.Join(live, fam, "cert.pem")))[0]
		if r := listed[leaf.SerialNumber.String()]; r.Source != ca.SourceACME || r.Family != fam || r.Host != "localhost" {
			t.Errorf("cert list has certbot's %s certificate as %+v", fam, r)
		}
	}
}

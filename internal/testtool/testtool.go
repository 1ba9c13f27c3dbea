package testtool

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Path returns the path of tool, failing the test under CI=true when it is
// missing and skipping it otherwise (`make test` installs every tool).
func Path(t testing.TB, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err == nil {
		return p
	}
	// Servers (nginx, apache2, haproxy) install to /usr/sbin, which is not
	// on a user's PATH.
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if p, err := exec.LookPath(filepath.Join(dir, tool)); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required under CI=true but not installed (run `make tools`)", tool)
	}
	t.Skipf("%s not installed; `make test` installs it", tool)
	return ""
}

// Run runs tool with args and optional stdin, bounded to two minutes, and
// returns stdout, stderr and the error (an *exec.ExitError for a non-zero
// exit). It never fails the test by itself: oracles are expected to refuse
// bad input and the caller decides.
func Run(t testing.TB, stdin []byte, tool string, args ...string) (stdout, stderr []byte, err error) {
	t.Helper()
	p := Path(t, tool)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, p, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.Bytes(), e.Bytes(), err
}

// MustRun is Run that fails the test on a non-zero exit, printing stderr.
func MustRun(t testing.TB, stdin []byte, tool string, args ...string) []byte {
	t.Helper()
	out, errb, err := Run(t, stdin, tool, args...)
	if err != nil {
		t.Fatalf("%s %v: %v\nstdout: %s\nstderr: %s", tool, args, err, out, errb)
	}
	return out
}

// PySheetParser is Python for test scripts that read pushca's HTML sheets
// with html.parser: class P collects the text of every element with an id
// into P.ids and counts script elements in P.scripts.
const PySheetParser = `from html.parser import HTMLParser
class P(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.cur, self.ids, self.scripts = None, {}, 0
    def handle_starttag(self, tag, attrs):
        if tag == "script": self.scripts += 1
        i = dict(attrs).get("id")
        if i: self.cur = i; self.ids[i] = ""
    def handle_endtag(self, tag): self.cur = None
    def handle_data(self, d):
        if self.cur: self.ids[self.cur] += d
`

// Certificate signs tmpl with signer under parent (tmpl itself when parent
// is nil) and parses the result, failing the test on any error.
func Certificate(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
	t.Helper()
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ReadFile reads a file the test needs, failing the test when it cannot.
func ReadFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FreePort is a loopback port that was free a moment ago, for a server
// that takes a port number rather than a listener (an ACME challenge
// responder, step-ca's address).
func FreePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

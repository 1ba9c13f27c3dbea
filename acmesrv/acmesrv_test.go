package acmesrv_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-acme/lego/v4/certcrypto"
	"github.com/go-acme/lego/v4/certificate"

	"github.com/pushca/pushca/acmesrv"
	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/internal/acmetest"
	"github.com/pushca/pushca/internal/testtool"
)

var testPassword = []byte("acme test password")

// acmeCA is a CA of every family with its ACME handler on a loopback
// TLS listener. Every challenge validation goes to 127.0.0.1, on the ports
// of the test's challenge servers, whatever the order's name: so names
// under .test, which resolve nowhere, are proved on loopback.
type acmeCA struct {
	ca                *ca.CA
	url               string
	client            *http.Client
	http01, tlsALPN01 string // ports
}

// initialized is a CA of every family, made once: its RSA keys take most
// of a minute under -race. Each test opens a copy.
var initialized = struct {
	once sync.Once
	dir  string
	err  error
}{}

func TestMain(m *testing.M) {
	code := m.Run()
	if initialized.dir != "" {
		os.RemoveAll(filepath.Dir(initialized.dir))
	}
	os.Exit(code)
}

func startACME(t *testing.T) *acmeCA {
	t.Helper()
	ctx := context.Background()
	initialized.once.Do(func() {
		tmp, err := os.MkdirTemp("", "acmesrv-test-")
		if err != nil {
			initialized.err = err
			return
		}
		initialized.dir = filepath.Join(tmp, "ca")
		initialized.err = ca.Init(ctx, initialized.dir, ca.InitOptions{Name: "ACME Test", Families: []string{"legacy", "modern", "modern-rsa"}, Password: testPassword})
	})
	if initialized.err != nil {
		t.Fatal(initialized.err)
	}
	dir := filepath.Join(t.TempDir(), "ca")
	testtool.MustRun(t, nil, "cp", "-a", initialized.dir, dir)
	c, err := ca.Open(ctx, dir, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	e := &acmeCA{ca: c, http01: testtool.FreePort(t), tlsALPN01: testtool.FreePort(t)}
	ports := map[string]string{"80": e.http01, "443": e.tlsALPN01}
	var d net.Dialer
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", ports[port]))
	}
	h, err := acmesrv.New(c, acmesrv.Options{Dial: dial, Log: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert(t, c)}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(c.Root())
	e.url = "https://localhost:" + strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)
	e.client = &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	return e
}

// serverCert is the ACME endpoint's own certificate, for localhost, from a
// family whose SHA-256 chain ACME clients accept.
func serverCert(t *testing.T, c *ca.CA) tls.Certificate {
	t.Helper()
	is, err := c.Issue(context.Background(), ca.IssueRequest{Host: "localhost", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Families: []string{"modern"}})
	if err != nil {
		t.Fatalf("server certificate: %v", err)
	}
	pair, err := tls.LoadX509KeyPair(is[0].ChainFile, is[0].KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

// obtain runs lego against family's directory for names, with a key of
// keyType, proved by challenge.
func (e *acmeCA) obtain(t *testing.T, family, challenge string, keyType certcrypto.KeyType, names ...string) (*certificate.Resource, error) {
	t.Helper()
	port := e.http01
	if challenge == "tls-alpn-01" {
		port = e.tlsALPN01
	}
	return acmetest.Obtain(t, acmetest.Order{
		Directory: e.url + acmesrv.Prefix + "/" + family + "/directory", Client: e.client,
		Challenge: challenge, Port: port, Key: keyType, Names: names,
	})
}

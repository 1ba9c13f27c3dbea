package verify

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.step.sm/crypto/pemutil"
	"golang.org/x/crypto/bcrypt"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/internal/atomicfile"
	"github.com/pushca/pushca/profile"
	"github.com/pushca/pushca/push"
	"github.com/pushca/pushca/push/ops"
	"github.com/pushca/pushca/push/ping"
)

const (
	testHost     = "mail.test"
	testUser     = "alice"
	testPassword = "secret"
)

var caPassword = []byte("verify-test-password")

// testCA is a state directory made by package ca with one root, the chain
// families named, and one server certificate per family for testHost.
type testCA struct {
	dir  string
	root *x509.Certificate
	// issued holds testHost's certificate of each family, in the CA's order.
	issued []*ca.Issued
}

func newTestCA(t *testing.T, families ...string) testCA {
	t.Helper()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")
	if err := ca.Init(ctx, dir, ca.InitOptions{Families: families, Password: caPassword}); err != nil {
		t.Fatal(err)
	}
	authority, err := ca.Open(ctx, dir, caPassword)
	if err != nil {
		t.Fatal(err)
	}
	defer authority.Close()
	issued, err := authority.Issue(ctx, ca.IssueRequest{Host: testHost})
	if err != nil {
		t.Fatal(err)
	}
	return testCA{dir: dir, root: authority.Root(), issued: issued}
}

// keyPair is testHost's certificate of the named family as a TLS server
// serves it: leaf, intermediate and key.
func (c testCA) keyPair(t *testing.T, family string) tls.Certificate {
	t.Helper()
	for _, is := range c.issued {
		if is.Record.Family == family {
			kp, err := tls.LoadX509KeyPair(is.ChainFile, is.KeyFile)
			if err != nil {
				t.Fatalf("%s chain of %s: %v", family, testHost, err)
			}
			return kp
		}
	}
	t.Fatalf("the test CA has no %s family", family)
	return tls.Certificate{}
}

// expiredPair signs, with the intermediate key of the CA's first family
// (an RSA key: the leaf takes the intermediate's own signature algorithm,
// which an RSA root gave it), a server certificate whose validity ended
// ten days ago, and returns its files.
func (c testCA) expiredPair(t *testing.T) push.KeyPair {
	t.Helper()
	slots, err := ca.ReadSlots(c.dir)
	if err != nil {
		t.Fatal(err)
	}
	l, s := ca.Layout{Dir: c.dir}, slots[0]
	keyPEM, err := os.ReadFile(l.IntermediateKey(s))
	if err != nil {
		t.Fatal(err)
	}
	k, err := pemutil.ParseKey(keyPEM, pemutil.WithPassword(caPassword))
	if err != nil {
		t.Fatal(err)
	}
	interPEM, err := os.ReadFile(l.IntermediateCert(s))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(interPEM)
	inter, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	leafKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:       big.NewInt(time.Now().UnixNano()),
		Subject:            pkix.Name{CommonName: testHost},
		DNSNames:           []string{testHost},
		NotBefore:          time.Now().Add(-400 * 24 * time.Hour),
		NotAfter:           time.Now().Add(-10 * 24 * time.Hour),
		KeyUsage:           x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:        []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		SignatureAlgorithm: inter.SignatureAlgorithm,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, inter, &leafKey.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(leafKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pair := push.KeyPair{Cert: filepath.Join(dir, "chain.pem"), Key: filepath.Join(dir, "key.pem")}
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), interPEM...)
	if err := os.WriteFile(pair.Cert, chain, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pair.Key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), 0o600); err != nil {
		t.Fatal(err)
	}
	return pair
}

// leafOnly is the server certificate of the CA's first family without its
// intermediate.
func (c testCA) leafOnly() push.KeyPair {
	return push.KeyPair{Cert: c.issued[0].CertFile, Key: c.issued[0].KeyFile}
}

// serve starts the real push server on loopback ports, with one user and
// heartbeat bounds short enough for tests. It serves the CA's own server
// certificate from its state directory, or the given pairs from a state
// directory of its own: the device database admits one server at a time,
// and TestFailures runs several under one CA. It stops when the test ends.
func serve(t *testing.T, c testCA, pairs []push.KeyPair, profiles ...string) *push.Server {
	t.Helper()
	dir := c.dir
	if len(pairs) > 0 {
		dir = t.TempDir()
	}
	if err := atomicfile.MkdirAll(filepath.Dir(push.UsersPath(dir))); err != nil {
		t.Fatal(err)
	}
	users, err := push.OpenUsers(push.UsersPath(dir), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if !users.Has(testUser) {
		if err := users.Add(testUser, testPassword); err != nil {
			t.Fatal(err)
		}
	}
	cfg := push.Config{
		Dir: dir, Host: testHost, Pairs: pairs,
		HTTPSAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		Heartbeat:  ping.HeartbeatBounds{Min: 1, Max: 60},
		BcryptCost: bcrypt.MinCost,
		Log:        testLog(t),
	}
	for _, n := range profiles {
		p, err := profile.Get(n)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Profiles = append(cfg.Profiles, p)
	}
	s, err := push.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Listen(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server: %v", err)
			}
		case <-time.After(time.Minute):
			t.Error("server did not stop within a minute")
		}
	})
	return s
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// device is a device of profileName trusting root that dials addr for
// testHost; without an account it checks TLS only.
func device(addr, profileName string, root *x509.Certificate) Options {
	p, err := profile.Get(profileName)
	if err != nil {
		panic(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	return Options{URL: "https://" + testHost + ":" + port, Connect: addr, Profile: p, Roots: []*x509.Certificate{root}}
}

// options checks s as a device of profileName trusting root, with the
// admin API wired for the push measurement.
func options(s *push.Server, profileName string, root *x509.Certificate) Options {
	o := device(s.HTTPSAddr(), profileName, root)
	o.Login, o.Password = `CORP\`+testUser, testPassword
	o.Heartbeat = time.Second
	o.Deliver = func(ctx context.Context) (int, error) {
		res, err := ops.Deliver(ctx, "http://"+s.AdminAddr(), s.Token(), ops.DeliverRequest{User: testUser, Subject: "pushca verify test"})
		return res.Woken, err
	}
	return o
}

func run(t *testing.T, opt Options) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := Run(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	r.WriteText(&b)
	t.Log("\n" + b.String())
	return r
}

func check(t *testing.T, r *Report, name string) Check {
	t.Helper()
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %q check in %+v", name, r.Checks)
	return Check{}
}

// idleCutter is a TCP relay on loopback to target that closes both sides
// of a connection once nothing has crossed it for idle, as a NAT gateway
// or firewall does. It stops when the test ends.
func idleCutter(t *testing.T, target string, idle time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	quit := make(chan struct{})
	t.Cleanup(func() {
		close(quit)
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { relay(c, target, idle, quit) })
		}
	})
	return ln.Addr().String()
}

// maxRelayLife bounds any one relayed connection.
const maxRelayLife = time.Minute

func relay(client net.Conn, target string, idle time.Duration, quit <-chan struct{}) {
	defer client.Close()
	server, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		return
	}
	defer server.Close()
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				last.Store(time.Now().UnixNano())
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		done <- struct{}{}
	}
	go pipe(server, client)
	go pipe(client, server)
	tick := time.NewTicker(idle / 20)
	defer tick.Stop()
	deadline := time.After(maxRelayLife)
	for {
		select {
		case <-done:
			return
		case <-quit:
			return
		case <-deadline:
			return
		case <-tick.C:
			if time.Since(time.Unix(0, last.Load())) > idle {
				return
			}
		}
	}
}

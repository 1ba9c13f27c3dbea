package push

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/profile"
)

// helloClient sends a ClientHello to addr: an outside tool, or Go's client.
type helloClient struct {
	// tool is the oracle to run with args(addr); "" for Go's client with
	// config.
	tool   string
	args   func(addr string) []string
	config *tls.Config
}

func (c helloClient) send(t testing.TB, addr string) {
	if c.tool != "" {
		testtool.Run(t, []byte{}, c.tool, c.args(addr)...) // cut after the hello: it fails
		return
	}
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return // captureHello reports it
	}
	defer conn.Close()
	cfg := c.config.Clone()
	cfg.ServerName = testHost
	tls.Client(conn, cfg).Handshake()
}

func opensslClient(args ...string) helloClient {
	return helloClient{tool: "openssl", args: func(addr string) []string {
		return append([]string{"s_client", "-connect", addr}, args...)
	}}
}

func goClient(min, max uint16, suites []uint16) helloClient {
	return helloClient{config: &tls.Config{MinVersion: min, MaxVersion: max, CipherSuites: suites}}
}

// captureHello runs c against a loopback listener and returns the records
// carrying its ClientHello as they came, then cuts the connection.
func captureHello(t testing.TB, c helloClient) []byte {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	defer func() {
		ln.Close()
		<-done // the client gives up once cut, within its own time limit
	}()
	go func() {
		defer close(done)
		c.send(t, ln.Addr().String())
	}()
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(time.Minute))
	conn, err := ln.Accept()
	if err != nil {
		t.Fatalf("no client connected: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute))
	raw, err := readHello(conn)
	if err != nil {
		t.Fatalf("read the ClientHello: %v", err)
	}
	return raw
}

// readHello reads TLS records until they hold the client's first
// handshake message. Only the framing is read here, to know where the
// hello ends; the hello itself is left to crypto/tls (parseHello).
func readHello(r io.Reader) ([]byte, error) {
	var raw, msg []byte
	for len(raw) < 1<<17 {
		hdr := make([]byte, 5)
		if _, err := io.ReadFull(r, hdr); err != nil {
			return nil, err
		}
		body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, err
		}
		raw = append(append(raw, hdr...), body...)
		msg = append(msg, body...)
		if len(msg) >= 4 && len(msg) >= 4+(int(msg[1])<<16|int(msg[2])<<8|int(msg[3])) {
			return raw, nil
		}
	}
	return nil, errors.New("no complete handshake message in 128 KiB")
}

var errHelloRead = errors.New("hello read; handshake stopped")

// parseHello runs a real crypto/tls server handshake with cfg on raw and
// returns the hello as GetCertificate would see it, stopping the handshake
// there.
func parseHello(t testing.TB, raw []byte, cfg *tls.Config) *tls.ClientHelloInfo {
	t.Helper()
	var hello *tls.ClientHelloInfo
	cfg = cfg.Clone()
	cfg.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		hello = h
		return nil, errHelloRead
	}
	client, server := net.Pipe()
	go func() {
		client.Write(raw)
		io.Copy(io.Discard, client) // the server's alert
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := tls.Server(server, cfg).HandshakeContext(ctx)
	server.Close()
	client.Close()
	if hello == nil {
		t.Fatalf("crypto/tls read no ClientHello from %d bytes: %v", len(raw), err)
	}
	return hello
}

// chainSets loads the chains of one CA with every family of the table,
// served in the combinations a CA can have.
func chainSets(t testing.TB) map[string]*Certificates {
	t.Helper()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")
	all := []string{profile.FamilyLegacy, profile.FamilyModern, profile.FamilyModernRSA}
	if err := ca.Init(ctx, dir, ca.InitOptions{Families: all, Password: []byte(testCAPassword)}); err != nil {
		t.Fatal(err)
	}
	authority, err := ca.Open(ctx, dir, []byte(testCAPassword))
	if err != nil {
		t.Fatal(err)
	}
	_, err = authority.Issue(ctx, ca.IssueRequest{Host: testHost, Days: 1})
	slots := authority.Slots()
	authority.Close()
	if err != nil {
		t.Fatal(err)
	}
	pairs := map[string]KeyPair{}
	for _, p := range hostPairs(dir, testHost, slots) {
		pairs[p.Family] = p
	}
	out := map[string]*Certificates{}
	// modern-rsa before modern: ECDSA must win by rank, not by order.
	for _, set := range [][]string{all, all[:2], all[:1], all[1:2], {all[2], all[1]}} {
		var ps []KeyPair
		for _, f := range set {
			ps = append(ps, pairs[f])
		}
		certs, err := LoadCertificates(ps, nil, testtool.Log(t))
		if err != nil {
			t.Fatal(err)
		}
		out[strings.Join(set, "+")] = certs
	}
	return out
}

// TestChooseOverRealHellos captures the ClientHellos of openssl, curl, Go's
// client and of clients with the Windows Mobile suites of the profile
// table, has crypto/tls parse each as a server with the TLS settings of
// each set of chains would, and checks which family choose picks.
func TestChooseOverRealHellos(t *testing.T) {
	const (
		lg, md, mr = profile.FamilyLegacy, profile.FamilyModern, profile.FamilyModernRSA
		all        = lg + "+" + md + "+" + mr
		mixed      = lg + "+" + md
		rsaFirst   = mr + "+" + md
	)
	wm5, err := profile.Get("wm5")
	if err != nil {
		t.Fatal(err)
	}
	wm6, err := profile.Get("wm6")
	if err != nil {
		t.Fatal(err)
	}
	sets := chainSets(t)
	for _, tc := range []struct {
		name   string
		client helloClient
		legacy bool              // what legacyHello must say
		want   map[string]string // chain set: the family chosen
	}{
		{"openssl s_client -tls1, wm6 suites", opensslClient(wmOpenSSL(t)...), true,
			map[string]string{all: lg, mixed: lg, md: md, lg: lg, rsaFirst: md}},
		{"openssl s_client -tls1_1", opensslClient("-tls1_1", "-cipher", "AES128-SHA:@SECLEVEL=0"), true,
			map[string]string{all: lg, mixed: lg, md: md, lg: lg, rsaFirst: md}},
		{"openssl s_client -tls1_2, SHA-1 signatures only", opensslClient("-tls1_2", "-sigalgs", "RSA+SHA1:ECDSA+SHA1", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256:@SECLEVEL=0"), true,
			map[string]string{all: lg, mixed: lg, md: md, lg: lg, rsaFirst: md}},
		{"openssl s_client", opensslClient(), false,
			map[string]string{all: md, mixed: md, md: md, lg: lg, rsaFirst: md}},
		{"curl", helloClient{tool: "curl", args: func(addr string) []string {
			return []string{"-sS", "--max-time", "30", "https://" + addr + "/"}
		}}, false,
			map[string]string{all: md, mixed: md, md: md, lg: lg, rsaFirst: md}},
		{"Go", goClient(0, 0, nil), false,
			map[string]string{all: md, mixed: md, md: md, lg: lg, rsaFirst: md}},
		// No ECDSA: an RSA modern chain, else whatever the client can use.
		{"Go, TLS 1.2 ECDHE-RSA only", goClient(tls.VersionTLS12, tls.VersionTLS12, []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}), false,
			map[string]string{all: mr, mixed: lg, md: md, lg: lg, rsaFirst: mr}},
		{"wm5 suites, TLS 1.0", goClient(tls.VersionTLS10, tls.VersionTLS10, wm5.Suites), true,
			map[string]string{all: lg, mixed: lg, md: md, lg: lg, rsaFirst: md}},
		{"wm6 suites, TLS 1.0", goClient(tls.VersionTLS10, tls.VersionTLS10, wm6.Suites), true,
			map[string]string{all: lg, mixed: lg, md: md, lg: lg, rsaFirst: md}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.client.tool != "" {
				testtool.Path(t, tc.client.tool)
			}
			raw := captureHello(t, tc.client)
			for set, want := range tc.want {
				certs := sets[set]
				hello := parseHello(t, raw, TLSConfig(certs, certs.Profiles()))
				info := fmt.Sprintf("versions %x, signature schemes %v, %d suites", hello.SupportedVersions, hello.SignatureSchemes, len(hello.CipherSuites))
				if got := legacyHello(hello); got != tc.legacy {
					t.Errorf("legacyHello = %v, want %v (%s)", got, tc.legacy, info)
				}
				got := choose(hello, certs.loaded())
				if got == nil {
					t.Fatalf("chains %s: chose none", set)
				}
				if got.family.Name != want {
					t.Errorf("chains %s: chose %s, want %s (%s)", set, got.family.Name, want, info)
				}
			}
		})
	}
	if got := choose(&tls.ClientHelloInfo{}, nil); got != nil {
		t.Errorf("no chains: chose %s", got.family.Name)
	}
}

// TestLeafFamily: a chain named by hand (`serve --cert`) is served as the
// family package ca issues such leaves in.
func TestLeafFamily(t *testing.T) {
	certs := chainSets(t)[profile.FamilyLegacy+"+"+profile.FamilyModern+"+"+profile.FamilyModernRSA]
	for _, ch := range certs.loaded() {
		if got, _ := profile.FamilyOf(ch.cert.Leaf); got.Name != ch.family.Name {
			t.Errorf("a %s leaf (%v) is read as family %q", ch.family.Name, ch.cert.Leaf.SignatureAlgorithm, got.Name)
		}
	}
}

// BenchmarkGetCertificate is the server's cost of choosing among two chain
// families for Go's client hello, against serving the one family alone:
// what BenchmarkHandshakes in load/ cannot resolve inside a handshake.
func BenchmarkGetCertificate(b *testing.B) {
	sets := chainSets(b)
	raw := captureHello(b, goClient(0, 0, nil))
	for _, set := range []string{profile.FamilyModern, profile.FamilyLegacy + "+" + profile.FamilyModern} {
		certs := sets[set]
		hello := parseHello(b, raw, TLSConfig(certs, certs.Profiles()))
		b.Run(set, func(b *testing.B) {
			for b.Loop() {
				if _, err := certs.GetCertificate(hello); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

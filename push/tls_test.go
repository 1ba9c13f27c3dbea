package push

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pushca/pushca/eas"
	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/profile"
	"github.com/pushca/pushca/push/ops"
	"github.com/pushca/pushca/push/ping"
)

// serveTLS accepts handshakes on loopback until the test ends.
func serveTLS(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				c.(*tls.Conn).HandshakeContext(context.Background())
				c.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

func peerCN(t *testing.T, addr string, root *x509.Certificate, cfg *tls.Config) string {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(root)
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg.RootCAs, cfg.ServerName = pool, testHost
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

func TestCertificateHotReload(t *testing.T) {
	dir := t.TempDir()
	root := newTestCA(t)
	pair := root.writeServer(t, dir, true, "first")
	certs, err := LoadCertificates([]KeyPair{pair}, nil, testtool.Log(t))
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, TLSConfig(certs, nil))
	if cn := peerCN(t, addr, root.cert, nil); cn != "first" {
		t.Fatalf("CN %q", cn)
	}
	root.writeServer(t, dir, true, "second")
	certs.watch.Forget() // instead of waiting out the once-a-second stat
	if cn := peerCN(t, addr, root.cert, nil); cn != "second" {
		t.Fatalf("after rewriting the files: CN %q, want second", cn)
	}
	// A broken file keeps the last good certificate.
	writeFile(t, pair.Key, []byte("garbage"))
	certs.watch.Forget()
	if cn := peerCN(t, addr, root.cert, nil); cn != "second" {
		t.Fatalf("after a broken key: CN %q", cn)
	}
}

func TestRSAAndECDSASideBySide(t *testing.T) {
	dir := t.TempDir()
	root := newTestCA(t)
	rsaPair := root.writeServer(t, dir, true, "rsa")
	ecChain, ecKey := root.leaf(t, false, "ecdsa")
	ecPair := KeyPair{Cert: filepath.Join(dir, "ec-chain.pem"), Key: filepath.Join(dir, "ec-key.pem")}
	writeFile(t, ecPair.Cert, ecChain)
	writeFile(t, ecPair.Key, ecKey)
	certs, err := LoadCertificates([]KeyPair{rsaPair, ecPair}, nil, testtool.Log(t))
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, TLSConfig(certs, nil))
	if cn := peerCN(t, addr, root.cert, nil); cn != "ecdsa" {
		t.Fatalf("modern client got %q, want the ECDSA chain", cn)
	}
	rsaOnly := &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}}
	if cn := peerCN(t, addr, root.cert, rsaOnly); cn != "rsa" {
		t.Fatalf("RSA-only client got %q, want the RSA chain", cn)
	}
}

func TestTLSConfigPerProfile(t *testing.T) {
	get := func(n string) profile.Profile {
		p, err := profile.Get(n)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	modern := TLSConfig(&Certificates{}, []profile.Profile{get("ios"), get("modern")})
	if modern.MinVersion != tls.VersionTLS12 || len(modern.CipherSuites) == 0 {
		t.Fatalf("modern: min %x suites %v", modern.MinVersion, modern.CipherSuites)
	}
	for _, id := range modern.CipherSuites {
		if name := tls.CipherSuiteName(id); !strings.HasPrefix(name, "TLS_ECDHE_") {
			t.Errorf("modern: %s offered, but RSA key exchange only comes with a legacy profile", name)
		}
	}
	wm5 := get("wm5")
	mixed := TLSConfig(&Certificates{}, []profile.Profile{wm5, get("ios")})
	if mixed.MinVersion != tls.VersionTLS10 {
		t.Fatalf("wm5: min %x", mixed.MinVersion)
	}
	for _, s := range wm5.Suites {
		if !strings.Contains(suiteNames(mixed.CipherSuites), tls.CipherSuiteName(s)) {
			t.Errorf("wm5 suite %s missing", tls.CipherSuiteName(s))
		}
	}
	if !strings.Contains(suiteNames(mixed.CipherSuites), "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256") {
		t.Error("modern suites dropped when a wm profile is on")
	}
}

func suiteNames(ids []uint16) string {
	var s []string
	for _, id := range ids {
		s = append(s, tls.CipherSuiteName(id))
	}
	return strings.Join(s, ",")
}

// TestLegacyTLSWithOpenSSL asks openssl, not Go, whether the running
// server accepts a TLS 1.0 RSA key-exchange handshake: only when a Windows
// Mobile profile is on.
func TestLegacyTLSWithOpenSSL(t *testing.T) {
	testtool.Path(t, "openssl")
	for _, tc := range []struct {
		profiles []string
		cipher   string
		want     bool
	}{
		{[]string{"wm6"}, "AES128-SHA", true},
		{[]string{"wm65", "ios"}, "AES256-SHA", true},
		{[]string{"ios"}, "AES128-SHA", false},
		{[]string{"modern", "android"}, "AES128-SHA", false},
		{nil, "AES128-SHA", false},
	} {
		ts := startServer(t, ping.HeartbeatBounds{Min: 1, Max: 3540}, tc.profiles...)
		out, errb, err := testtool.Run(t, []byte{}, "openssl", "s_client", "-connect", ts.HTTPSAddr(), "-servername", testHost,
			"-tls1", "-cipher", tc.cipher+":@SECLEVEL=0", "-CAfile", ts.rootPath, "-verify_return_error")
		ok := err == nil && strings.Contains(string(out), "Protocol  : TLSv1\n") && strings.Contains(string(out), "Verify return code: 0 (ok)")
		if ok != tc.want {
			t.Errorf("%v with %s: connected=%v, want %v\n%s\n%s", tc.profiles, tc.cipher, ok, tc.want, out, errb)
		}
		ts.stop()
	}
}

// TestWM5SuitesWithGoClient covers the wm5 suites openssl 3 no longer
// offers (3DES and RC4 are outside its default provider): Go 1.26 still
// negotiates them at TLS 1.0 when the server lists them explicitly.
func TestWM5SuitesWithGoClient(t *testing.T) {
	dir := t.TempDir()
	root := newTestCA(t)
	pair := root.writeServer(t, dir, true, testHost)
	certs, err := LoadCertificates([]KeyPair{pair}, nil, testtool.Log(t))
	if err != nil {
		t.Fatal(err)
	}
	wm5, _ := profile.Get("wm5")
	ios, _ := profile.Get("ios")
	legacy := serveTLS(t, TLSConfig(certs, []profile.Profile{wm5}))
	modern := serveTLS(t, TLSConfig(certs, []profile.Profile{ios}))
	pool := x509.NewCertPool()
	pool.AddCert(root.cert)
	for _, suite := range wm5.Suites {
		cfg := &tls.Config{RootCAs: pool, ServerName: testHost, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10, CipherSuites: []uint16{suite}}
		c, err := tls.Dial("tcp", legacy, cfg)
		if err != nil {
			t.Errorf("wm5 server, %s: %v", tls.CipherSuiteName(suite), err)
			continue
		}
		if st := c.ConnectionState(); st.Version != tls.VersionTLS10 || st.CipherSuite != suite {
			t.Errorf("negotiated %x %s", st.Version, tls.CipherSuiteName(st.CipherSuite))
		}
		c.Close()
		if c, err := tls.Dial("tcp", modern, cfg); err == nil {
			c.Close()
			t.Errorf("ios-only server accepted TLS 1.0 with %s", tls.CipherSuiteName(suite))
		}
	}
}

func TestAdminRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{":0", "0.0.0.0:0", "192.0.2.1:0", "example.com:0"} {
		if ln, err := ops.ListenLoopback(context.Background(), addr); err == nil {
			ln.Close()
			t.Errorf("ops.ListenLoopback(%q) succeeded", addr)
		}
	}
	ln, err := ops.ListenLoopback(context.Background(), "localhost:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
		t.Fatalf("bound %v", ip)
	}
}

// TestServedFamiliesDecideTLS: the families of the chains served, named or
// read from the leaf, bring their devices' profiles, so TLS 1.0 and RSA key
// exchange are on exactly when a legacy family is served, even before its
// leaf exists; extra profiles add to them.
func TestServedFamiliesDecideTLS(t *testing.T) {
	dir := t.TempDir()
	root := newTestCA(t)
	pair := root.writeServer(t, dir, true, testHost) // ECDSA-signed RSA leaf: no family of its own
	missing := KeyPair{Cert: filepath.Join(dir, "none", "chain.pem"), Key: filepath.Join(dir, "none", "key.pem")}
	named := func(p KeyPair, family string) KeyPair { p.Family = family; return p }
	wm6, err := profile.Get("wm6")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		pairs  []KeyPair
		extra  []profile.Profile
		legacy bool
	}{
		{"modern", []KeyPair{named(pair, profile.FamilyModern)}, nil, false},
		{"no family", []KeyPair{pair}, nil, false},
		{"legacy", []KeyPair{named(pair, profile.FamilyLegacy)}, nil, true},
		{"legacy not issued yet", []KeyPair{named(pair, profile.FamilyModern), named(missing, profile.FamilyLegacy)}, nil, true},
		{"modern and wm6 asked for", []KeyPair{named(pair, profile.FamilyModern)}, []profile.Profile{wm6}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			certs, err := LoadCertificates(tc.pairs, tc.extra, testtool.Log(t))
			if err != nil {
				t.Fatal(err)
			}
			cfg := TLSConfig(certs, certs.Profiles())
			names := suiteNames(cfg.CipherSuites)
			if got := cfg.MinVersion == tls.VersionTLS10; got != tc.legacy {
				t.Errorf("TLS 1.0 on = %v, want %v", got, tc.legacy)
			}
			if got := strings.Contains(names, "TLS_RSA_"); got != tc.legacy {
				t.Errorf("RSA key exchange on = %v, want %v: %s", got, tc.legacy, names)
			}
		})
	}
}

// TestLegacyTLSCannotReachAdminPages: with a Windows Mobile profile on,
// the listener takes TLS 1.0 with RSA key exchange for ActiveSync. A
// client at TLS 1.0 gets ActiveSync, but 403 naming TLS 1.2 for the login
// page, the login itself, the dashboard and /metrics, which the same
// client at TLS 1.2 gets.
func TestLegacyTLSCannotReachAdminPages(t *testing.T) {
	ts := startServer(t, ping.HeartbeatBounds{Min: 1, Max: 3540}, "wm6")
	wm6, err := profile.Get("wm6")
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ts.root.cert)
	client := func(version uint16, suites []uint16) *http.Client {
		c := &http.Client{
			Transport: &http.Transport{TLSClientConfig: &tls.Config{
				RootCAs: pool, ServerName: testHost, MinVersion: version, MaxVersion: version, CipherSuites: suites,
			}},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Timeout:       30 * time.Second,
		}
		t.Cleanup(c.CloseIdleConnections)
		return c
	}
	legacy, current := client(tls.VersionTLS10, wm6.Suites), client(tls.VersionTLS12, nil)
	base := "https://" + ts.HTTPSAddr()
	do := func(c *http.Client, method, path string, body string, header http.Header) (int, string, uint16) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = header
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, testtool.ReadBody(t, resp), resp.TLS.Version
	}
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	bearer := http.Header{"Authorization": {"Bearer " + ts.Token()}}
	for _, tc := range []struct {
		method, path, body string
		header             http.Header
		modern             int
	}{
		{http.MethodGet, ops.LoginPath, "", nil, http.StatusOK},
		{http.MethodPost, ops.LoginPath, "token=" + ts.Token(), form, http.StatusSeeOther},
		{http.MethodGet, ops.DashboardPath, "", nil, http.StatusSeeOther},
		{http.MethodGet, ops.MetricsPath, "", bearer, http.StatusOK},
	} {
		code, body, v := do(legacy, tc.method, tc.path, tc.body, tc.header)
		if v != tls.VersionTLS10 || code != http.StatusForbidden || !strings.Contains(body, "TLS 1.2") {
			t.Errorf("%s %s over %s: %d %.100q, want 403 naming TLS 1.2", tc.method, tc.path, tls.VersionName(v), code, body)
		}
		if code, _, _ := do(current, tc.method, tc.path, tc.body, tc.header); code != tc.modern {
			t.Errorf("%s %s over TLS 1.2: %d, want %d", tc.method, tc.path, code, tc.modern)
		}
	}
	auth := http.Header{"Authorization": {eas.BasicAuth("alice", "secret")}}
	if code, _, v := do(legacy, http.MethodOptions, ActiveSyncPath, "", auth); code != http.StatusOK || v != tls.VersionTLS10 {
		t.Errorf("ActiveSync OPTIONS over %s: %d, want 200", tls.VersionName(v), code)
	}
}

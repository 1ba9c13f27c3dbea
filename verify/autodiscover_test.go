package verify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/eas"
	"github.com/pushca/pushca/profile"
)

// adPKI is a root made here and leaves for any names under it.
type adPKI struct {
	root *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newADPKI(t *testing.T) adPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "autodiscover test root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := x509.ParseCertificate(der)
	return adPKI{root: root, key: key}
}

func (p adPKI) leaf(t *testing.T, names ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: names[0]},
		DNSNames: names, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.root, key.Public(), p.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// listen serves h on loopback, over TLS when cert is given, until the test
// ends.
func listen(t *testing.T, h http.Handler, cert *tls.Certificate) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cert != nil {
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{*cert}})
	}
	// Refused handshakes are what these tests are about: not news.
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// adServer answers every POST with answer(address asked about) and notes
// the credentials it was sent.
type adServer struct {
	mu     sync.Mutex
	logins []string
	answer func(email string) []byte
}

func (s *adServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	creds, _ := eas.ParseBasicAuth(r.Header.Get("Authorization"))
	s.mu.Lock()
	s.logins = append(s.logins, creds.Login+":"+creds.Password)
	s.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	req, err := eas.ParseAutodiscoverRequest(body)
	if err != nil || r.Method != http.MethodPost {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", eas.AutodiscoverContentType)
	w.Write(s.answer(req.EMailAddress))
}

func mustMarshal(t *testing.T, r *eas.AutodiscoverResponse) []byte {
	t.Helper()
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func verdictOf(checks []Check, prefix string) []Verdict {
	var out []Verdict
	for _, c := range checks {
		if strings.HasPrefix(c.Name, prefix) {
			out = append(out, c.Verdict)
		}
	}
	return out
}

func resolveAll(t *testing.T, specs ...string) Resolve {
	t.Helper()
	r, err := ParseResolve(specs)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestAutodiscoverWalksEveryStep: step 1 presents a certificate for
// another name (a warning: devices may stop there), step 2 is closed, the
// plain-HTTP GET redirects within the domain, whose server redirects the
// address to another domain, found there through its SRV record.
func TestAutodiscoverWalksEveryStep(t *testing.T) {
	pki := newADPKI(t)
	wrongName := pki.leaf(t, "www.elsewhere.test")
	web := listen(t, http.NotFoundHandler(), &wrongName)
	first := &adServer{answer: func(string) []byte {
		return mustMarshal(t, &eas.AutodiscoverResponse{EMailAddress: "alice@example.test", Redirect: "alice@corp.test"})
	}}
	firstCert := pki.leaf(t, "ad.example.test")
	firstAddr := listen(t, first, &firstCert)
	_, firstPort, _ := net.SplitHostPort(firstAddr)
	redirect := listen(t, http.RedirectHandler("https://ad.example.test:"+firstPort+eas.AutodiscoverPath, http.StatusFound), nil)
	second := &adServer{answer: func(email string) []byte {
		return mustMarshal(t, &eas.AutodiscoverResponse{EMailAddress: email, URL: "https://mail.corp.test/Microsoft-Server-ActiveSync"})
	}}
	secondCert := pki.leaf(t, "ad.corp.test")
	secondAddr := listen(t, second, &secondCert)
	closed := closedAddr(t)

	d := Discovery{
		Resolve: resolveAll(t, "example.test:443:"+web, "autodiscover.example.test:443:"+closed, "autodiscover.example.test:80:"+redirect,
			"ad.example.test:"+firstPort+":127.0.0.1", "corp.test:443:"+closed, "autodiscover.corp.test:443:"+closed,
			"autodiscover.corp.test:80:"+closed, "ad.corp.test:4443:"+secondAddr),
		LookupSRV: func(_ context.Context, name string) ([]*net.SRV, error) {
			if name == "_autodiscover._tcp.corp.test" {
				return []*net.SRV{{Target: "ad.corp.test.", Port: 4443}}, nil
			}
			return nil, errors.New("no such record")
		},
	}
	opt := Options{Login: "alice@example.test", Password: "pw", Roots: []*x509.Certificate{pki.root}}
	w := &walker{opt: opt, d: d, ended: func() error { return nil }, secure: d.client(opt.Roots, true), plain: d.client(nil, false)}
	got := w.walk(context.Background(), "alice@example.test")
	var b strings.Builder
	(&Report{Checks: w.checks}).WriteText(&b)
	t.Log("\n" + b.String())
	if got != "https://mail.corp.test/Microsoft-Server-ActiveSync" {
		t.Fatalf("found %q", got)
	}
	for step, want := range map[string][]Verdict{
		"autodiscover step 1 https://example.test":           {Warn}, // certificate for another name
		"autodiscover step 2 https://autodiscover.example":   {Pass}, // nothing listening
		"autodiscover step 3 http://autodiscover.example":    {Pass}, // the redirect
		"autodiscover step 3 https://ad.example.test":        {Pass}, // Action/Redirect to corp.test
		"autodiscover step 4 SRV _autodiscover._tcp.corp":    {Pass}, // the record
		"autodiscover step 4 https://ad.corp.test:4443":      {Pass}, // the URL
		"autodiscover step 4 SRV _autodiscover._tcp.example": nil,    // never needed
	} {
		if v := verdictOf(w.checks, step); !sameVerdicts(v, want) {
			t.Errorf("%s: %v, want %v", step, v, want)
		}
	}
	if last := w.checks[len(w.checks)-1]; last.Name != "autodiscover" || last.Verdict != Pass {
		t.Errorf("last check %+v, want the search's verdict", last)
	}
	if len(first.logins) != 1 || first.logins[0] != "alice@example.test:pw" || len(second.logins) != 1 {
		t.Errorf("credentials sent: %v, %v", first.logins, second.logins)
	}
}

func sameVerdicts(a, b []Verdict) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestAutodiscoverStopsOrRefuses: an Autodiscover error ends the search;
// a redirect or SRV record outside the domain gets no password.
func TestAutodiscoverStopsOrRefuses(t *testing.T) {
	pki := newADPKI(t)
	cert := pki.leaf(t, "autodiscover.example.test")
	refusing := &adServer{answer: func(email string) []byte {
		return mustMarshal(t, &eas.AutodiscoverResponse{EMailAddress: email, Error: &eas.AutodiscoverError{Status: 2, Message: "unknown"}})
	}}
	closed := closedAddr(t)
	srvCalls := 0
	d := Discovery{
		Resolve: resolveAll(t, "example.test:443:"+closed, "autodiscover.example.test:443:"+listen(t, refusing, &cert)),
		LookupSRV: func(context.Context, string) ([]*net.SRV, error) {
			srvCalls++
			return nil, errors.New("none")
		},
	}
	opt := Options{Password: "pw", Roots: []*x509.Certificate{pki.root}}
	r, err := RunAutodiscover(context.Background(), "bob@example.test", opt, d)
	if err != nil {
		t.Fatal(err)
	}
	if v := verdictOf(r.Checks, "autodiscover step 2"); !sameVerdicts(v, []Verdict{Fail}) || srvCalls != 0 || r.Verdict() != Fail {
		t.Fatalf("an Autodiscover error must end the search: %+v (SRV looked up %d times)", r.Checks, srvCalls)
	}

	outside := &adServer{answer: func(string) []byte { return nil }}
	far := pki.leaf(t, "ad.attacker.test")
	farAddr := listen(t, outside, &far)
	redirect := listen(t, http.RedirectHandler("https://ad.attacker.test/autodiscover/autodiscover.xml", http.StatusFound), nil)
	d = Discovery{
		Resolve: resolveAll(t, "example.test:443:"+closed, "autodiscover.example.test:443:"+closed,
			"autodiscover.example.test:80:"+redirect, "ad.attacker.test:443:"+farAddr),
		LookupSRV: func(context.Context, string) ([]*net.SRV, error) {
			return []*net.SRV{{Target: "ad.attacker.test.", Port: 443}}, nil
		},
	}
	r, err = RunAutodiscover(context.Background(), "alice@example.test", opt, d)
	if err != nil {
		t.Fatal(err)
	}
	if len(outside.logins) != 0 || r.Verdict() != Fail ||
		!sameVerdicts(verdictOf(r.Checks, "autodiscover step 3"), []Verdict{Warn}) ||
		!sameVerdicts(verdictOf(r.Checks, "autodiscover step 4"), []Verdict{Warn}) {
		t.Fatalf("a password went outside the domain (%v) or the steps were not warned about: %+v", outside.logins, r.Checks)
	}
}

// TestAutodiscoverThenActiveSync finds pushca serve through
// autodiscover.DOMAIN on loopback, with --resolve, and runs the ActiveSync
// checks against the URL it announces.
func TestAutodiscoverThenActiveSync(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")
	if err := ca.Init(ctx, dir, ca.InitOptions{Families: []string{profile.FamilyModern}, Password: caPassword}); err != nil {
		t.Fatal(err)
	}
	authority, err := ca.Open(ctx, dir, caPassword)
	if err != nil {
		t.Fatal(err)
	}
	issued, err := authority.Issue(ctx, ca.IssueRequest{Host: testHost, DNS: []string{"autodiscover.test"}})
	root := authority.Root()
	authority.Close()
	if err != nil {
		t.Fatal(err)
	}
	s := serve(t, testCA{dir: dir, root: root, issued: issued}, nil)
	_, port, _ := net.SplitHostPort(s.HTTPSAddr())
	closed := closedAddr(t)
	p, err := profile.Get("ios")
	if err != nil {
		t.Fatal(err)
	}
	opt := Options{Profile: p, Roots: []*x509.Certificate{root}, Password: testPassword, Heartbeat: time.Second}
	d := Discovery{
		Resolve: resolveAll(t, "test:443:"+closed, "autodiscover.test:443:"+s.HTTPSAddr(), testHost+":"+port+":127.0.0.1"),
		LookupSRV: func(context.Context, string) ([]*net.SRV, error) {
			t.Error("the SRV step ran although step 2 answered")
			return nil, errors.New("none")
		},
	}
	tctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	r, err := RunAutodiscover(tctx, testUser+"@test", opt, d)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	r.WriteText(&b)
	t.Log("\n" + b.String())
	if r.URL != "https://"+testHost+":"+port || check(t, r, "autodiscover").Verdict != Pass {
		t.Fatalf("found %q: %+v", r.URL, r.Checks)
	}
	if r.Version == "" || check(t, r, "foldersync").Verdict != Pass {
		t.Fatalf("the ActiveSync checks did not run on the URL found: %+v", r.Checks)
	}
}

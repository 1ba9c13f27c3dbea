package enroll

import (
	"context"
	"crypto/x509"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pushca/pushca/ca"
	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/provision"
)

// initCA makes a CA of the chain families named, as `pushca init` does, and
// returns its state directory and root.
func initCA(t testing.TB, families ...string) (string, *x509.Certificate) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	if err := ca.Init(context.Background(), dir, ca.InitOptions{Families: families, Password: []byte("enroll test")}); err != nil {
		t.Fatal(err)
	}
	certs, err := provision.ReadCertificates(ca.Layout{Dir: dir}.RootCert())
	if err != nil {
		t.Fatal(err)
	}
	return dir, certs[0]
}

// startEnroll serves the enrollment site of a new CA of the families named
// on loopback and returns its base URL, state directory and root.
func startEnroll(t testing.TB, families ...string) (string, string, *x509.Certificate) {
	t.Helper()
	dir, root := initCA(t, families...)
	return serveEnroll(t, dir), dir, root
}

// serveEnroll serves the enrollment site of dir on loopback, configured
// with its own address as public URL, and returns that URL.
func serveEnroll(t testing.TB, dir string) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	srv.Config.Handler = Handler(dir, linksPath(dir), base+"/", nil, testtool.Log(t))
	srv.Start()
	t.Cleanup(srv.Close)
	return base
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

func fingerprint(sum []byte) string { return provision.Fingerprint(sum).Colon() }

// get fetches url and returns status, content type and body.
func get(t *testing.T, url string) (int, string, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body := testtool.ReadBody(t, resp)
	if resp.StatusCode == http.StatusOK && !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("%s: no restrictive Content-Security-Policy", url)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), body
}

// plistScript prints the certificate payloads' data lengths and the EAS
// account's user name of a .mobileconfig, as plistlib reads them.
const plistScript = `
import plistlib, sys
pl = plistlib.load(open(sys.argv[1], "rb"))
for p in pl["PayloadContent"]:
    print(p["PayloadType"], p.get("UserName", len(p.get("PayloadContent", b""))))
`

func TestEnrollLandingPage(t *testing.T) {
	base, dir, root := startEnroll(t, "legacy", "modern")
	code, typ, page := get(t, base+"/")
	if code != http.StatusOK || typ != "text/html; charset=utf-8" {
		t.Fatalf("landing page: %d %s", code, typ)
	}
	for _, want := range []string{
		fingerprint(sha256Of(root.Raw)), provision.SHA1(root).Colon(),
		`href="root.cab"`, `href="root.crt"`, `href="root.mobileconfig"`, `src="qr.png"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("landing page lacks %q", want)
		}
	}

	code, typ, der := get(t, base+"/root.crt")
	if code != http.StatusOK || typ != "application/x-x509-ca-cert" || der != string(root.Raw) {
		t.Errorf("root.crt: %d %s, %d bytes", code, typ, len(der))
	}
	code, typ, cab := get(t, base+"/root.cab")
	if code != http.StatusOK || typ != "application/vnd.ms-cab-compressed" {
		t.Fatalf("root.cab: %d %s", code, typ)
	}
	cabRoot, cabCA := testtool.CABCertificates(t, testtool.SaveFile(t, "root.cab", cab))
	if string(cabRoot) != string(root.Raw) {
		t.Error("root.cab installs another certificate than the root into ROOT")
	}
	// Windows Mobile gets the legacy intermediate, never the modern one.
	if want := []string{intermediateSHA1(t, dir, "legacy")}; !slices.Equal(cabCA, want) {
		t.Errorf("root.cab's CA store holds %q, want the legacy intermediate %q", cabCA, want)
	}
	code, typ, mc := get(t, base+"/root.mobileconfig")
	if code != http.StatusOK || typ != "application/x-apple-aspen-config" {
		t.Fatalf("root.mobileconfig: %d %s", code, typ)
	}
	mcFile := testtool.SaveFile(t, "root.mobileconfig", mc)
	if out := string(testtool.MustRun(t, nil, "python3", "-c", plistScript, mcFile)); strings.Contains(out, "com.apple.eas.account") {
		t.Errorf("root.mobileconfig payloads: %s", out)
	}
	if string(testtool.MobileconfigRoot(t, mcFile)) != string(root.Raw) {
		t.Error("root.mobileconfig's root payload is not the root root.cab installs")
	}
	code, typ, png := get(t, base+"/qr.png")
	if code != http.StatusOK || typ != "image/png" {
		t.Fatalf("qr.png: %d %s", code, typ)
	}
	if got := strings.TrimSpace(string(testtool.MustRun(t, nil, "zbarimg", "--raw", "-q", testtool.SaveFile(t, "qr.png", png)))); got != base+"/" {
		t.Errorf("landing QR decodes to %q, want %q", got, base+"/")
	}

	// Nothing else is served over plain HTTP.
	for _, p := range []string{"/index.html", "/root.key", "/certs/root_ca.crt", "/push/users", LinkPath, LinkPath + "x/", "/../ca/root_ca.key"} {
		if code, _, _ := get(t, base+p); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, code)
		}
	}
	resp, err := http.Post(base+"/", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	if testtool.ReadBody(t, resp); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d", resp.StatusCode)
	}
}

// TestEnrollLandingOffersServedFamilies: a device kind whose chain family
// the CA lacks is offered no root, since the root alone would not make it
// trust the server.
func TestEnrollLandingOffersServedFamilies(t *testing.T) {
	for _, tc := range []struct {
		families       []string
		offered, never []string
	}{
		{[]string{"legacy"}, []string{"root.cab"}, []string{"root.mobileconfig", "root.crt"}},
		{[]string{"modern"}, []string{"root.mobileconfig", "root.crt"}, []string{"root.cab"}},
	} {
		t.Run(strings.Join(tc.families, "+"), func(t *testing.T) {
			base, _, root := startEnroll(t, tc.families...)
			code, _, page := get(t, base+"/")
			if code != http.StatusOK || !strings.Contains(page, fingerprint(sha256Of(root.Raw))) {
				t.Fatalf("landing page: %d\n%s", code, page)
			}
			for _, f := range tc.offered {
				if code, _, _ := get(t, base+"/"+f); code != http.StatusOK || !strings.Contains(page, `href="`+f+`"`) {
					t.Errorf("%s: %d, or not offered on the page", f, code)
				}
			}
			for _, f := range tc.never {
				if strings.Contains(page, f) {
					t.Errorf("the page offers %s", f)
				}
				if code, _, _ := get(t, base+"/"+f); code != http.StatusNotFound {
					t.Errorf("GET /%s: %d, want 404", f, code)
				}
			}
		})
	}
}

// A server of certificate files named by hand has no CA in its directory,
// only the root put there: the site offers it to every device kind, as
// `pushca package --root` does.
func TestEnrollLandingWithoutCA(t *testing.T) {
	src, root := initCA(t, "modern")
	dir := t.TempDir()
	rootPEM, err := os.ReadFile(ca.Layout{Dir: src}.RootCert())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(ca.Layout{Dir: dir}.RootCert()), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ca.Layout{Dir: dir}.RootCert(), rootPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	base := serveEnroll(t, dir)
	for _, f := range []string{"root.cab", "root.crt", "root.mobileconfig"} {
		if code, _, _ := get(t, base+"/"+f); code != http.StatusOK {
			t.Errorf("GET /%s: %d", f, code)
		}
	}
	_, _, cab := get(t, base+"/root.cab")
	if cabRoot, cabCA := testtool.CABCertificates(t, testtool.SaveFile(t, "root.cab", cab)); string(cabRoot) != string(root.Raw) || len(cabCA) != 0 {
		t.Errorf("root.cab without a CA: root %v, CA store %q", string(cabRoot) == string(root.Raw), cabCA)
	}
}

func TestEnrollUserLinks(t *testing.T) {
	base, dir, root := startEnroll(t, "legacy", "modern")
	path := linksPath(dir)
	now := time.Now()
	want := []Link{
		{Server: "mail.example.com", User: "alice", Domain: "CORP", Email: "alice@example.com", DisplayName: `Alice <"Admin"> & Co`, Devices: []string{"ios", "wm6"}},
		{Server: "mail.example.com", User: "bob", Devices: []string{"android"}},
	}
	// Issued after the server started: it reads the file as it changes.
	links, err := IssueLinks(path, LinkRun{Base: base + "/", TTL: 14 * 24 * time.Hour, Now: now}, want)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("links file: %v %v", fi, err)
	}
	hexToken := regexp.MustCompile(`^[0-9a-f]{32}$`)
	for _, l := range links {
		if !hexToken.MatchString(l.Token) || l.URL != base+LinkPath+l.Token+"/" {
			t.Fatalf("link %+v", l)
		}
	}
	if links[0].Token == links[1].Token {
		t.Fatal("two people share a token")
	}
	again, err := IssueLinks(path, LinkRun{Base: base, TTL: 14 * 24 * time.Hour, Now: now.Add(time.Hour)}, want)
	if err != nil || again[0].Token != links[0].Token || !again[0].Expires.Equal(links[0].Expires) {
		t.Fatalf("re-issuing changed alice's link: %+v %v", again, err)
	}

	alice := links[0].URL
	code, typ, page := get(t, alice)
	if code != http.StatusOK || typ != "text/html; charset=utf-8" {
		t.Fatalf("alice's page: %d %s", code, typ)
	}
	for _, w := range []string{`Alice &lt;&#34;Admin&#34;&gt; &amp; Co`, fingerprint(sha256Of(root.Raw)), `href="../../root.cab"`, `href="account.cab"`, `href="exchange.mobileconfig"`, alice} {
		if !strings.Contains(page, w) {
			t.Errorf("alice's page lacks %q", w)
		}
	}
	code, typ, mc := get(t, alice+"exchange.mobileconfig")
	if code != http.StatusOK || typ != "application/x-apple-aspen-config" {
		t.Fatalf("alice's mobileconfig: %d %s", code, typ)
	}
	if out := string(testtool.MustRun(t, nil, "python3", "-c", plistScript, testtool.SaveFile(t, "a.mobileconfig", mc))); !strings.Contains(out, `com.apple.eas.account CORP\alice`) {
		t.Errorf("alice's mobileconfig: %s", out)
	}
	code, typ, cab := get(t, alice+"account.cab")
	if code != http.StatusOK || typ != "application/vnd.ms-cab-compressed" {
		t.Fatalf("alice's account CAB: %d %s", code, typ)
	}
	testtool.MustRun(t, nil, "cabextract", "-t", testtool.SaveFile(t, "account.cab", cab))
	if code, _, _ := get(t, links[1].URL+"account.cab"); code != http.StatusNotFound {
		t.Errorf("bob (android only) has an account CAB: %d", code)
	}

	// A guess of the right length, a truncated token, an expired link.
	wrong := []byte(links[0].Token)
	wrong[0] ^= 1
	for _, u := range []string{base + LinkPath + string(wrong) + "/", base + LinkPath + links[0].Token[:31] + "/"} {
		if code, _, body := get(t, u); code != http.StatusNotFound || !strings.Contains(body, "does not exist") {
			t.Errorf("%s: %d %s", u, code, body)
		}
	}
	old, err := IssueLinks(path, LinkRun{Base: base, TTL: time.Hour, Now: now.Add(-2 * time.Hour)}, []Link{{Server: "mail.example.com", User: "carol", Devices: []string{"ios"}}})
	if err != nil {
		t.Fatal(err)
	}
	code, _, body := get(t, old[0].URL)
	if code != http.StatusGone || !strings.Contains(body, "expired on "+old[0].Expires.UTC().Format("2006-01-02 15:04")) {
		t.Errorf("expired link: %d %s", code, body)
	}
	if code, _, _ := get(t, old[0].URL+"exchange.mobileconfig"); code != http.StatusGone {
		t.Errorf("expired link's file: %d", code)
	}
	// Issuing carol's link kept the others.
	if code, _, _ := get(t, alice); code != http.StatusOK {
		t.Errorf("alice's link after another bundle: %d", code)
	}
}

func TestIssueLinksRefusesBadBaseURLs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "links.json")
	for _, base := range []string{"ftp://x.example", "http://user:pw@x.example", "http://x.example/?a=1", "enroll.example.com", "http://x.example/#f"} {
		if _, err := IssueLinks(path, LinkRun{Base: base, TTL: time.Hour, Now: time.Now()}, []Link{{Server: "s", User: "u"}}); err == nil {
			t.Errorf("%q accepted", base)
		}
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("a refused base URL still wrote the links file")
	}
}

// FuzzEnrollPaths sends any path to the plain-HTTP site: it never fails
// with a server error, and answers 200 only for the pages and downloads it
// means to serve.
func FuzzEnrollPaths(f *testing.F) {
	dir, _ := initCA(f, "legacy", "modern")
	links, err := IssueLinks(linksPath(dir), LinkRun{Base: "http://enroll.test", TTL: time.Hour, Now: time.Now()}, []Link{{Server: "mail.test", User: "jdoe", Devices: []string{"ios", "wm6"}}})
	if err != nil {
		f.Fatal(err)
	}
	tok := LinkPath + links[0].Token + "/"
	served := map[string]bool{"/": true, "/qr.png": true, "/root.cab": true, "/root.crt": true, "/root.mobileconfig": true, "/root.pem": true,
		tok: true, tok + "account.cab": true, tok + "exchange.mobileconfig": true, tok + "qr.png": true}
	slots, err := ca.ReadSlots(dir)
	if err != nil {
		f.Fatal(err)
	}
	for p := range CRLFiles(dir, slots) {
		served[p] = true
	}
	for p := range served {
		f.Add(p)
	}
	f.Add(LinkPath + strings.Repeat("0", 32) + "/")
	f.Add(tok + "../../root.key")
	f.Add("/Microsoft-Server-ActiveSync")
	h := Handler(dir, linksPath(dir), "http://enroll.test/", slots, slog.New(slog.DiscardHandler))
	f.Fuzz(func(t *testing.T, p string) {
		r := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: p}, Host: "enroll.test", Header: http.Header{}}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("%q: %d %s", p, w.Code, w.Body)
		}
		if w.Code == http.StatusOK && !served[p] {
			t.Fatalf("%q is served (%s)", p, w.Header().Get("Content-Type"))
		}
	})
}

package push

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/profile"
	"github.com/pushca/pushca/push/ops"
	"github.com/pushca/pushca/push/ping"
	"github.com/pushca/pushca/push/state"
)

// addDashboardDevices gives the dashboard something to show: one device
// that really talked to the server over TLS (so its certificate is
// recorded), one whose Pings were cut at 300 s (below the warning line) and
// whose user name is markup.
func addDashboardDevices(t *testing.T, ts *testServer) {
	t.Helper()
	c := ts.client("14.1", "DASH1", false)
	if _, err := c.Provision(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.devices.Update(context.Background(), "<b>eve", "LOW1", func(d *state.Device) { d.Type, d.Protocol, d.Heartbeat = "iPhone", "12.1", 300 }); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		ts.devices.LogPing("<b>eve", "LOW1", state.PingLog{Start: time.Now(), Heartbeat: 300, Outcome: ping.Cut, Held: 300})
	}
}

func servedSerialString(ts *testServer) string {
	return ts.certs.current()[0].cert.Leaf.SerialNumber.String()
}

// TestDashboardInChromium logs in with the admin token in headless
// Chromium and reads the device table as a person would see it.
func TestDashboardInChromium(t *testing.T) {
	// Three samples make an alert here; Exchange's 200 would need 200 Pings.
	ts := startServerWith(t, ping.HeartbeatBounds{Min: 1, Max: 3540}, func(c *Config) { c.HeartbeatAlert = state.HeartbeatAlert{Samples: 3, Threshold: 540} })
	addDashboardDevices(t, ts)
	leaf := ts.certs.current()[0].cert.Leaf
	ctx := testtool.Browser(t, chromedp.WindowSize(1400, 700), chromedp.Flag("ignore-certificate-errors-spki-list", spkiHash(leaf)))
	url := "https://" + ts.HTTPSAddr() + ops.DashboardPath

	// Not logged in: the login form; a wrong token is refused.
	var errText string
	err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), "wrong"), chromedp.Click(chromedp.ID("login")), chromedp.WaitVisible(chromedp.ID("error")))
	if err == nil {
		errText, err = chromedp.Run(ctx, chromedp.Text(chromedp.ID("error")))
	}
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errText, "Wrong admin token") {
		t.Fatalf("after a wrong token: %q", errText)
	}

	err = chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("token"), ts.Token()), chromedp.Click(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("devices")))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]map[string]string](`[...document.querySelectorAll("tr.device")].map(tr => {
		const o = {low: tr.classList.contains("low") ? "yes" : "no", bold: String(tr.querySelectorAll("b").length)};
		for (const td of tr.querySelectorAll("td")) o[td.className.replace(/^n /, "")] = td.textContent.trim();
		return o;
	})`))
	if err != nil {
		t.Fatal(err)
	}
	certs, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("certs")))
	if err != nil {
		t.Fatal(err)
	}
	if want := profile.FamilyModernRSA + " chain: " + testHost; !strings.Contains(certs, want) {
		t.Errorf("server certificates %q lack %q", certs, want)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(testtool.ScreenshotDir(t), "dashboard.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}

	if len(rows) != 2 {
		t.Fatalf("%d device rows, want 2: %v", len(rows), rows)
	}
	// Ordered by user: "<b>eve" sorts before "alice".
	eve, alice := rows[0], rows[1]
	for k, want := range map[string]string{
		"user": "<b>eve", "id": "LOW1", "type": "iPhone", "protocol": "12.1", "heartbeat": "300 s",
		"pings": "3", "average": "300 s", "cut": "3", "low": "yes", "bold": "0", "family": "",
	} {
		if eve[k] != want {
			t.Errorf("low device %s = %q, want %q (row %v)", k, eve[k], want, eve)
		}
	}
	if !strings.Contains(eve["warning"], "at or below 540 s") {
		t.Errorf("no warning on the low device: %q", eve["warning"])
	}
	for k, want := range map[string]string{
		"user": "alice", "id": "DASH1", "type": "PocketPC", "protocol": "14.1", "pings": "0", "cut": "0",
		"low": "no", "warning": "", "cert": servedSerialString(ts) + " (current)", "family": profile.FamilyModernRSA,
	} {
		if alice[k] != want {
			t.Errorf("device DASH1 %s = %q, want %q (row %v)", k, alice[k], want, alice)
		}
	}
	if _, err := time.Parse(time.DateTime, alice["seen"]); err != nil {
		t.Errorf("last seen %q: %v", alice["seen"], err)
	}
}

// spkiHash is what Chromium's --ignore-certificate-errors-spki-list takes:
// the test trusts this one key, not every certificate.
func spkiHash(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// TestDashboardSession checks with curl what the browser test cannot see:
// the cookie's attributes, that the page needs it, and that a cookie
// forged or expired is refused.
func TestDashboardSession(t *testing.T) {
	ts := startServer(t, ping.HeartbeatBounds{Min: 1, Max: 3540})
	port := ts.HTTPSAddr()[strings.LastIndexByte(ts.HTTPSAddr(), ':')+1:]
	base := "https://" + testHost + ":" + port
	curl := func(args ...string) string {
		t.Helper()
		out := testtool.MustRun(t, nil, "curl", append([]string{"-sS", "--max-time", "30", "--cacert", ts.rootPath,
			"--resolve", testHost + ":" + port + ":127.0.0.1", "-D", "-", "-o", os.DevNull}, args...)...)
		return string(out)
	}
	if h := curl(base + ops.DashboardPath); !strings.HasPrefix(h, "HTTP/1.1 303") || !strings.Contains(h, "Location: "+ops.LoginPath) {
		t.Fatalf("dashboard without a session:\n%s", h)
	}
	if h := curl("--data-urlencode", "token=nope", base+ops.LoginPath); !strings.HasPrefix(h, "HTTP/1.1 401") || strings.Contains(h, "Set-Cookie") {
		t.Fatalf("wrong token:\n%s", h)
	}
	h := curl("--data-urlencode", "token="+ts.Token(), base+ops.LoginPath)
	var cookie string
	for _, line := range strings.Split(h, "\r\n") {
		if v, ok := strings.CutPrefix(line, "Set-Cookie: "); ok {
			cookie = v
		}
	}
	for _, want := range []string{ops.SessionCookie + "=", "Path=/pushca/", "HttpOnly", "Secure", "SameSite=Strict"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("session cookie %q lacks %s", cookie, want)
		}
	}
	pair, _, _ := strings.Cut(cookie, ";")
	if h := curl("-b", pair, base+ops.DashboardPath); !strings.HasPrefix(h, "HTTP/1.1 200") || !strings.Contains(h, "Content-Security-Policy: default-src 'none'") {
		t.Fatalf("dashboard with the session:\n%s", h)
	}
	// Cookies changed by hand; expired, idle and old ones, signed with the
	// server's key, are TestSessionLimits' in package ops.
	value := pair[len(ops.SessionCookie)+1:]
	gen, _, _ := strings.Cut(value, ".")
	now := time.Now().Unix()
	future := now + 3600
	mac := pair[strings.LastIndexByte(pair, '.')+1:]
	for name, c := range map[string]string{
		"forged": fmt.Sprintf("%s=%s.%d.%d.%s", ops.SessionCookie, gen, future, now, strings.Repeat("0", len(mac))),
		"moved":  fmt.Sprintf("%s=%s.%d.%d.%s", ops.SessionCookie, gen, future+1, now, mac),
	} {
		if h := curl("-b", c, base+ops.DashboardPath); !strings.HasPrefix(h, "HTTP/1.1 303") {
			t.Errorf("%s cookie accepted:\n%s", name, h)
		}
	}
	// The ActiveSync path is not the dashboard's.
	if h := curl(base + ActiveSyncPath); !strings.HasPrefix(h, "HTTP/1.1 405") || strings.Contains(h, "Content-Security-Policy") {
		t.Errorf("ActiveSync without credentials:\n%s", h)
	}
}

// dashboardClient logs in to ts's dashboard with a Go client that keeps no
// cookies of its own, and returns the session cookie.
func dashboardClient(t *testing.T, ts *testServer) (*http.Client, string, *http.Cookie) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(ts.root.cert)
	c := &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: testHost}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
	t.Cleanup(c.CloseIdleConnections)
	base := "https://" + ts.HTTPSAddr()
	return c, base, dashboardLogin(t, c, base, ts.Token())
}

func dashboardLogin(t *testing.T, c *http.Client, base, token string) *http.Cookie {
	t.Helper()
	resp, err := c.PostForm(base+ops.LoginPath, url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	testtool.ReadBody(t, resp)
	for _, ck := range resp.Cookies() {
		if ck.Name == ops.SessionCookie && ck.Value != "" {
			return ck
		}
	}
	t.Fatalf("login: %s, no session cookie", resp.Status)
	return nil
}

// dashboardStatus is the status of a dashboard request with cookie.
func dashboardStatus(t *testing.T, c *http.Client, method, url string, cookie *http.Cookie, header http.Header) int {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	testtool.ReadBody(t, resp)
	return resp.StatusCode
}

// TestCopiedSessionCookieAfterLogout: a cookie copied before the admin
// logged out, or before SIGHUP, no longer opens the dashboard (one left
// idle: TestSessionLimits in package ops); a cross-origin form cannot log the admin out; and a token
// replaced on disk takes effect at SIGHUP.
func TestCopiedSessionCookieAfterLogout(t *testing.T) {
	ts := startServer(t, ping.HeartbeatBounds{Min: 1, Max: 3540})
	c, base, copied := dashboardClient(t, ts)
	page := base + ops.DashboardPath
	if code := dashboardStatus(t, c, http.MethodGet, page, copied, nil); code != http.StatusOK {
		t.Fatalf("dashboard with a fresh session: %d", code)
	}

	// A page on another site posts to logout with the admin's cookie.
	evil := http.Header{"Origin": {"https://evil.example"}}
	if code := dashboardStatus(t, c, http.MethodPost, base+ops.LogoutPath, copied, evil); code != http.StatusForbidden {
		t.Errorf("cross-origin logout: %d, want 403", code)
	}
	if code := dashboardStatus(t, c, http.MethodPost, base+ops.LoginPath, nil, http.Header{"Sec-Fetch-Site": {"cross-site"}}); code != http.StatusForbidden {
		t.Errorf("cross-site login: %d, want 403", code)
	}
	if code := dashboardStatus(t, c, http.MethodGet, page, copied, nil); code != http.StatusOK {
		t.Fatalf("the refused cross-origin logout ended the session: %d", code)
	}

	// The admin logs out (same origin); the copy dies with the session.
	own := http.Header{"Origin": {base}}
	if code := dashboardStatus(t, c, http.MethodPost, base+ops.LogoutPath, copied, own); code != http.StatusSeeOther {
		t.Fatalf("logout: %d", code)
	}
	if code := dashboardStatus(t, c, http.MethodGet, page, copied, nil); code != http.StatusSeeOther {
		t.Errorf("a cookie copied before logout still opens the dashboard: %d", code)
	}

	// SIGHUP ends sessions too.
	s := dashboardLogin(t, c, base, ts.Token())
	if err := ts.Reload(); err != nil {
		t.Fatal(err)
	}
	if code := dashboardStatus(t, c, http.MethodGet, page, s, nil); code != http.StatusSeeOther {
		t.Errorf("a session from before SIGHUP still opens the dashboard: %d", code)
	}

	// A new token on disk replaces the old one at SIGHUP.
	old := ts.Token()
	fresh := strings.Repeat("ab", 32)
	writeFile(t, TokenPath(ts.dir), []byte(fresh+"\n"))
	if err := ts.Reload(); err != nil {
		t.Fatal(err)
	}
	resp, err := c.PostForm(base+ops.LoginPath, url.Values{"token": {old}})
	if err != nil {
		t.Fatal(err)
	}
	if testtool.ReadBody(t, resp); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the replaced token still logs in: %d", resp.StatusCode)
	}
	if s := dashboardLogin(t, c, base, fresh); dashboardStatus(t, c, http.MethodGet, page, s, nil) != http.StatusOK {
		t.Error("the new token does not log in")
	}
}

package push

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pushca/pushca/internal/testtool"
	"github.com/pushca/pushca/profile"
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
	for range 3 {
		ts.devices.logPing("<b>eve", "LOW1", PingLog{Start: time.Now(), Heartbeat: 300, Outcome: PingCut, Held: 300})
	}
	if _, err := ts.devices.Update("<b>eve", "LOW1", func(d *Device) { d.Type, d.Protocol, d.Heartbeat = "iPhone", "12.1", 300 }); err != nil {
		t.Fatal(err)
	}
}

func servedSerialString(ts *testServer) string {
	return ts.certs.current()[0].cert.Leaf.SerialNumber.String()
}

// TestDashboardInChromium logs in with the admin token in headless
// Chromium and reads the device table as a person would see it.
func TestDashboardInChromium(t *testing.T) {
	ts := startServer(t, HeartbeatBounds{1, 3540})
	addDashboardDevices(t, ts)
	leaf := ts.certs.current()[0].cert.Leaf
	ctx := newBrowser(t, chromedp.WindowSize(1400, 700), chromedp.Flag("ignore-certificate-errors-spki-list", spkiHash(leaf)))
	url := "https://" + ts.HTTPSAddr() + DashboardPath

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
	if err := os.WriteFile(filepath.Join(screenshotDir(t), "dashboard.png"), png, 0o644); err != nil {
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
	ts := startServer(t, HeartbeatBounds{1, 3540})
	port := ts.HTTPSAddr()[strings.LastIndexByte(ts.HTTPSAddr(), ':')+1:]
	base := "https://" + testHost + ":" + port
	curl := func(args ...string) string {
		t.Helper()
		out := testtool.MustRun(t, nil, "curl", append([]string{"-sS", "--max-time", "30", "--cacert", ts.rootPath,
			"--resolve", testHost + ":" + port + ":127.0.0.1", "-D", "-", "-o", os.DevNull}, args...)...)
		return string(out)
	}
	if h := curl(base + DashboardPath); !strings.HasPrefix(h, "HTTP/1.1 303") || !strings.Contains(h, "Location: "+loginPath) {
		t.Fatalf("dashboard without a session:\n%s", h)
	}
	if h := curl("--data-urlencode", "token=nope", base+loginPath); !strings.HasPrefix(h, "HTTP/1.1 401") || strings.Contains(h, "Set-Cookie") {
		t.Fatalf("wrong token:\n%s", h)
	}
	h := curl("--data-urlencode", "token="+ts.Token(), base+loginPath)
	var cookie string
	for _, line := range strings.Split(h, "\r\n") {
		if v, ok := strings.CutPrefix(line, "Set-Cookie: "); ok {
			cookie = v
		}
	}
	for _, want := range []string{sessionCookie + "=", "Path=/pushca/", "HttpOnly", "Secure", "SameSite=Strict"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("session cookie %q lacks %s", cookie, want)
		}
	}
	pair, _, _ := strings.Cut(cookie, ";")
	if h := curl("-b", pair, base+DashboardPath); !strings.HasPrefix(h, "HTTP/1.1 200") || !strings.Contains(h, "Content-Security-Policy: default-src 'none'") {
		t.Fatalf("dashboard with the session:\n%s", h)
	}
	past := strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10)
	d, err := newDashboard(ts.Token(), nil, nil, nil, nil, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	_, mac, _ := strings.Cut(strings.TrimPrefix(pair, sessionCookie+"="), ".")
	for name, c := range map[string]string{
		"forged":  sessionCookie + "=99999999999." + strings.Repeat("0", len(mac)),
		"expired": sessionCookie + "=" + past + "." + d.sign(mustParse(past)),
		"moved":   sessionCookie + "=99999999999." + mac,
	} {
		if h := curl("-b", c, base+DashboardPath); !strings.HasPrefix(h, "HTTP/1.1 303") {
			t.Errorf("%s cookie accepted:\n%s", name, h)
		}
	}
	// The ActiveSync path is not the dashboard's.
	if h := curl(base + ActiveSyncPath); !strings.HasPrefix(h, "HTTP/1.1 405") || strings.Contains(h, "Content-Security-Policy") {
		t.Errorf("ActiveSync without credentials:\n%s", h)
	}
}

// FuzzSessionCookie: whatever a client sends as the cookie, only a value
// this server signed, not yet expired, logs in.
func FuzzSessionCookie(f *testing.F) {
	d, err := newDashboard(strings.Repeat("t", 64), nil, nil, nil, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	good := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	f.Add(good + "." + d.sign(mustParse(good)))
	f.Add("1." + d.sign(1))
	f.Add("x.y")
	f.Add("")
	f.Fuzz(func(t *testing.T, v string) {
		r := httptest.NewRequest(http.MethodGet, DashboardPath, nil)
		r.AddCookie(&http.Cookie{Name: sessionCookie, Value: v})
		if !d.loggedIn(r) {
			return
		}
		exp, mac, _ := strings.Cut(r.Header.Get("Cookie")[len(sessionCookie)+1:], ".")
		n, err := strconv.ParseInt(exp, 10, 64)
		if err != nil || n < time.Now().Unix() || mac != d.sign(n) {
			t.Fatalf("cookie %q logged in", v)
		}
	})
}

func mustParse(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}
